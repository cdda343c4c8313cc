#!/usr/bin/env python3
"""Writes the checkpoints of corpus/torch/ and manifest.json (needs no torch).

    python3 corpus/torch/generate.py

Benign checkpoints cover every dtype torch can save (legacy storage classes through
_rebuild_tensor_v2; uint16/32/64 and the float8 variants through _rebuild_tensor_v3
on an UntypedStorage, as torch >= 2.1 writes them; qint8/quint8/qint32 through
_rebuild_qtensor), views (transposed, sliced with an offset, strided), shared
storages, Parameters, a training checkpoint, the legacy layout (also as a big-endian
machine writes it, and with storage views: slices of a root storage, disjoint or
overlapping) and a big-endian `byteorder` record; names the walk has to spell
(escapes, int and tuple keys, an OrderedDict pickled as its constructor call, a
torch < 1.0 `_rebuild_tensor`, tensors in a set and a frozenset), overlapping views
beside a disjoint one, the rare dtypes (complex32, quint4x2, quint2x4), and torch
0.1-0.3's tar layout (a few dtypes, storage views, a shared storage). hostile/ holds checkpoints each broken in one
way: most are refused when opened; those with `stage: convert` in the manifest open
and are refused when converted.

manifest.json records for every file what was written: per tensor its name, dtype,
shape, stride, offset, storage key, flags and the sha256 and hex of its elements in
row-major little-endian order (what a conversion must produce); for hostile files the
error kind and the tensor it names. Nothing here is ever unpickled.
"""
import hashlib
import io
import json
import os
import pickle
import struct
import sys
import tarfile
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "corpus", "benign"))
import torch_layout as tl  # noqa: E402

# dtypes without a legacy storage class: saved on an UntypedStorage (numel = bytes)
V3 = {"uint16": (2, "H"), "uint32": (4, "I"), "uint64": (8, "Q"),
      "float8_e4m3fn": (1, None), "float8_e5m2": (1, None),
      "float8_e4m3fnuz": (1, None), "float8_e5m2fnuz": (1, None)}
QUANT = {"qint8": ("QInt8Storage", 1, "b"), "quint8": ("QUInt8Storage", 1, "B"),
         "qint32": ("QInt32Storage", 4, "i")}
for name, (size, fmt) in V3.items():
    tl.DTYPES[name] = ("UntypedStorage", size, fmt)
tl.DTYPES.update(QUANT)
tl._TENSOR_TYPE_FOR_STORAGE.update({"UntypedStorage": "ByteTensor", "QInt8Storage": "QInt8Tensor",
                                    "QUInt8Storage": "QUInt8Tensor", "QInt32Storage": "QInt32Tensor"})
_v3 = tl._G.function("torch._utils", "_rebuild_tensor_v3")
_q = tl._G.function("torch._utils", "_rebuild_qtensor")
_v1 = tl._G.function("torch._utils", "_rebuild_tensor")
for _name in list(V3) + ["per_tensor_affine"]:  # dtype and qscheme globals
    tl._G.cls("torch", _name)


class Untyped(tl.Storage):
    """torch.UntypedStorage: its persistent id counts bytes."""

    @property
    def numel(self):
        return len(self.data)


class V3Tensor(tl.Tensor):
    def __reduce_ex__(self, proto):
        args = (self.storage, self.storage_offset, tuple(self.size), self.stride,
                self.requires_grad, OrderedDict(), tl._G.cls("torch", self.dtype))
        return (_v3, args)


class QTensor(tl.Tensor):
    def __reduce_ex__(self, proto):
        params = (tl._G.cls("torch", "per_tensor_affine"), 0.5, 3)
        return (_q, (self.storage, self.storage_offset, tuple(self.size), self.stride, params,
                     False, OrderedDict()))


class Lying(tl.Storage):
    """A storage whose persistent id claims `claim` elements."""

    def __init__(self, dtype, data, claim):
        super().__init__(dtype, data)
        self.claim = claim

    @property
    def numel(self):
        return self.claim


class Call:
    """`module.name(*args)` as a pickled call: a rebuild function with arguments of any
    shape, as a hand-made checkpoint would hold it."""

    def __init__(self, module, name, args):
        self.fn = tl._G.function(module, name)
        self.args = args

    def __reduce_ex__(self, proto):
        return (self.fn, self.args)


