#!/usr/bin/env python3
"""Regenerate pickleproof's test corpus.

    python3 corpus/generate.py            # regenerate everything, then self-check
    python3 corpus/generate.py --no-check # regenerate only

Standard library only; deterministic (the script re-executes itself with
PYTHONHASHSEED=0 so that sets of str iterate, and therefore pickle, in the same
order on every run). It owns these paths and deletes them before writing:

    corpus/seed/      valid pickles from CPython's own pickle.dumps, protocols 0-5,
                      each with its expected `pickle-canon/1` JSON (manifest.json)
    corpus/bombs/     hand-built hostile streams aimed at one limit each (manifest.json)
    corpus/hostile/   hand-built streams that import/call forbidden globals (manifest.json)
    corpus/compat/    harmless Python 2 names fix_imports maps (manifest.json, same form)
    corpus/examples/config.pkl, config.json   the README's first example

Hand-written files (e.g. corpus/regressions/) are never touched.

The expected JSON of a seed is computed from the *Python object* (`expected_doc`),
never by decoding the pickle. For objects that are not built-in values we follow
exactly what the pickler does (copyreg.dispatch_table, __reduce_ex__, save_reduce),
because the decoder sees the reduce tuple, not the object.

The self-check (`self_check`) then verifies each seed three ways: pickle.loads of our
own seed pickles gives an object with the same expected JSON; pickletools.dis accepts
the stream; and a small opcode-level model built on pickletools.genops (verification
only, it never produces expectations) derives the same JSON from the bytes. The same
model confirms the hostile manifest (first forbidden global under the strict policy)
and the shape of the memo and nesting bombs. Bombs and hostile files are never loaded.
"""

import collections
import copyreg
import datetime
import io
import json
import os
import pickle
import pickletools
import shutil
import struct
import sys
import types
from pathlib import Path

from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING

CORPUS = Path(__file__).resolve().parent
SEED = CORPUS / "seed"
BOMBS = CORPUS / "bombs"
HOSTILE = CORPUS / "hostile"
COMPAT = CORPUS / "compat"
EXAMPLES = CORPUS / "examples"

PROTOCOLS = range(0, 6)
SCHEMA = "pickle-canon/1"

# The strict policy's allowlist (also the reconstructors that become values).
STRICT_ALLOWED = {
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "bytearray"),
    ("builtins", "bytes"),
    ("_codecs", "encode"),
    ("codecs", "encode"),
}

# Kinds that have identity in the JSON (json-output.md, "Identity and sharing").
IDENTITY_KINDS = {"list", "dict", "set", "bytearray", "obj"}


# ---------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------

def ensure_fixed_hash_seed():
    """Re-exec with PYTHONHASHSEED=0: str hashes decide set iteration order, and
    set iteration order decides the pickle bytes and the expected JSON."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        env = dict(os.environ, PYTHONHASHSEED="0")
        os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]], env)


# ---------------------------------------------------------------------------
# The inert-seed classes. They must be importable as `seedmod.<name>` so that
# pickle.dumps (which checks that a class can be found by name) accepts them.
# ---------------------------------------------------------------------------

class Point:
    """A plain class: pickled through object.__reduce_ex__ with a __dict__ state."""
    __module__ = "seedmod"

    def __init__(self, x, y):
        self.x = x
        self.y = y


class Slotted:
    """A __slots__ class: state is (None, {slot: value}) at protocol >= 2; CPython
    refuses protocols 0 and 1 for it (no __getstate__ defined)."""
    __module__ = "seedmod"
    __slots__ = ("a", "b")

    def __init__(self, a, b):
        self.a = a
        self.b = b


def register_seedmod():
    mod = types.ModuleType("seedmod")
    mod.Point = Point
    mod.Slotted = Slotted
    sys.modules["seedmod"] = mod


# ---------------------------------------------------------------------------
# The intermediate graph shared by both producers of JSON (object -> graph, and the
# verification model bytes -> graph). Identity is the identity of the Node object.
# ---------------------------------------------------------------------------

class Node:
    """t: the JSON tag. v: scalar payload (bool, int, float, str, bytes).
    items: children of tuple/list/set/frozenset, or [k, v] pairs of dict.
    Globals: module, name. Objects: op, callable, args, kwargs, state,
    listitems, dictitems, additems."""

    def __init__(self, t, **kw):
        self.t = t
        self.v = None
        self.items = None
        self.__dict__.update(kw)
        if t == "obj":
            for f in ("state", "listitems", "dictitems", "additems"):
                self.__dict__.setdefault(f, [])
            self.__dict__.setdefault("kwargs", None)


def obj_children(n):
    """Children of an obj node in the order its JSON fields are written; this is the
    order that decides which occurrence of a shared node is 'first'."""
    yield n.callable
    yield n.args
    if n.kwargs is not None:
        yield n.kwargs
    yield from n.state
    yield from n.listitems
    for k, v in n.dictitems:
        yield k
        yield v
    yield from n.additems


def children(n):
    if n.t in ("tuple", "list", "set", "frozenset"):
        return n.items
    if n.t == "dict":
        return [x for kv in n.items for x in kv]
    if n.t == "obj":
        return list(obj_children(n))
    return ()


def graph_to_doc(root):
    """Serialize a graph as pickle-canon/1. Pass 1 counts how often each identity node
    is reached (immutable nodes are walked every time, since they print by value);
    pass 2 prints, giving `id` to identity nodes reached more than once, numbered in
    order of first appearance (depth-first pre-order, dict key before value)."""
    seen = {}

    def count(n):
        if n.t in IDENTITY_KINDS:
            seen[n] = seen.get(n, 0) + 1
            if seen[n] > 1:
                return
        for c in children(n):
            count(c)

    count(root)
    ids = {}

    def emit(n):
        out = {"t": n.t}
        if n.t in IDENTITY_KINDS:
            if n in ids:
                return {"t": "ref", "id": ids[n]}
            if seen[n] > 1:
                ids[n] = len(ids)
                out["id"] = ids[n]
        t = n.t
        if t == "none":
            pass
        elif t == "bool":
            out["v"] = bool(n.v)
        elif t == "int":
            out["v"] = str(n.v)
        elif t == "float":
            out["v"] = repr(n.v)
        elif t == "str":
            if any(0xD800 <= ord(c) <= 0xDFFF for c in n.v):
                out["wtf8"] = n.v.encode("utf-8", "surrogatepass").hex()
            else:
                out["v"] = n.v
        elif t in ("bytes", "bytearray"):
            out["hex"] = bytes(n.v).hex()
        elif t in ("tuple", "list", "set", "frozenset"):
            out["items"] = [emit(c) for c in n.items]
        elif t == "dict":
            out["items"] = [[emit(k), emit(v)] for k, v in n.items]
        elif t == "global":
            out["module"] = n.module
            out["name"] = n.name
        elif t == "obj":
            out["op"] = n.op
            out["callable"] = emit(n.callable)
            out["args"] = emit(n.args)
            if n.kwargs is not None:
                out["kwargs"] = emit(n.kwargs)
            if n.state:
                out["state"] = [emit(s) for s in n.state]
            if n.listitems:
                out["listitems"] = [emit(x) for x in n.listitems]
            if n.dictitems:
                out["dictitems"] = [[emit(k), emit(v)] for k, v in n.dictitems]
            if n.additems:
                out["additems"] = [emit(x) for x in n.additems]
        elif t == "buffer":
            out["index"] = n.index
            out["readonly"] = n.readonly
        else:
            raise ValueError(f"unknown node kind {t}")
        return out

    return {"schema": SCHEMA, "value": emit(root)}


# ---------------------------------------------------------------------------
# Expected JSON from a Python object (the source of truth for seed/*.json)
# ---------------------------------------------------------------------------

def global_node(obj, name=None):
    """What Pickler.save_global writes, with Python 3 names (the decoder maps the
    Python 2 names written at protocol < 3 back, so the JSON shows these)."""
    if name is None:
        name = getattr(obj, "__qualname__", None) or obj.__name__
    return Node("global", module=pickle.whichmodule(obj, name), name=name)


def expected_graph(value, proto):
    """Build the graph the decoder must produce for pickle.dumps(value, proto).

    Built-in values map to value nodes (whatever call form a protocol uses for sets,
    bytes or bytearray, the decoder turns the allowed reconstructors into values).
    Anything else goes through the same steps as Pickler.save: copyreg.dispatch_table,
    classes/functions as globals, then __reduce_ex__(proto) and save_reduce's rules."""
    memo = {}
    keep = []  # keep temporaries (reduce tuples, iterators' items) alive: ids stay unique

    def scalar(obj, t):
        """Leaf values (exact types, as Pickler's dispatch table), else None."""
        if obj is None:
            return Node("none")
        if t in (bool, int, float, str, bytes):
            return Node(t.__name__, v=obj)
        if t is bytearray:
            return Node("bytearray", v=bytes(obj))
        if t is pickle.PickleBuffer or t is memoryview:
            # In band: written as bytes (readonly) or BYTEARRAY8 (writable). Out of
            # band: NEXT_BUFFER [+ READONLY_BUFFER]; with the buffers supplied, the
            # decoder shows the same two kinds.
            mv = memoryview(obj)
            return Node("bytes" if mv.readonly else "bytearray", v=mv.tobytes())
        return None

    def conv(obj):
        key = id(obj)
        if key in memo:
            return memo[key]
        keep.append(obj)
        t = type(obj)
        n = scalar(obj, t)
        if n is not None:
            memo[key] = n
            return n
        # Containers: register before converting children so cycles terminate.
        if t in (tuple, list, set, frozenset):
            n = memo[key] = Node(t.__name__, items=[])
            n.items.extend(conv(x) for x in obj)
            return n
        if t is dict:
            n = memo[key] = Node("dict", items=[])
            n.items.extend([conv(k), conv(v)] for k, v in obj.items())
            return n
        if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)):
            n = memo[key] = global_node(obj)
            return n
        return conv_reduce(obj, key)

    def conv_reduce(obj, key):
        reducer = copyreg.dispatch_table.get(type(obj))
        rv = reducer(obj) if reducer is not None else obj.__reduce_ex__(proto)
        if isinstance(rv, str):
            n = memo[key] = global_node(obj, rv)
            return n
        keep.append(rv)
        rv = tuple(rv) + (None,) * (6 - len(rv))
        func, args, state, listitems, dictitems, state_setter = rv
        if state_setter is not None:
            raise NotImplementedError("state_setter is not modelled")
        n = memo[key] = Node("obj")
        fname = getattr(func, "__name__", "")
        if proto >= 2 and fname == "__newobj_ex__":
            if proto < 4:
                raise NotImplementedError("__newobj_ex__ below protocol 4 pickles a functools.partial")
            cls, a, kw = args
            n.op, n.callable, n.args, n.kwargs = "newobj_ex", conv(cls), conv(tuple(a)), conv(dict(kw))
        elif proto >= 2 and fname == "__newobj__":
            n.op, n.callable, n.args = "newobj", conv(args[0]), conv(tuple(args[1:]))
        else:
            n.op, n.callable, n.args = "reduce", conv(func), conv(args)
        # save_reduce writes list items, then dict items, then BUILD(state).
        if listitems is not None:
            items = list(listitems)
            keep.append(items)
            n.listitems = [conv(x) for x in items]
        if dictitems is not None:
            items = list(dictitems)
            keep.append(items)
            n.dictitems = [[conv(k), conv(v)] for k, v in items]
        if state is not None:
            n.state = [conv(state)]
        return n

    return conv(value)