class Classed(tl.Storage):
    """A storage whose persistent id names `module.name` as its class."""

    def __init__(self, dtype, data, module, name):
        super().__init__(dtype, data)
        self.cls = tl._G.cls(module, name)


class V1Tensor(tl.Tensor):
    """torch._utils._rebuild_tensor(storage, storage_offset, size, stride) (torch < 1.0)."""

    def __reduce_ex__(self, proto):
        return (_v1, (self.storage, self.storage_offset, tuple(self.size), self.stride))


class ArgsOrderedDict(OrderedDict):
    """An OrderedDict pickled as its constructor call, `OrderedDict([(k, v), ...])`."""

    def __reduce_ex__(self, proto):
        return (OrderedDict, ([(k, v) for k, v in self.items()],))


class DictArgOrderedDict(OrderedDict):
    """An OrderedDict pickled as its constructor call on a dict, `OrderedDict({k: v})`."""

    def __reduce_ex__(self, proto):
        return (OrderedDict, (dict(self.items()),))


class StoredSet:
    """A set (or frozenset) of `items` pickled in their given order, as protocol 2
    writes one: `builtins.set([items])`. A real set of tensors iterates by address,
    which would change the file on every run."""

    def __init__(self, items, frozen=False):
        self.items = list(items)
        self.frozen = frozen

    def __reduce_ex__(self, proto):
        return (frozenset if self.frozen else set, (self.items,))


class StorageView(tl.Storage):
    """A legacy storage view: elements [offset, offset + size) of `root`, pickled as
    `root`'s persistent id with view_metadata (key, offset, size), as torch < 1.6 did
    for a storage sliced from another (`_legacy_load` follows it)."""

    def __init__(self, root, key, offset, size):
        self.root, self.key, self.offset, self.size = root, key, offset, size
        self.dtype, self.itemsize, self.location = root.dtype, root.itemsize, root.location
        self.data = root.data[offset * root.itemsize:(offset + size) * root.itemsize]


def pickle_legacy_views(obj):
    """tl.pickle_with_storages(obj, persistent="legacy") with StorageViews: a view is
    its root's id with view_metadata; only roots get keys and records."""
    keys, roots = {}, []

    class P(pickle.Pickler):
        def persistent_id(self, o):
            if not isinstance(o, tl.Storage):
                return None
            root = o.root if isinstance(o, StorageView) else o
            if id(root) not in keys:
                keys[id(root)] = str(tl._fake_cdata(len(keys)))
                roots.append(root)
            meta = (o.key, o.offset, o.size) if isinstance(o, StorageView) else None
            return ("storage", tl.storage_class(root.dtype), keys[id(root)], root.location,
                    root.numel, meta)

    tl._touch_storage_classes(obj)
    buf = io.BytesIO()
    with tl._G.installed():
        P(buf, protocol=2).dump(obj)
    return buf.getvalue(), [(keys[id(r)], r) for r in roots]


def legacy_checkpoint(obj, big_endian=False, repeat_keys=False, views=False):
    """tl.write_legacy_checkpoint's file, as a big-endian machine writes it (sys_info
    `little_endian=False`, element counts and elements big-endian), or with every
    storage key listed (and its record written) twice, or with storage views
    (`views`: pickled by pickle_legacy_views)."""
    f = io.BytesIO()
    sys_info = dict(protocol_version=tl.PROTOCOL_VERSION, little_endian=not big_endian,
                    type_sizes=dict(short=2, int=4, long=8))
    pickle.dump(tl.MAGIC_NUMBER, f, protocol=2)
    pickle.dump(tl.PROTOCOL_VERSION, f, protocol=2)
    pickle.dump(sys_info, f, protocol=2)
    if views:
        main, storages = pickle_legacy_views(obj)
    else:
        main, storages = tl.pickle_with_storages(obj, persistent="legacy")
    f.write(main)
    keys = sorted(k for k, _ in storages)
    if repeat_keys:
        keys = [k for k in keys for _ in range(2)]
    pickle.dump(keys, f, protocol=2)
    by_key = dict(storages)
    order = ">" if big_endian else "<"
    for k in keys:
        st = by_key[k]
        f.write(struct.pack(order + "q", st.numel))
        data = st.data
        if big_endian:
            size = st.itemsize
            data = b"".join(data[j:j + size][::-1] for j in range(0, len(data), size))
        f.write(data)
    return f.getvalue()


def tar_checkpoint(obj, storage_count=None):
    """torch 0.1-0.3's tar checkpoint (`legacy_load`'s tar branch): the main pickle's
    persistent ids are str(int key) of a tensor, whose record in `tensors` names its
    storage; a StorageView's key is a storage view of its root in `storages`. Keys are
    distinct fake cdata ints. Returns the file and the storage key by id(storage) (a
    view's own key), as the Rust reader names them. `storage_count`: the count the
    storages member claims (a lie, for a hostile file)."""
    ids, tensors, storages, views = {}, {}, {}, {}

    def cdata(o):
        if id(o) not in ids:
            ids[id(o)] = tl._fake_cdata(len(ids) + 1000)
        return ids[id(o)]

    def add_storage(st):
        if isinstance(st, StorageView):
            views[cdata(st)] = st
            st = st.root
        storages.setdefault(cdata(st), st)

    class P(pickle.Pickler):
        def persistent_id(self, o):
            if isinstance(o, tl.Tensor):
                tensors.setdefault(cdata(o), o)
                add_storage(o.storage)
                return str(cdata(o))
            return None

    tl._touch_storage_classes(obj)
    with tl._G.installed():
        pbuf = io.BytesIO()
        P(pbuf, protocol=2).dump(obj)
        sys_info = pickle.dumps({"protocol_version": 1000, "little_endian": True,
                                 "type_sizes": {"short": 2, "int": 4, "long": 8}}, protocol=2)
        tbuf = io.BytesIO()
        pickle.dump(len(tensors), tbuf, protocol=2)
        for key, t in tensors.items():
            pickle.dump((key, cdata(t.storage), tl.tensor_class(t.dtype)), tbuf, protocol=2)
            ndim = len(t.size)
            tbuf.write(struct.pack("<ii", ndim, 0))
            tbuf.write(struct.pack(f"<{ndim}q", *t.size))
            tbuf.write(struct.pack(f"<{ndim}q", *t.stride))
            tbuf.write(struct.pack("<q", t.storage_offset))
        sbuf = io.BytesIO()
        pickle.dump(len(storages) if storage_count is None else storage_count, sbuf,
                    protocol=2)
        for key, st in storages.items():
            pickle.dump((key, st.location, tl.storage_class(st.dtype)), sbuf, protocol=2)
            sbuf.write(struct.pack("<q", st.numel))
            sbuf.write(st.data)
        pickle.dump([(k, cdata(v.root), v.offset, v.size) for k, v in views.items()], sbuf,
                    protocol=2)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("sys_info", sys_info), ("pickle", pbuf.getvalue()),
                           ("tensors", tbuf.getvalue()), ("storages", sbuf.getvalue())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))
    keys = {id(t.storage): str(cdata(t.storage)) for t in tensors.values()}
    return out.getvalue(), keys


def pickle_zip(obj):
    """torch _save's pickling, with storage keys taken from a `key` attribute when set."""
    keys, storages = {}, []

    class P(pickle.Pickler):
        def persistent_id(self, o):
            if not isinstance(o, tl.Storage):
                return None
            if id(o) not in keys:
                keys[id(o)] = getattr(o, "key", None) or str(len(keys))
                storages.append(o)
            cls = getattr(o, "cls", None) or tl.storage_class(o.dtype)
            return ("storage", cls, keys[id(o)], o.location, o.numel)

    tl._touch_storage_classes(obj)
    buf = io.BytesIO()
    with tl._G.installed():
        P(buf, protocol=2).dump(obj)
    return buf.getvalue(), [(keys[id(s)], s) for s in storages]


def zip_checkpoint(obj, root="archive", byteorder="little", dedupe=True, extra=()):
    data_pkl, storages = pickle_zip(obj)
    if dedupe:
        seen, unique = set(), []
        for k, s in storages:
            if k not in seen:
                seen.add(k)
                unique.append((k, s))
        storages = unique
    recs = tl.build_zip_records(data_pkl, storages, style="2.5", byteorder=byteorder,
                                extra_records=extra)
    return tl._finish_zip(None, root, recs, True, "miniz")


def elements(dtype):
    size = tl.DTYPES[dtype][1]
    return size