def expected_doc(value, proto):
    return graph_to_doc(expected_graph(value, proto))


# ---------------------------------------------------------------------------
# Writing helpers
# ---------------------------------------------------------------------------

def write_bytes(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_json(path, doc, pretty=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    if pretty:
        text = json.dumps(doc, indent=2, ensure_ascii=False)
    else:
        text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")


def clean():
    """Delete everything this script generates, so removed cases leave no stale files."""
    for d in (SEED, BOMBS):
        if d.exists():
            shutil.rmtree(d)
    # corpus/hostile/ is shared with generate_techniques.py (t_*, techniques.json,
    # TECHNIQUES.md): delete only what this script writes there.
    if HOSTILE.exists():
        for p in HOSTILE.iterdir():
            if p.name.startswith("t_") or p.name in (
                "techniques.json", "TECHNIQUES.md", "generate_techniques.py"
            ):
                continue
            if p.is_file():
                p.unlink()
    for f in ("config.pkl", "config.json"):
        p = EXAMPLES / f
        if p.exists():
            p.unlink()


# ---------------------------------------------------------------------------
# 1. Seeds
# ---------------------------------------------------------------------------

def seed_values():
    """(name, value) pairs for the strict policy, every protocol."""
    v = []
    add = lambda name, value: v.append((name, value))

    add("none", None)
    add("true", True)
    add("false", False)

    # ints: every opcode boundary (BININT1/2, BININT, LONG1, LONG4; I/L text at p0).
    ints = {
        "0": 0, "1": 1, "m1": -1, "255": 255, "256": 256, "65535": 65535, "65536": 65536,
        "2p31m1": 2**31 - 1, "m2p31": -2**31, "2p31": 2**31, "2p63m1": 2**63 - 1,
        "m2p63": -2**63, "2p63": 2**63, "2p64": 2**64, "m2p64": -(2**64),
        "10p100": 10**100, "m10p300": -(10**300),
        # 255-byte two's complement is the largest LONG1; one more bit needs LONG4.
        "long1_max": 2**(255 * 8 - 1) - 1, "long4_min": 2**(255 * 8 - 1),
        # 4000 decimal digits: under max_int_digits (4300) as text LONG at p0/p1.
        "4000digits": int("7" + "1234567890" * 399 + "123456789"),
    }
    assert len(str(ints["4000digits"])) == 4000
    for k, x in ints.items():
        add(f"int_{k}", x)

    floats = {
        "0": 0.0, "m0": -0.0, "1_5": 1.5, "0_1": 0.1, "1e300": 1e300, "1em300": 1e-300,
        "5em324": 5e-324, "1e16": 1e16, "1e22": 1e22, "123456789_125": 123456789.125,
        "inf": float("inf"), "minf": float("-inf"), "nan": float("nan"),
    }
    for k, x in floats.items():
        add(f"float_{k}", x)

    add("str_empty", "")
    add("str_ascii", "hello, world")
    add("str_latin1", "caf\xe9 \xa0\xff\xd7")
    add("str_cjk", "\u4e2d\u6587\u6f22\u5b57\u304b\u306a")
    add("str_emoji", "\U0001f600\U0001f44d\U0001f3fd")
    add("str_lone_surrogate", "\ud800")
    # Two surrogate code points, NOT the pair U+1F600: CPython keeps them as two.
    add("str_surrogate_codepoints", "\ud83d\ude00")
    # Characters protocol 0 escapes (\\, \n, \r, \0, \x1a) plus both quote kinds.
    add("str_escapes", "a\nb\\c'd\"e\rf\x00g\x1ah\tz \\u0041")
    add("str_300", ("0123456789abcdefghij" * 15))
    add("str_70000", ("The quick brown fox \u00e9\u4e2d " * 4000)[:70000])
    assert len(v[-2][1]) == 300 and len(v[-1][1]) == 70000

    add("bytes_empty", b"")
    add("bytes_small", b"\x00\x01abc\n\\\xff")
    add("bytes_300", bytes(range(256)) + bytes(range(44)))
    add("bytes_70000", bytes((i * 7 + 3) % 256 for i in range(70000)))
    add("bytearray_empty", bytearray())
    add("bytearray_small", bytearray(b"\x00ab\xfe"))
    add("bytearray_300", bytearray(bytes(range(255, -1, -1)) + bytes(range(44))))

    add("tuple_0", ())
    add("tuple_1", (1,))
    add("tuple_2", (1, "two"))
    add("tuple_3", (1, "two", 3.0))
    add("tuple_4", (1, "two", 3.0, None))

    add("list_empty", [])
    add("list_mixed", [1, -2.5, "s", b"b", None, True, (1, 2), [3], {"k": "v"}])
    add("list_2000", list(range(2000)))  # APPENDS batches of 1000 at p>=1

    add("dict_empty", {})
    add("dict_str_keys", {"alpha": 1, "beta": 2.0, "gamma": "three"})
    add("dict_int_keys", {1: "one", -7: "minus seven", 2**70: "big"})
    add("dict_mixed_keys", {"s": 1, 2: 2, 3.5: 3, (1, "t"): 4, None: 5, b"b": 6,
                            frozenset({1, 2}): 7, ((), (1,)): 8})
    add("dict_2000", {i: str(i) for i in range(2000)})  # SETITEMS batches

    add("set_empty", set())
    add("set_small", {1, "two", (3, 4), 5.5, None})
    add("set_2000", set(range(2000)))
    add("frozenset_empty", frozenset())
    add("frozenset_small", frozenset({1, "two", (3, 4)}))
    add("frozenset_2000", frozenset(range(2000)))

    add("nested", {"a": [1, (2, 3.0, {"b": None})], "c": {frozenset({1, 2}), "x"},
                   "d": [[[], {}], ((),)], "e": {"f": {"g": [b"deep"]}}})

    # Sharing: mutable nodes get an id, immutable ones repeat by value.
    lst = [1]
    add("shared_list", [lst, lst])
    d = {"k": "v"}
    add("shared_dict", {"x": d, "y": [d], "z": (d,)})
    l2 = [1, 2]
    add("tuple_shared_list", (l2, l2))
    t = ([1],)
    add("shared_tuple_holding_list", [t, t])  # tuple repeats, the list inside is shared
    s = "shared string"
    add("shared_str", [s, s, s])              # memoized by the pickler, repeated in JSON
    ba = bytearray(b"xyz")
    add("shared_bytearray", [ba, ba])
    fs = frozenset({1})
    st = {fs}
    add("shared_set", [st, st, fs, fs])

    # Records whose keys are shared objects, as json.loads builds them: the pickler
    # writes each key once and fetches it from the memo after that, so later records
    # repeat the first one's key sequence (the decoder's remembered-keys path), with
    # a second shape, a shape that is a prefix of the first, and a reordered one.
    names = ["id", "name", "email", "ab", "ba", "a_long_key_name_x"]
    recs = [dict(zip(names, (i, f"n{i}", None, [i], {"lat": i / 2, "lng": -i}, True)))
            for i in range(3)]
    recs.append({"id": 9, "name": "prefix only"})
    recs.append({"name": "reordered", "id": 10})
    recs.append(dict(zip(names, range(6))))
    add("records_shared_keys", json.loads(json.dumps(recs)))

    # Cycles.
    c1 = []
    c1.append(c1)
    add("cycle_list", c1)
    c2 = {}
    c2["self"] = c2
    add("cycle_dict", c2)
    c3 = []
    c3.append({"inner": c3})
    add("cycle_list_dict_list", c3)
    c4 = []
    c4t = (c4,)
    c4.append(c4t)
    add("cycle_through_tuple", c4t)  # exercises save_tuple's POP/POP_MARK + GET path

    # Memo-bomb shape: 2**30 leaves when expanded, 31 distinct lists.
    x = []
    for _ in range(30):
        x = [x, x]
    add("memo_bomb_30", x)
    return v


def inert_values():
    """(name, value, protocols) for the inert policy: these need non-allowed globals."""
    p = Point(1, [2, 3])
    return [
        ("ordered_dict", collections.OrderedDict([("a", 1), ("b", 2)]), PROTOCOLS),
        ("seedmod_point", Point("x", [1.5, None]), PROTOCOLS),
        ("seedmod_point_shared", [p, p], PROTOCOLS),
        # CPython: "a class that defines __slots__ without defining __getstate__
        # cannot be pickled with protocol 0/1", so only 2..5.
        ("seedmod_slotted", Slotted(1, "two"), range(2, 6)),
        ("deque", collections.deque([1, 2]), PROTOCOLS),
        ("date", datetime.date(2020, 1, 2), PROTOCOLS),
        ("complex", complex(1, 2), PROTOCOLS),
    ]


# Values also written as pickletools.optimize(...) output (unused PUTs removed,
# re-framed at p4+): different memo numbering than the pickler's own.
OPTIMIZED = ["nested", "shared_dict", "cycle_list_dict_list", "dict_str_keys", "list_mixed"]


def write_seeds():
    manifest = []
    cases = []  # (stem, value, proto, policy, data, buffers) for the self-check

    def emit(stem, value, proto, policy, data, buffers=()):
        write_bytes(SEED / f"{stem}.pkl", data)
        write_json(SEED / f"{stem}.json", expected_doc(value, proto))
        buf_names = []
        for i, b in enumerate(buffers):
            bn = f"{stem}.buf{i}"
            write_bytes(SEED / bn, memoryview(b).tobytes())
            buf_names.append(bn)
        manifest.append({"file": f"{stem}.pkl", "expected": f"{stem}.json", "protocol": proto,
                         "policy": policy, "buffers": buf_names})
        cases.append((stem, value, proto, policy, data, list(buffers)))

    values = seed_values()
    by_name = dict(values)
    for name, value in values:
        for proto in PROTOCOLS:
            emit(f"{name}.p{proto}", value, proto, "strict", pickle.dumps(value, protocol=proto))
    for name in OPTIMIZED:
        value = by_name[name]
        for proto in PROTOCOLS:
            data = pickletools.optimize(pickle.dumps(value, protocol=proto))
            emit(f"{name}.opt.p{proto}", value, proto, "strict", data)

    # Protocol 5 PickleBuffer, in band (no callback: BINBYTES / BYTEARRAY8) ...
    emit("picklebuffer_inband_readonly.p5", pickle.PickleBuffer(b"ro-bytes"), 5, "strict",
         pickle.dumps(pickle.PickleBuffer(b"ro-bytes"), protocol=5))
    wb = bytearray(b"rw-bytearray")
    emit("picklebuffer_inband_writable.p5", pickle.PickleBuffer(wb), 5, "strict",
         pickle.dumps(pickle.PickleBuffer(wb), protocol=5))
    # ... and out of band (NEXT_BUFFER [READONLY_BUFFER]); each buffer is its own file.
    for name, value in [
        ("oob_bytes", pickle.PickleBuffer(b"out-of-band readonly \x00\xff")),
        ("oob_bytearray", pickle.PickleBuffer(bytearray(b"out-of-band writable \x00\xff"))),
        ("oob_list_two", [pickle.PickleBuffer(b"first"), pickle.PickleBuffer(bytearray(b"second")), "tail"]),
    ]:
        bufs = []
        data = pickle.dumps(value, protocol=5, buffer_callback=bufs.append)
        emit(f"{name}.p5", value, 5, "strict", data, bufs)

    for name, value, protos in inert_values():
        for proto in protos:
            emit(f"{name}.p{proto}", value, proto, "inert", pickle.dumps(value, protocol=proto))

    write_json(SEED / "manifest.json", manifest, pretty=True)
    return cases


# ---------------------------------------------------------------------------
# 2. Bombs (bytes built by hand; never given to pickle.loads)
# ---------------------------------------------------------------------------

# Opcode bytes used below (names as in pickletools).
PROTO2, PROTO4 = b"\x80\x02", b"\x80\x04"
MARK, STOP, POP, DUP = b"(", b".", b"0", b"2"
NONE, EMPTY_LIST, EMPTY_DICT, EMPTY_TUPLE = b"N", b"]", b"}", b")"
APPEND, APPENDS, SETITEM, TUPLE, TUPLE1 = b"a", b"e", b"s", b"t", b"\x85"
BINPUT, BINGET, LONG_BINPUT, LONG_BINGET = b"q", b"h", b"r", b"j"
BINSTRING, BINBYTES, BINUNICODE, SHORT_BINBYTES = b"T", b"B", b"X", b"C"
SHORT_BINUNICODE, BINUNICODE8, BINBYTES8, BYTEARRAY8 = b"\x8c", b"\x8d", b"\x8e", b"\x96"
LONG1, LONG4, FRAME, STACK_GLOBAL, MEMOIZE = b"\x8a", b"\x8b", b"\x95", b"\x93", b"\x94"
REDUCE, NEWOBJ = b"R", b"\x81"

u32 = lambda n: struct.pack("<I", n)
i32 = lambda n: struct.pack("<i", n)
u64 = lambda n: struct.pack("<Q", n)
sbu = lambda s: SHORT_BINUNICODE + bytes([len(s.encode())]) + s.encode()  # SHORT_BINUNICODE
bu = lambda s: BINUNICODE + u32(len(s.encode())) + s.encode()             # BINUNICODE

GiB, MiB = 2**30, 2**20


def limit(resource):
    return {"kind": "limit", "resource": resource}


def memo_bomb_binput(n):
    """l0 = []; l_i = [l_{i-1}, l_{i-1}] via BINPUT/BINGET/APPENDS; stack stays shallow."""
    out = [PROTO2, EMPTY_LIST, BINPUT, b"\x00", POP]
    for i in range(1, n + 1):
        out += [EMPTY_LIST, MARK, BINGET, bytes([i - 1]), BINGET, bytes([i - 1]), APPENDS,
                BINPUT, bytes([i]), POP]
    out += [BINGET, bytes([n]), STOP]
    return b"".join(out)


def memo_bomb_dup(n):
    """No memo at all: `] (` n times, then the innermost `]`, then `2 e` (DUP, APPENDS)
    n times: each APPENDS puts the same list twice into the list below its MARK."""
    return PROTO2 + (EMPTY_LIST + MARK) * n + EMPTY_LIST + (DUP + APPENDS) * n + STOP


def memo_bomb_text(n):
    """Protocol 0: `(l` MARK LIST, `p<i>\\n` PUT, `g<i>\\n` GET, `a` APPEND, `0` POP."""
    out = [b"(lp0\n0"]
    for i in range(1, n + 1):
        out.append(b"(lp%d\ng%d\nag%d\na0" % (i, i - 1, i - 1))
    out.append(b"g%d\n." % n)
    return b"".join(out)


def bomb_cases():
    """(name, bytes, description, expect, extra manifest fields)."""
    c = []
    add = lambda name, data, desc, expect, **extra: c.append((name, data, desc, expect, extra))

    # --- memo bombs: exponential when expanded, linear as a shared graph -------------
    for n in (10, 30, 60):
        add(f"memo_bomb_binput_{n}", memo_bomb_binput(n),
            f"l=[]; l=[l,l] x{n} with EMPTY_LIST/BINPUT/BINGET/APPENDS (2**{n} leaves expanded)",
            {"ok": True}, memo_bomb_levels=n)
    add("memo_bomb_dup_60", memo_bomb_dup(60),
        "l=[]; l=[l,l] x60 with DUP+APPENDS only (60 open MARKs at most)",
        {"ok": True}, memo_bomb_levels=60)
    add("memo_bomb_text_60", memo_bomb_text(60),
        "protocol 0 text: l=[]; l=[l,l] x60 with PUT/GET lines and APPEND",
        {"ok": True}, memo_bomb_levels=60)

    # --- nesting bombs ----------------------------------------------------------------
    m = 1_000_000
    add("nest_list_1m", PROTO2 + EMPTY_LIST * (m + 1) + APPEND * m + STOP,
        "1,000,001 EMPTY_LIST then 1,000,000 APPEND: lists nested 1M deep, no MARKs",
        limit("depth"))
    add("nest_marks_1m", MARK * m + NONE + STOP,
        "1,000,000 open MARKs, then None and STOP (valid if marks were unbounded)",
        limit("depth"))
    k = 100_000
    add("nest_tuple_mark_memo_100k",
        PROTO2 + EMPTY_TUPLE + BINPUT + b"\x00" + POP
        + (MARK + BINGET + b"\x00" + TUPLE + BINPUT + b"\x00" + POP) * k + BINGET + b"\x00" + STOP,
        "t=(); t=(t,) x100,000 via MARK BINGET TUPLE BINPUT POP: one open MARK at a time, "
        "so tuple nesting (not the mark stack) is what grows",
        limit("depth"))
    add("nest_tuple1_100k", PROTO2 + EMPTY_TUPLE + TUPLE1 * k + STOP,
        "t=(); t=(t,) x100,000 via TUPLE1", limit("depth"))
    add("nest_dict_100k", PROTO2 + (EMPTY_DICT + NONE) * k + EMPTY_DICT + SETITEM * k + STOP,
        "d={None: {None: ...}} 100,000 deep via EMPTY_DICT/NONE pushes then SETITEM chain",
        limit("depth"))

    # --- length claims (checked before any read or allocation) -----------------------
    tail = NONE + STOP  # a few real bytes after the claim
    add("claim_binstring_7fffffff", PROTO2 + BINSTRING + i32(0x7FFFFFFF) + tail,
        "BINSTRING claiming 2**31-1 bytes (> max_input_bytes)", limit("input_bytes"))
    add("claim_binbytes_7fffffff", PROTO4 + BINBYTES + u32(0x7FFFFFFF) + tail,
        "BINBYTES claiming 2**31-1 bytes", limit("input_bytes"))
    add("claim_binbytes_ffffffff", PROTO4 + BINBYTES + u32(0xFFFFFFFF) + tail,
        "BINBYTES claiming 2**32-1 bytes", limit("input_bytes"))
    add("claim_binunicode_7fffffff", PROTO2 + BINUNICODE + u32(0x7FFFFFFF) + tail,
        "BINUNICODE claiming 2**31-1 bytes", limit("input_bytes"))
    add("claim_binunicode_ffffffff", PROTO2 + BINUNICODE + u32(0xFFFFFFFF) + tail,
        "BINUNICODE claiming 2**32-1 bytes", limit("input_bytes"))
    add("claim_binunicode8_2p62", PROTO4 + BINUNICODE8 + u64(2**62) + tail,
        "BINUNICODE8 claiming 2**62 bytes", limit("input_bytes"))
    add("claim_binbytes8_2p62", PROTO4 + BINBYTES8 + u64(2**62) + tail,
        "BINBYTES8 claiming 2**62 bytes", limit("input_bytes"))
    add("claim_bytearray8_2p62", b"\x80\x05" + BYTEARRAY8 + u64(2**62) + tail,
        "BYTEARRAY8 claiming 2**62 bytes", limit("input_bytes"))
    add("claim_binbytes8_512mib", PROTO4 + BINBYTES8 + u64(512 * MiB) + tail,
        "BINBYTES8 claiming 512 MiB: within max_input_bytes, over max_memory_bytes",
        limit("memory"))
    add("claim_binunicode8_512mib", PROTO4 + BINUNICODE8 + u64(512 * MiB) + tail,
        "BINUNICODE8 claiming 512 MiB: within max_input_bytes, over max_memory_bytes",
        limit("memory"))
    add("claim_bytearray8_512mib", b"\x80\x05" + BYTEARRAY8 + u64(512 * MiB) + tail,
        "BYTEARRAY8 claiming 512 MiB: within max_input_bytes, over max_memory_bytes",
        limit("memory"))
    add("claim_long4_7fffffff", PROTO2 + LONG4 + i32(0x7FFFFFFF) + tail,
        "LONG4 claiming 2**31-1 payload bytes (> max_int_bytes, checked first)",
        limit("int_bytes"))
    add("claim_frame_2p63", PROTO4 + FRAME + u64(2**63) + tail,
        "FRAME claiming 2**63 bytes", limit("input_bytes"))
    add("claim_frame_2p64m1", PROTO4 + FRAME + u64(2**64 - 1) + tail,
        "FRAME claiming 2**64-1 bytes", limit("input_bytes"))
    ten = b"K\x01K\x02\x86\x94N0N."  # 10 bytes of valid ops ending in STOP
    assert len(ten) == 10
    add("claim_frame_1000_short", PROTO4 + FRAME + u64(1000) + ten,
        "FRAME claiming 1000 bytes with only 10 following (within limits)", {"kind": "eof"})
    add("claim_short_binbytes_255_short", b"\x80\x03" + SHORT_BINBYTES + b"\xff" + b"xy.",
        "SHORT_BINBYTES claiming 255 bytes with 3 left", {"kind": "eof"})
    add("claim_short_binunicode_255_short", PROTO4 + SHORT_BINUNICODE + b"\xff" + b"xy.",
        "SHORT_BINUNICODE claiming 255 bytes with 3 left", {"kind": "eof"})
    add("claim_binbytes_1000_short", b"\x80\x03" + BINBYTES + u32(1000) + b"abcd.",
        "BINBYTES claiming 1000 bytes with 5 left (within limits)", {"kind": "eof"})
    add("claim_long1_255_short", PROTO2 + LONG1 + b"\xff" + b"\x01\x02.",
        "LONG1 claiming 255 bytes with 3 left", {"kind": "eof"})
    # The C unpickler reads BINSTRING's length unsigned (calc_binsize), unlike
    # pickle.py: these are 4 GiB and 2 GiB claims, past the input budget.
    add("claim_binstring_ffffffff", PROTO2 + BINSTRING + i32(-1) + tail,
        "BINSTRING with length 0xffffffff (unsigned in _pickle.c)",
        {"kind": "limit", "resource": "input_bytes"})
    add("claim_binstring_80000000", PROTO2 + BINSTRING + i32(-2**31) + tail,
        "BINSTRING with length 0x80000000 (unsigned in _pickle.c)",
        {"kind": "limit", "resource": "input_bytes"})
    add("claim_long4_negative", PROTO2 + LONG4 + i32(-1) + tail,
        "LONG4 with byte count -1 (CPython: LONG pickle has negative byte count)",
        {"kind": "malformed"})

    # --- big integers -------------------------------------------------------------------
    add("int_text_long_1m_digits", b"L" + b"1" * 1_000_000 + b"L\n.",
        "protocol 0 LONG with 1,000,000 decimal digits", limit("int_digits"))
    add("int_text_int_1m_digits", b"I" + b"1" * 1_000_000 + b"\n.",
        "protocol 0 INT with 1,000,000 decimal digits", limit("int_digits"))
    add("int_text_long_4300_digits", b"L" + b"9" * 4300 + b"L\n.",
        "LONG with exactly max_int_digits (4300) digits: accepted, as by CPython", {"ok": True})
    add("int_text_long_4301_digits", b"L" + b"9" * 4301 + b"L\n.",
        "LONG with 4301 digits: one over max_int_digits", limit("int_digits"))
    add("int_text_int_4301_digits", b"I" + b"9" * 4301 + b"\n.",
        "INT with 4301 digits: one over max_int_digits", limit("int_digits"))
    add("int_long4_8192_bytes", PROTO2 + LONG4 + i32(8192) + b"\x5a" * 8192 + STOP,
        "LONG4 with exactly max_int_bytes (8192) payload bytes", {"ok": True})
    add("int_long4_8193_bytes", PROTO2 + LONG4 + i32(8193) + b"\x5a" * 8193 + STOP,
        "LONG4 with 8193 payload bytes (present in the input): one over max_int_bytes",
        limit("int_bytes"))

    # --- memo indices -----------------------------------------------------------------
    add("memo_long_binput_ffffffff", PROTO2 + NONE + LONG_BINPUT + u32(0xFFFFFFFF) + STOP,
        "LONG_BINPUT at index 2**32-1 (CPython allocates a dense memo; we store sparsely)",
        {"ok": True})
    add("memo_long_binget_ffffffff_missing", PROTO2 + LONG_BINGET + u32(0xFFFFFFFF) + STOP,
        "LONG_BINGET of index 2**32-1 that was never PUT", {"kind": "memo_missing"})
    add("memo_binget_missing", PROTO2 + NONE + BINPUT + b"\x01" + POP + BINGET + b"\x00" + STOP,
        "BINGET 0 when only index 1 was PUT", {"kind": "memo_missing"})
    return c


def write_bombs():
    manifest = []
    cases = bomb_cases()
    for name, data, desc, expect, extra in cases:
        assert len(data) <= 3 * 1000 * 1000, name
        write_bytes(BOMBS / f"{name}.pkl", data)
        manifest.append({"file": f"{name}.pkl", "description": desc, "expect": expect, **extra})
    write_json(BOMBS / "manifest.json", manifest, pretty=True)
    return cases


# ---------------------------------------------------------------------------
# 3. Hostile streams (forbidden globals)
# ---------------------------------------------------------------------------

def hostile_cases():
    """(name, bytes, description, (module, name) of the first forbidden global under the
    strict policy, Python 2 names already mapped as CPython's fix_imports does)."""
    c = []
    add = lambda name, data, desc, mod, nm: c.append((name, data, desc, (mod, nm)))
    echo = b"S'echo pwned'\n"

    add("p0_global_reduce_os_system", b"cos\nsystem\n(" + echo + b"tR.",
        "protocol 0 GLOBAL os.system + REDUCE", "os", "system")
    add("p0_inst_os_system", b"(" + echo + b"ios\nsystem\n.",
        "protocol 0 INST os.system (calls with the MARKed args)", "os", "system")
    add("p1_obj_os_system", b"(cos\nsystem\n" + echo + b"o.",
        "protocol 1 OBJ: class os.system from GLOBAL, args after it", "os", "system")
    add("p4_stack_global_from_memo_os_system",
        PROTO4 + sbu("os") + MEMOIZE + POP + sbu("system") + MEMOIZE + POP
        + BINGET + b"\x00" + BINGET + b"\x01" + STACK_GLOBAL + sbu("echo pwned") + TUPLE1 + REDUCE + STOP,
        "STACK_GLOBAL whose module and name strings come from memo GETs", "os", "system")
    add("p4_stack_global_builtins_eval",
        PROTO4 + sbu("builtins") + sbu("eval") + STACK_GLOBAL + sbu("print('pwned')") + TUPLE1 + REDUCE + STOP,
        "protocol 4 STACK_GLOBAL builtins.eval from SHORT_BINUNICODE", "builtins", "eval")
    add("p0_py2_builtin_eval", b"c__builtin__\neval\n(S'1+1'\ntR.",
        "Python 2 name __builtin__.eval, mapped to builtins.eval (no PROTO: protocol 0)",
        "builtins", "eval")
    add("p2_py2_builtin_eval", PROTO2 + b"c__builtin__\neval\n" + bu("1+1") + TUPLE1 + REDUCE + STOP,
        "protocol 2 GLOBAL __builtin__.eval: still below 3, so mapped to builtins.eval",
        "builtins", "eval")
    add("p3_builtin_eval_unmapped", b"\x80\x03c__builtin__\neval\n" + bu("1+1") + TUPLE1 + REDUCE + STOP,
        "protocol 3 GLOBAL __builtin__.eval: fix_imports applies only below 3, name stays raw",
        "__builtin__", "eval")
    add("stack_global_py2_name_no_proto",
        sbu("__builtin__") + sbu("eval") + STACK_GLOBAL + sbu("1+1") + TUPLE1 + REDUCE + STOP,
        "STACK_GLOBAL __builtin__.eval in a stream with no PROTO header (protocol 0): "
        "mapped to builtins.eval", "builtins", "eval")
    add("p2_newobj_subprocess_popen",
        PROTO2 + b"csubprocess\nPopen\n" + EMPTY_LIST + MARK + bu("echo") + bu("pwned") + APPENDS
        + TUPLE1 + NEWOBJ + STOP,
        "NEWOBJ subprocess.Popen(['echo', 'pwned'])", "subprocess", "Popen")
    add("p0_builtins_getattr", b"cbuiltins\ngetattr\n(c__builtin__\nset\nS'__class__'\ntR.",
        "GLOBAL builtins.getattr applied to the allowed builtins.set", "builtins", "getattr")
    add("p0_dotted_module_os_path_join", b"cos.path\njoin\n(S'/etc'\nS'passwd'\ntR.",
        "GLOBAL with a dotted module os.path.join", "os.path", "join")
    add("p4_dotted_name_from_allowed_prefix",
        PROTO4 + sbu("builtins") + sbu("set.__class__.__subclasses__") + STACK_GLOBAL
        + EMPTY_TUPLE + REDUCE + STOP,
        "protocol 4 dotted name builtins 'set.__class__.__subclasses__': starts with the "
        "allowed builtins.set, must be matched as a whole", "builtins", "set.__class__.__subclasses__")
    add("p0_posix_system", b"cposix\nsystem\n(" + echo + b"tR.",
        "posix.system (os.system's home on Unix)", "posix", "system")
    add("p0_nt_system", b"cnt\nsystem\n(" + echo + b"tR.",
        "nt.system (os.system's home on Windows)", "nt", "system")
    add("p0_builtin_import", b"c__builtin__\n__import__\n(S'os'\ntR.",
        "__builtin__.__import__('os'), mapped to builtins.__import__", "builtins", "__import__")
    add("p0_copyreg_reconstructor",
        b"ccopy_reg\n_reconstructor\n(csubprocess\nPopen\nc__builtin__\nobject\nNtR.",
        "copy_reg._reconstructor(subprocess.Popen, object, None): copy_reg is mapped to "
        "copyreg and comes first in the stream", "copyreg", "_reconstructor")
    add("p0_getattr_import_chain",
        b"c__builtin__\ngetattr\n(c__builtin__\n__import__\n(S'os'\ntRS'system'\ntR(" + echo + b"tR.",
        "getattr(__import__('os'), 'system')('echo pwned') built with REDUCE; "
        "getattr is the first global in the stream", "builtins", "getattr")
    add("p2_allowed_then_forbidden",
        PROTO2 + b"c__builtin__\nset\n" + EMPTY_LIST + TUPLE1 + REDUCE
        + b"cos\nsystem\n" + bu("echo pwned") + TUPLE1 + REDUCE + STOP,
        "an allowed builtins.set call first, then os.system", "os", "system")
    add("p0_py2_name_mapping_reduce_exec",
        b"c__builtin__\nreduce\n(c__builtin__\nexec\n((dlS'import os; os.system(\"echo pwned\")'\ntR.",
        "__builtin__.reduce: NAME_MAPPING maps it to functools.reduce, which calls "
        "exec('import os; ...', {}) (reduce(f, [x], init) is f(init, x))",
        "functools", "reduce")
    return c


def compat_cases():
    """Python 2 names that `fix_imports` maps to harmless Python 3 ones: no attack, here
    to check that the mapping is applied before any allowlist (corpus/compat/). Under
    the strict policy the mapped name is the first refused global, as for hostile files."""
    c = []

    def add(name, data, desc, mod, nm):
        c.append((name, data, desc, (mod, nm)))

    add("p0_py2_name_mapping_userdict", b"(cUserDict\nUserDict\no.",
        "UserDict.UserDict: a NAME_MAPPING entry, mapped to collections.UserDict",
        "collections", "UserDict")
    add("p0_py2_name_mapping_exceptions", b"cexceptions\nStandardError\n(S'x'\ntR.",
        "exceptions.StandardError: NAME_MAPPING maps it to builtins.Exception",
        "builtins", "Exception")
    return c


def write_cases(directory, cases):
    """Writes each case's stream and a manifest naming the global strict refuses first."""
    manifest = []
    for name, data, desc, (mod, nm) in cases:
        write_bytes(directory / f"{name}.pkl", data)
        manifest.append({"file": f"{name}.pkl", "description": desc,
                         "expect": {"kind": "forbidden", "module": mod, "name": nm}})
    write_json(directory / "manifest.json", manifest, pretty=True)
    return cases


def write_hostile():
    return write_cases(HOSTILE, hostile_cases())


def write_compat():
    if COMPAT.exists():
        shutil.rmtree(COMPAT)
    return write_cases(COMPAT, compat_cases())


# ---------------------------------------------------------------------------
# 4. Example used by the README
# ---------------------------------------------------------------------------

def example_config():
    milestones = [30, 60, 90]  # shared: appears twice, so it gets an id in the JSON
    return {
        "experiment": "resnet50-baseline",
        "seed": 1234,
        "model": {"arch": "resnet50", "layers": [3, 4, 6, 3], "dropout": 0.1, "pretrained": True},
        "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4,
                      "betas": (0.9, 0.999)},
        "scheduler": {"kind": "multistep", "milestones": milestones, "gamma": 0.1},
        "checkpoint_epochs": milestones,
        "augmentations": {"crop", "flip", "jitter"},
        "data_sha256_prefix": bytes.fromhex("9f86d081884c7d65"),
        "resume_from": None,
    }


def write_examples():
    value = example_config()
    data = pickle.dumps(value, protocol=4)
    write_bytes(EXAMPLES / "config.pkl", data)
    write_json(EXAMPLES / "config.json", expected_doc(value, 4), pretty=True)
    return value, data


# ---------------------------------------------------------------------------
# Self-check. The model below reads opcodes with pickletools.genops and builds the
# same kind of graph the decoder should; it exists only to cross-check expectations.
# ---------------------------------------------------------------------------

class Forbidden(Exception):
    pass


def map_py2(proto, module, name):
    """CPython's find_class with fix_imports: NAME_MAPPING first, else IMPORT_MAPPING."""
    if proto < 3:
        if (module, name) in NAME_MAPPING:
            return NAME_MAPPING[(module, name)]
        if module in IMPORT_MAPPING:
            return IMPORT_MAPPING[module], name
    return module, name


def model_decode(data, buffers=(), strict=False):
    """Opcode-level model -> (root Node, stats). stats: max open marks, max nesting."""
    stack, marks, memo = [], [], {}
    proto = 0
    bufs = iter(buffers)
    stats = {"marks": 0, "height": 0}

    def h(n):
        return getattr(n, "h", 0)

    def nest(container, item):  # track nesting height for the bomb checks
        container.h = max(h(container), h(item) + 1)
        stats["height"] = max(stats["height"], container.h)

    def pop_mark():
        k = marks.pop()
        items = stack[k:]
        del stack[k:]
        return items

    def make(t, items):
        n = Node(t, items=items)
        for it in items:
            for x in (it if t == "dict" else [it]):
                nest(n, x)
        return n

    def glob(module, name):
        module, name = map_py2(proto, module, name)
        if strict and (module, name) not in STRICT_ALLOWED:
            raise Forbidden(module, name)
        return Node("global", module=module, name=name)

    def add_list(target, items):
        if target.t == "list":
            target.items.extend(items)
        elif target.t == "obj":
            target.listitems.extend(items)
        else:
            raise ValueError(f"append to {target.t}")
        for x in items:
            nest(target, x)

    def add_dict(target, flat):
        pairs = [[flat[i], flat[i + 1]] for i in range(0, len(flat), 2)]
        if target.t == "dict":
            target.items.extend(pairs)
        elif target.t == "obj":
            target.dictitems.extend(pairs)
        else:
            raise ValueError(f"setitem on {target.t}")
        for x in flat:
            nest(target, x)

    def reduce(func, args):
        # Value level: the allowed built-in reconstructors become values.
        if func.t == "global" and (func.module, func.name) in STRICT_ALLOWED and args.t == "tuple":
            key, a = (func.module, func.name), args.items
            if key in {("builtins", "set"), ("builtins", "frozenset")}:
                if not a:
                    return Node(key[1], items=[])
                if len(a) == 1 and a[0].t in ("list", "tuple"):
                    return make(key[1], list(a[0].items))
            if key in {("builtins", "bytearray"), ("builtins", "bytes")}:
                if not a:
                    return Node(key[1], v=b"")
                if len(a) == 1 and a[0].t in ("bytes", "bytearray"):
                    return Node(key[1], v=bytes(a[0].v))
            if key in {("_codecs", "encode"), ("codecs", "encode")}:
                if len(a) == 2 and a[0].t == "str" and a[1].t == "str" and a[1].v == "latin1":
                    return Node("bytes", v=a[0].v.encode("latin1"))
            raise ValueError(f"unmodelled reconstructor call {key}")
        if func.t not in ("global", "obj"):
            raise ValueError("REDUCE on a non-callable")
        return Node("obj", op="reduce", callable=func, args=args)

    for op, arg, _pos in pickletools.genops(data):
        name = op.name
        if name == "PROTO":
            proto = arg
        elif name == "FRAME":
            pass
        elif name == "STOP":
            break
        elif name == "MARK":
            marks.append(len(stack))
            stats["marks"] = max(stats["marks"], len(marks))
        elif name == "POP":
            if marks and marks[-1] == len(stack):
                marks.pop()
            else:
                stack.pop()
        elif name == "POP_MARK":
            pop_mark()
        elif name == "DUP":
            stack.append(stack[-1])
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = stack[-1]
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(memo[arg])
        elif name == "NONE":
            stack.append(Node("none"))
        elif name in ("NEWTRUE", "NEWFALSE"):
            stack.append(Node("bool", v=name == "NEWTRUE"))
        elif name == "INT" and isinstance(arg, bool):
            stack.append(Node("bool", v=arg))
        elif name in ("INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"):
            stack.append(Node("int", v=arg))
        elif name in ("FLOAT", "BINFLOAT"):
            stack.append(Node("float", v=arg))
        elif name in ("STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE",
                      "SHORT_BINUNICODE", "BINUNICODE8"):
            stack.append(Node("str", v=arg))
        elif name in ("BINBYTES", "SHORT_BINBYTES", "BINBYTES8"):
            stack.append(Node("bytes", v=bytes(arg)))
        elif name == "BYTEARRAY8":
            stack.append(Node("bytearray", v=bytes(arg)))
        elif name == "NEXT_BUFFER":
            stack.append(Node("bytearray", v=memoryview(next(bufs)).tobytes()))
        elif name == "READONLY_BUFFER":
            if stack[-1].t == "bytearray":
                stack[-1].t = "bytes"  # in place: the node may already be memoized
        elif name == "EMPTY_LIST":
            stack.append(Node("list", items=[]))
        elif name == "LIST":
            stack.append(make("list", pop_mark()))
        elif name == "APPEND":
            x = stack.pop()
            add_list(stack[-1], [x])
        elif name == "APPENDS":
            xs = pop_mark()
            add_list(stack[-1], xs)
        elif name == "EMPTY_TUPLE":
            stack.append(Node("tuple", items=[]))
        elif name == "TUPLE":
            stack.append(make("tuple", pop_mark()))
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            k = int(name[-1])
            items = stack[-k:]
            del stack[-k:]
            stack.append(make("tuple", items))
        elif name == "EMPTY_DICT":
            stack.append(Node("dict", items=[]))
        elif name == "DICT":
            d = Node("dict", items=[])
            add_dict(d, pop_mark())
            stack.append(d)
        elif name == "SETITEM":
            v = stack.pop()
            k = stack.pop()
            add_dict(stack[-1], [k, v])
        elif name == "SETITEMS":
            flat = pop_mark()  # before looking at the target below the MARK
            add_dict(stack[-1], flat)
        elif name == "EMPTY_SET":
            stack.append(Node("set", items=[]))
        elif name == "ADDITEMS":
            xs = pop_mark()
            target = stack[-1]
            (target.items if target.t == "set" else target.additems).extend(xs)
            for x in xs:
                nest(target, x)
        elif name == "FROZENSET":
            stack.append(make("frozenset", pop_mark()))
        elif name == "GLOBAL":
            module, nm = arg.split(" ", 1)
            stack.append(glob(module, nm))
        elif name == "STACK_GLOBAL":
            nm = stack.pop()
            module = stack.pop()
            stack.append(glob(module.v, nm.v))
        elif name == "INST":
            module, nm = arg.split(" ", 1)
            args = make("tuple", pop_mark())
            stack.append(Node("obj", op="inst", callable=glob(module, nm), args=args))
        elif name == "OBJ":
            items = pop_mark()
            stack.append(Node("obj", op="obj", callable=items[0], args=make("tuple", items[1:])))
        elif name == "REDUCE":
            args = stack.pop()
            func = stack.pop()
            stack.append(reduce(func, args))
        elif name == "NEWOBJ":
            args = stack.pop()
            cls = stack.pop()
            stack.append(Node("obj", op="newobj", callable=cls, args=args))
        elif name == "NEWOBJ_EX":
            kwargs = stack.pop()
            args = stack.pop()
            cls = stack.pop()
            stack.append(Node("obj", op="newobj_ex", callable=cls, args=args, kwargs=kwargs))
        elif name == "BUILD":
            state = stack.pop()
            if stack[-1].t != "obj":
                raise ValueError("BUILD on a built-in value")
            stack[-1].state.append(state)
        else:
            raise ValueError(f"opcode {name} not modelled")
    return stack[-1], stats


def normalize_sets(doc):
    """Set iteration order may differ after pickle.loads rebuilds a set; sort set items
    by their JSON text for the round-trip comparison only."""
    if isinstance(doc, list):
        return [normalize_sets(x) for x in doc]
    if isinstance(doc, dict):
        out = {k: normalize_sets(v) for k, v in doc.items()}
        if out.get("t") in ("set", "frozenset"):
            out["items"] = sorted(out["items"], key=lambda x: json.dumps(x, sort_keys=True))
        return out
    return doc


def self_check(seed_cases, bomb_cases_, hostile_cases_, example):
    problems = []

    def check(ok, msg):
        if not ok:
            problems.append(msg)

    for stem, value, proto, policy, data, buffers in seed_cases:
        expected = json.loads((SEED / f"{stem}.json").read_text(encoding="utf-8"))
        check(expected == expected_doc(value, proto), f"{stem}: expected JSON not reproducible")
        pickletools.dis(data, out=io.StringIO())  # raises on a malformed stream
        # Our own seed: loads is safe. Same expected JSON from the loaded object.
        loaded = pickle.loads(data, buffers=buffers) if buffers else pickle.loads(data)
        check(normalize_sets(expected_doc(loaded, proto)) == normalize_sets(expected),
              f"{stem}: loads() round-trip differs")
        # The opcode model must see the same graph in the bytes.
        root, _ = model_decode(data, buffers, strict=(policy == "strict"))
        check(graph_to_doc(root) == expected, f"{stem}: stream model differs from expectation")
        check(data.startswith(b"\x80") == (proto >= 2), f"{stem}: unexpected PROTO header")

    for name, data, desc, (mod, nm) in hostile_cases_:
        try:
            model_decode(data, strict=True)
            problems.append(f"hostile {name}: no forbidden global found")
        except Forbidden as e:
            check(e.args == (mod, nm), f"hostile {name}: first forbidden is {e.args}, manifest says {(mod, nm)}")

    # Bombs whose expectation the model can confirm without limits.
    for name, data, desc, expect, extra in bomb_cases_:
        if "memo_bomb_levels" in extra:
            x = []
            for _ in range(extra["memo_bomb_levels"]):
                x = [x, x]
            root, _ = model_decode(data)
            check(graph_to_doc(root) == expected_doc(x, 2), f"bomb {name}: not a memo bomb of that depth")
        elif name.startswith("nest_"):
            _, stats = model_decode(data)
            check(max(stats["marks"], stats["height"]) > 1000, f"bomb {name}: not deep enough")
            check(len(data) < 100 * 1000 * 1000, f"bomb {name}: could hit steps first")
        elif expect == {"ok": True}:
            # Small, well-formed streams: genops must parse them to STOP.
            for _ in pickletools.genops(data):
                pass

    value, data = example
    check(pickle.loads(data) == value, "example config does not round-trip")
    root, _ = model_decode(data, strict=True)
    check(graph_to_doc(root) == expected_doc(value, 4), "example config: model differs")
    return problems


# ---------------------------------------------------------------------------

def main():
    ensure_fixed_hash_seed()
    sys.setrecursionlimit(20000)
    register_seedmod()
    clean()
    seeds = write_seeds()
    bombs = write_bombs()
    hostile = write_hostile()
    compat = write_compat()
    example = write_examples()
    print(f"wrote {len(seeds)} seeds, {len(bombs)} bombs, {len(hostile)} hostile, {len(compat)} compat, 1 example")
    if "--no-check" not in sys.argv[1:]:
        problems = self_check(seeds, bombs, hostile + compat, example)
        for p in problems:
            print("CHECK FAILED:", p, file=sys.stderr)
        if problems:
            sys.exit(1)
        print("self-check passed")


if __name__ == "__main__":
    main()