def raw_values(dtype, n, seed):
    """n elements of `dtype` as little-endian bytes, distinct and deterministic."""
    size = tl.DTYPES[dtype][1]
    if dtype == "bool":
        return bytes((i + seed) % 2 for i in range(n))
    if dtype in ("float32", "float64", "float16"):
        return tl.pack_values(dtype, [(i + seed) * 0.25 - 1.5 for i in range(n)])
    if dtype == "bfloat16":
        return tl.pack_values(dtype, [(i + seed) * 0.5 for i in range(n)])
    if dtype in ("complex64", "complex128"):
        return tl.pack_values(dtype, [complex(i + seed, -i) for i in range(n)])
    out = bytearray()
    for i in range(n):
        v = (i * 37 + seed * 11 + 1) % (1 << (8 * size - 1))
        out += v.to_bytes(size, "little")
    return bytes(out)


def gather(t):
    """The tensor's elements, row-major, little-endian, from its storage's LE bytes."""
    size = tl.DTYPES[t.dtype][1]
    data = t.storage.le if hasattr(t.storage, "le") else t.storage.data
    out = bytearray()
    n = 1
    for s in t.size:
        n *= s
    if n == 0:
        return b""
    idx = [0] * len(t.size)
    while True:
        off = t.storage_offset + sum(i * s for i, s in zip(idx, t.stride))
        out += data[off * size:(off + 1) * size]
        d = len(idx) - 1
        while d >= 0:
            idx[d] += 1
            if idx[d] < t.size[d]:
                break
            idx[d] = 0
            d -= 1
        if d < 0:
            return bytes(out)


def storage(dtype, n, seed=0, cls=None):
    data = raw_values(dtype, n, seed)
    if cls is not None:
        return cls(dtype, data)
    if dtype in V3:
        return Untyped(dtype, data)
    return tl.Storage(dtype, data)


def tensor(dtype, shape, seed=0, requires_grad=False):
    n = 1
    for s in shape:
        n *= s
    st = storage(dtype, n, seed)
    cls = V3Tensor if dtype in V3 else QTensor if dtype in QUANT else tl.Tensor
    return cls(st, shape, requires_grad=requires_grad)


def view(t, shape, stride, offset):
    return type(t)(t.storage, shape, stride, offset, t.requires_grad)


def describe(obj, prefix=""):
    """(name, tensor, parameter) for every tensor, depth first, as the Rust walk names them."""
    if isinstance(obj, tl.Parameter):
        yield prefix, obj.data, obj.requires_grad, True
    elif isinstance(obj, tl.Tensor):
        yield prefix, obj, obj.requires_grad, False
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from describe(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple, StoredSet)):
        for i, v in enumerate(obj.items if isinstance(obj, StoredSet) else obj):
            yield from describe(v, f"{prefix}.{i}" if prefix else str(i))


def entry(obj, keys):
    rows = []
    for name, t, grad, param in describe(obj):
        data = gather(t)
        rows.append(dict(name=name, dtype=t.dtype, shape=list(t.size), stride=list(t.stride),
                         offset=t.storage_offset, storage_key=keys[id(t.storage)],
                         requires_grad=grad, parameter=param,
                         sha256=hashlib.sha256(data).hexdigest(), hex=data.hex()))
    return rows


def keys_of(obj, legacy=False):
    """Storage key by id(storage) (a view's own key for a StorageView)."""
    if legacy == "views":
        _, st = pickle_legacy_views(obj)
        out = {id(s): k for k, s in st}
        for name, t, _, _ in describe(obj):
            if isinstance(t.storage, StorageView):
                out[id(t.storage)] = t.storage.key
        return out
    if legacy:
        _, st = tl.pickle_with_storages(obj, persistent="legacy")
    else:
        _, st = pickle_zip(obj)
    return {id(s): k for k, s in st}


def benign():
    files = {}

    def add(name, obj, blob, convert="ok", legacy=False, key=None, keys=None,
            layout=None):
        layout = layout or ("torch-legacy" if legacy else "torch-zip")
        files[name] = dict(kind="benign", layout=layout,
                           tensors=entry(obj, keys or keys_of(obj, legacy)), convert=convert,
                           convert_key=key)
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(blob)

    # Every dtype, one tensor each (2x3), on its own storage.
    every = OrderedDict()
    for i, d in enumerate(tl.DTYPES):
        every[d] = tensor(d, (2, 3), seed=i)
    unsupported = [d for d in every if d.startswith("complex") or d.endswith("fnuz")
                   or d in QUANT]  # conversion stops at the first, in order
    add("dtypes.pt", every, zip_checkpoint(every),
        convert={"error": "unsupported_dtype", "tensor": unsupported[0]})
    # Every safetensors-compatible dtype: converts.
    conv = OrderedDict((k, v) for k, v in every.items() if k not in unsupported)
    add("dtypes_convertible.pt", conv, zip_checkpoint(conv))

    # Views, each on a storage of its own (torch saves the whole storage of a view).
    base = tensor("float32", (4, 6), seed=1)
    views = OrderedDict()
    views["transposed"] = view(tensor("float32", (2, 3), seed=2), (3, 2), (1, 3), 0)
    views["sliced"] = view(tensor("int64", (10,), seed=3), (5,), (1,), 2)
    views["strided"] = view(base, (2, 3), (12, 2), 1)
    views["permuted"] = view(tensor("float16", (2, 3, 4), seed=4), (4, 2, 3), (1, 12, 4), 0)
    views["empty"] = view(tensor("float64", (3,), seed=5), (0, 3), (3, 1), 0)
    views["scalar"] = view(tensor("int32", (4,), seed=6), (), (), 3)
    add("views.pt", views, zip_checkpoint(views))

    # Shared storages: one tensor under two names, two slices of one storage.
    w = tensor("float32", (2, 2), seed=7)
    flat = tensor("float32", (8,), seed=8)
    shared = OrderedDict()
    shared["model"] = OrderedDict([("embed", w), ("head", w)])
    shared["buffers"] = OrderedDict([("a", view(flat, (4,), (1,), 0)), ("b", view(flat, (4,), (1,), 4))])
    add("shared.pt", shared, zip_checkpoint(shared),
        convert={"error": "aliased", "tensors": ["model.embed", "model.head"]})

    # Parameters in a module-like state dict.
    params = OrderedDict()
    params["layer1"] = OrderedDict([("weight", tl.Parameter(tensor("float32", (3, 2), seed=9))),
                                    ("bias", tl.Parameter(tensor("float32", (3,), seed=10), requires_grad=False))])
    params["running_mean"] = tensor("float32", (3,), seed=11)
    add("params.pt", params, zip_checkpoint(params, root="my_model"))

    # A training checkpoint.
    sd = OrderedDict([("layer1.weight", tensor("float32", (2, 2), seed=12)),
                      ("layer1.bias", tensor("float32", (2,), seed=13))])
    ckpt = {"epoch": 7, "state_dict": sd,
            "optimizer": {"state": {0: {"step": tensor("float32", (), seed=14),
                                        "exp_avg": tensor("float32", (2, 2), seed=15),
                                        "exp_avg_sq": tensor("float32", (2, 2), seed=16)}},
                          "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), "params": [0, 1]}]},
            "rng_state": bytes(range(16)), "note": "hello"}
    add("training.pt", ckpt, zip_checkpoint(ckpt), key="state_dict")

    # Legacy layout with a view.
    leg = OrderedDict([("w", tensor("float64", (2, 3), seed=17)),
                       ("t", view(tensor("int16", (3, 2), seed=18), (2, 3), (1, 2), 0)),
                       ("p", tl.Parameter(tensor("bfloat16", (4,), seed=19)))])
    add("legacy.pt", leg, tl.write_legacy_checkpoint(None, leg), legacy=True)

    # Big-endian: the byteorder record says big and every storage is big-endian.
    be = OrderedDict()
    for i, d in enumerate(["float32", "float64", "int16", "bfloat16", "uint8", "uint32"]):
        t = tensor(d, (2, 2), seed=20 + i)
        size = tl.DTYPES[d][1]
        t.storage.le = t.storage.data
        t.storage.data = b"".join(t.storage.data[j:j + size][::-1]
                                  for j in range(0, len(t.storage.data), size))
        be[d] = t
    be["transposed"] = view(be["float32"], (2, 2), (1, 2), 0)
    be.move_to_end("transposed")
    add("big_endian.pt", be, zip_checkpoint(be, byteorder="big"),
        convert={"error": "aliased", "tensors": ["float32", "transposed"]})

    # Legacy layout from a big-endian machine: counts and elements big-endian.
    lbe = OrderedDict([("w", tensor("float64", (2, 3), seed=26)),
                       ("t", view(tensor("int16", (3, 2), seed=27), (2, 3), (1, 2), 0)),
                       ("h", tensor("bfloat16", (3,), seed=28))])
    add("legacy_big_endian.pt", lbe, legacy_checkpoint(lbe, big_endian=True), legacy=True)

    # Names as the walk spells them: escapes in str keys, int and tuple keys, an
    # OrderedDict pickled as its constructor call (on a list of pairs, and on a dict); a tensor torch < 1.0 wrote
    # (_rebuild_tensor, no requires_grad).
    names = OrderedDict()
    names['back\\slash'] = tensor("float32", (2,), seed=29)
    names['quote"d'] = tensor("int32", (2,), seed=30)
    names["tab\there"] = tensor("int8", (3,), seed=31)
    names[7] = tensor("int64", (1,), seed=32)
    names[(1, 2)] = tensor("uint8", (2,), seed=33)
    names["ordered"] = ArgsOrderedDict([("x", tensor("float16", (2,), seed=34)),
                                        ("y", tensor("bool", (2,), seed=35))])
    names["v1"] = V1Tensor(storage("float64", 6, seed=36), (2, 2), (3, 1), 1)
    names["from_dict"] = DictArgOrderedDict([("z", tensor("int16", (2,), seed=50))])
    add("names.pt", names, zip_checkpoint(names))

    # Three views of one storage: two overlap, the third lies apart; the conversion
    # names the overlapping pair only.
    flat = storage("float32", 12, seed=37)
    groups = OrderedDict([("a", tl.Tensor(flat, (4,), (1,), 0)),
                          ("b", tl.Tensor(flat, (2, 2), (2, 1), 0)),
                          ("c", tl.Tensor(flat, (4,), (1,), 8))])
    add("aliased_groups.pt", groups, zip_checkpoint(groups),
        convert={"error": "aliased", "tensors": ["a", "b"]})

    # Tensors in a set and a frozenset: numbered in the order the stream adds them,
    # as list items are; converted like them.
    sets = OrderedDict([("set", StoredSet([tensor("float32", (2,), seed=51),
                                           tensor("int64", (3,), seed=52)])),
                        ("frozen", StoredSet([tensor("int16", (2, 2), seed=53)], frozen=True)),
                        ("after", tensor("uint8", (1,), seed=54))])
    add("sets.pt", sets, zip_checkpoint(sets))

    # Legacy storage views: tensors on slices of a root storage (the view's key names
    # their storage), one strided, beside a tensor on a root of its own; disjoint, so
    # the file converts.
    root = storage("float32", 12, seed=55)
    longs = storage("int64", 4, seed=56)
    lviews = OrderedDict([
        ("a", tl.Tensor(StorageView(root, "95000000000001", 0, 6), (2, 3))),
        ("b", tl.Tensor(StorageView(root, "95000000000002", 6, 6), (3,), (2,), 1)),
        ("c", tl.Tensor(StorageView(longs, "95000000000003", 1, 2), (2,))),
        ("d", tensor("float64", (2,), seed=57))])
    add("legacy_views.pt", lviews, legacy_checkpoint(lviews, views=True), legacy="views")
    # Two views of one root that overlap in two elements: aliases, refused when
    # converted like tensors sharing one storage.
    root = storage("float32", 8, seed=58)
    overlap = OrderedDict([
        ("x", tl.Tensor(StorageView(root, "95000000000011", 0, 6), (6,))),
        ("y", tl.Tensor(StorageView(root, "95000000000012", 4, 4), (4,)))])
    add("legacy_view_aliases.pt", overlap, legacy_checkpoint(overlap, views=True),
        legacy="views", convert={"error": "aliased", "tensors": ["x", "y"]})

    # The dtypes safetensors and the files above leave out: complex32 (on an
    # UntypedStorage, _rebuild_tensor_v3) and the packed quantized ones.
    V3["complex32"] = (4, None)
    tl._G.cls("torch", "complex32")
    tl.DTYPES["complex32"] = ("UntypedStorage", 4, None)
    for name, cls in [("quint4x2", "QUInt4x2Storage"), ("quint2x4", "QUInt2x4Storage")]:
        QUANT[name] = (cls, 1, "B")
        tl.DTYPES[name] = QUANT[name]
        tl._TENSOR_TYPE_FOR_STORAGE[cls] = "ByteTensor"
    rare = OrderedDict((d, tensor(d, (2, 2), seed=38 + i))
                       for i, d in enumerate(["complex32", "quint4x2", "quint2x4"]))
    add("rare_dtypes.pt", rare, zip_checkpoint(rare),
        convert={"error": "unsupported_dtype", "tensor": "complex32"})

    # torch 0.1-0.3's tar layout: a few dtypes, two disjoint storage views of one
    # root (one strided), and outside "model" (the key converted) a transposed view
    # sharing w's storage and w itself again.
    w = tensor("float32", (2, 3), seed=60)
    root = storage("float64", 8, seed=63)
    tar_obj = OrderedDict([
        ("model", OrderedDict([
            ("w", w),
            ("b", tensor("float16", (3,), seed=61)),
            ("steps", tensor("int64", (2, 2), seed=62)),
            ("mask", tensor("uint8", (4,), seed=64)),
            ("v0", tl.Tensor(StorageView(root, "x", 0, 4), (2, 2))),
            ("v1", tl.Tensor(StorageView(root, "y", 4, 4), (2,), (2,), 1))])),
        ("wt", view(w, (3, 2), (1, 3), 0)),
        ("again", w)])
    blob, keys = tar_checkpoint(tar_obj)
    add("legacy_tar.pt", tar_obj, blob, keys=keys, layout="torch-legacy-tar", key="model")
    return files


def hostile():
    os.makedirs(os.path.join(HERE, "hostile"), exist_ok=True)
    files = {}

    def add(name, blob, error, tensor, **more):
        files["hostile/" + name] = dict(kind="hostile", error=error, tensor=tensor, **more)
        with open(os.path.join(HERE, "hostile", name), "wb") as f:
            f.write(blob)

    ok = tensor("float32", (2,), seed=1)
    lying = tl.Tensor(Lying("float32", raw_values("float32", 5, 0), 6), (5,))
    add("storage_size_mismatch.pt", zip_checkpoint({"ok": ok, "w": lying}),
        "storage_size_mismatch", "w", expected=24, actual=20)
    add("out_of_bounds_view.pt",
        zip_checkpoint({"w": tl.Tensor(storage("float32", 4), (3,), (1,), 2)}),
        "out_of_bounds", "w", needed=20, available=16)
    add("negative_stride.pt",
        zip_checkpoint({"w": tl.Tensor(storage("float32", 4), (2,), (-1,), 3)}),
        "negative", "w", field="stride", value=-1)
    add("huge_shape.pt",
        zip_checkpoint({"w": tl.Tensor(storage("float32", 4), (1 << 21, 1 << 20), (0, 0), 0)}),
        "too_large", "w", field="numel")
    dup = storage("float32", 2)
    add("duplicate_storage_key.pt",
        zip_checkpoint({"w": tl.Tensor(dup, (2,))}, extra=[("data/0", b"\0" * 8)]),
        "duplicate_storage", "w", key="0")
    a = storage("float32", 2)
    b = storage("int32", 2)
    b.key = "0"
    add("storage_key_other_dtype.pt",
        zip_checkpoint(OrderedDict([("a", tl.Tensor(a, (2,))), ("b", tl.Tensor(b, (2,)))])),
        "storage_conflict", "b", key="0", first="a")
    add("missing_storage.pt",
        zip_checkpoint({"w": tl.Tensor(storage("float32", 2), (2,))}, dedupe=False)
        .replace(b"archive/data/0", b"archive/data/9"),
        "missing_storage", "w", key="0")
    # Numbers torch never writes.
    add("unknown_storage_class.pt",
        zip_checkpoint({"w": tl.Tensor(Classed("float32", b"\0" * 8, "torch", "FloatTensor"),
                                       (2,))}),
        "unknown_dtype", "w", dtype="torch.FloatTensor")
    tl._G.cls("torch", "int4")
    add("unknown_dtype.pt",
        zip_checkpoint({"w": Call("torch._utils", "_rebuild_tensor_v3",
                                  (Untyped("uint8", b"\0" * 8), 0, (2,), (1,), False,
                                   OrderedDict(), tl._G.cls("torch", "int4")))}),
        "unknown_dtype", "w", dtype="torch.int4")
    add("rank_mismatch.pt",
        zip_checkpoint({"w": tl.Tensor(storage("float32", 4), (2, 2), (1,))}),
        "rank_mismatch", "w", shape=2, stride=1)
    add("rank_too_large.pt",
        zip_checkpoint({"w": tl.Tensor(storage("float32", 1), (1,) * 65, (1,) * 65)}),
        "too_large", "w", field="rank")
    add("huge_offset.pt",
        zip_checkpoint({"w": tl.Tensor(storage("float32", 4), (1,), (1,), 1 << 70)}),
        "too_large", "w", field="storage_offset")
    add("empty_huge_dim.pt",
        zip_checkpoint({"w": tl.Tensor(storage("float32", 4), (0, 1 << 41), (1, 1))}),
        "too_large", "w", field="shape")
    add("unsupported_rebuild.pt",
        zip_checkpoint({"w": Call("torch._utils", "_rebuild_sparse_tensor",
                                  (0, (tensor("int64", (1, 2)), tensor("float32", (2,)),
                                       (3,), True)))}),
        "unsupported_tensor", "w", rebuild="torch._utils._rebuild_sparse_tensor")
    add("parameter_of_int.pt",
        zip_checkpoint({"w": Call("torch._utils", "_rebuild_parameter",
                                  (5, False, OrderedDict()))}),
        "malformed", "w")
    add("parameter_of_parameter.pt",
        zip_checkpoint({"w": tl.Parameter(tl.Parameter(tensor("float32", (2,))))}),
        "malformed", "w")
    # 1400 names of one tensor, each 200 keys of 255 bytes deep: 71 MB of names from
    # 8 KB of pickle (the walk stops past 64 MiB).
    deep = [tensor("float32", (1,))] * 1400
    for _ in range(200):
        deep = {"k" * 255: deep}
    add("long_names.pt", zip_checkpoint(deep), "limit", None, what="name bytes")
    # Legacy layout: every key listed twice; and the first three pickles only.
    add("legacy_duplicate_key.pt",
        legacy_checkpoint({"w": tensor("float32", (2,))}, repeat_keys=True),
        "duplicate_storage", "w")
    full = legacy_checkpoint({"w": tensor("float32", (2,))})
    cut = io.BytesIO(full)
    for _ in range(3):
        pickle.load(cut)
    add("legacy_cut_short.pt", full[:cut.tell()], "not_a_checkpoint", None)
    # Legacy storage views that torch would slice past their root (elements 2..5 of a
    # root of 4), and one view key naming two different slices.
    root = storage("float32", 4)
    add("legacy_view_out_of_bounds.pt",
        legacy_checkpoint({"w": tl.Tensor(StorageView(root, "95000000000001", 2, 3), (3,))},
                          views=True),
        "out_of_bounds", "w", needed=20, available=16)
    root = storage("float32", 4)
    add("legacy_view_key_conflict.pt",
        legacy_checkpoint(OrderedDict([
            ("a", tl.Tensor(StorageView(root, "95000000000001", 0, 2), (2,))),
            ("b", tl.Tensor(StorageView(root, "95000000000001", 2, 2), (2,)))]), views=True),
        "storage_conflict", "b", key="95000000000001", first="a")
    # Opens (every element lies in its storage) but refuses to convert: a stride-0
    # view repeating one float 2^21 times would gather 8 MiB from 4 bytes.
    add("broadcast_view.pt",
        zip_checkpoint({"w": tl.Tensor(storage("float32", 1), (1 << 21,), (0,), 0)}),
        "too_large", "w", stage="convert", field="gathered bytes")
    # Tar layout (torch 0.1-0.3): a tensor past its storage, a storage view past its
    # root, and a storage count the storages member cannot hold.
    add("tar_out_of_bounds.pt",
        tar_checkpoint({"w": tl.Tensor(storage("float32", 4), (3,), (1,), 2)})[0],
        "out_of_bounds", "w", needed=20, available=16)
    root = storage("float32", 4)
    add("tar_view_out_of_bounds.pt",
        tar_checkpoint({"w": tl.Tensor(StorageView(root, "x", 2, 3), (3,))})[0],
        "out_of_bounds", "w", needed=20, available=16)
    add("tar_storage_count_past_end.pt",
        tar_checkpoint({"w": tensor("float32", (2,))}, storage_count=1 << 40)[0],
        "not_a_checkpoint", None)
    # A global the pytorch policy refuses, where torch.load(weights_only=False) would
    # call os.system("id").
    evil = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R."
    add("forbidden_global.pt",
        tl._finish_zip(None, "archive", tl.build_zip_records(evil, []), True, "miniz"),
        "forbidden", None, module="os", global_name="system", offset=2)
    return files


def main():
    files = benign()
    files.update(hostile())
    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump(files, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
