#!/usr/bin/env python3
"""Writes the preset allowlists under policies/ from what real library objects pickle to.

    /work/venv/bin/python scripts/gen_policies.py            # collect, review, write, summarise
    /work/venv/bin/python scripts/gen_policies.py --check    # collect and summarise, write nothing
    python scripts/gen_policies.py --collect GROUP           # (internal) one interpreter's findings as JSON

How it works
------------
1. *Collect.* For every group (stdlib, numpy, pandas, sklearn) the script builds many real
   objects, pickles each at protocols 0-5 (and with joblib.dump for numpy/sklearn objects),
   and records every global each pickle imports, twice over:
   - by walking the bytes with ``pickletools.genops`` (GLOBAL/INST carry "module name";
     STACK_GLOBAL takes the two strings below it on a simulated stack, including strings
     fetched back from the memo with GET/BINGET/LONG_BINGET);
   - by loading the script's OWN freshly made bytes with an Unpickler whose ``find_class``
     records each name (safe only because this script generated those bytes). The loader
     also records the arguments of the rule-bearing callables (getattr, defaultdict,
     copyreg._reconstructor, numpy's RNG constructors), so every rule below is checked
     against the calls real pickles make.
   The two must agree; a disagreement is printed as an error.
   The collection runs once in this interpreter (numpy 2.x) and once, through a
   subprocess, in a numpy 1.x virtualenv (``$PICKLEPROOF_NP1_PYTHON``, default
   /work/venv-np1/bin/python), whose pickles say ``numpy.core.*`` where 2.x say
   ``numpy._core.*``. A missing interpreter is skipped with a note.
2. *Review.* Every collected global goes through ``REVIEW`` below: classes are allowed
   unless they are on the deny list; every function or other callable must have an entry
   saying why it is safe, which rule confines its arguments, or why it is left out.
   An unreviewed callable is left out and printed as UNREVIEWED.
3. *Write.* One preset per library under policies/, each entry with its reason, and a
   summary (sorted, one line per entry, diff-friendly) on stdout.

PyTorch cannot be installed here: ``TORCH_WEIGHTS_ONLY`` below is PyTorch's own
weights-only allowlist, written down by hand from torch/_weights_only_unpickler.py.
"""
import argparse
import collections
import datetime as _dt
import importlib
import io
import json
import os
import pathlib
import pickle
import pickletools
import subprocess
import sys
import tempfile
import traceback

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "policies"
NP1_PYTHON = os.environ.get("PICKLEPROOF_NP1_PYTHON", "/work/venv-np1/bin/python")
PROTOCOLS = range(0, pickle.HIGHEST_PROTOCOL + 1)

# ---------------------------------------------------------------------------------------
# Part 1: collection (runs in whichever interpreter is collecting)
# ---------------------------------------------------------------------------------------

_MARK = object()
_STRING_OPS = {"UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"}


def genops_globals(data):
    """Every (module, qualname) the pickle imports, found without loading it."""
    found = []
    stack = []
    memo = {}
    for op, arg, _pos in pickletools.genops(data):
        name = op.name
        if name == "GLOBAL":
            mod, qual = arg.split(" ", 1)
            found.append((mod, qual))
            stack.append(("global", mod, qual))
            continue
        if name == "INST":
            mod, qual = arg.split(" ", 1)
            found.append((mod, qual))
        if name == "STACK_GLOBAL":
            qual = stack.pop()
            mod = stack.pop()
            if not (isinstance(mod, str) and isinstance(qual, str)):
                raise ValueError("STACK_GLOBAL without two strings")
            found.append((mod, qual))
            stack.append(("global", mod, qual))
            continue
        if name in _STRING_OPS:
            stack.append(arg)
            continue
        if name == "MARK":
            stack.append(_MARK)
            continue
        if name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
            continue
        if name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = stack[-1]
            continue
        if name in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(memo[arg])
            continue
        before = op.stack_before
        if pickletools.markobject in before:
            while stack.pop() is not _MARK:
                pass
            n = before.index(pickletools.markobject)
        else:
            n = len(before)
        for _ in range(n):
            stack.pop()
        stack.extend(object() for _ in op.stack_after)
    return found


def _name_of(obj):
    if hasattr(obj, "recorded_global"):
        return obj.recorded_global
    if isinstance(obj, str):
        return repr(obj)
    mod = getattr(obj, "__module__", None)
    qual = getattr(obj, "__qualname__", None)
    if mod and qual:
        return "%s:%s" % (mod, qual)
    return "<%s>" % type(obj).__name__


class _Recorder:
    """find_class that records names, and wraps the rule-bearing callables to record
    the arguments real pickles give them."""

    WATCH = {
        ("builtins", "getattr"),
        ("collections", "defaultdict"),
        ("copyreg", "_reconstructor"),
        ("copyreg", "__newobj__"),
        ("copyreg", "__newobj_ex__"),
        ("numpy.random._pickle", "__bit_generator_ctor"),
        ("numpy.random._pickle", "__randomstate_ctor"),
        ("numpy.random._pickle", "__generator_ctor"),
    }

    def __init__(self):
        self.names = []
        self.calls = []  # (global, description of arguments)

    def wrap(self, module, name, obj):
        self.names.append((module, name))
        module, name = py3_name(module, name)
        if (module, name) not in self.WATCH:
            return obj
        rec = self

        if (module, name) == ("collections", "defaultdict"):
            def dd(*args):
                rec.calls.append(("collections:defaultdict", tuple(_name_of(a) if a is not None else "None" for a in args)))
                return collections.defaultdict(*args)
            return dd

        def call(*args, **kwargs):
            rec.calls.append(("%s:%s" % (module, name), tuple(_name_of(a) if (a is None or isinstance(a, (type, str)) or callable(a)) else "<%s>" % type(a).__name__ for a in args)))
            return obj(*args, **kwargs)
        call.recorded_global = "%s:%s" % (module, name)
        return call


def load_recording(data, buffers=None):
    rec = _Recorder()

    class U(pickle.Unpickler):
        def find_class(self, module, name):
            return rec.wrap(module, name, super().find_class(module, name))

    U(io.BytesIO(data), buffers=buffers).load()
    return rec


def py3_name(module, qual):
    """The name as the policy judges it: after CPython's Python 2 -> 3 mapping, which
    protocols 0-2 apply in reverse when they write (``__builtin__.xrange``)."""
    import _compat_pickle as cp
    if (module, qual) in cp.NAME_MAPPING:
        return cp.NAME_MAPPING[(module, qual)]
    return cp.IMPORT_MAPPING.get(module, module), qual


def kind_of(module, qual):
    try:
        obj = importlib.import_module(module)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except Exception as e:  # noqa: BLE001 - a name that no longer resolves is reported
        return "unresolved(%s)" % type(e).__name__
    if isinstance(obj, type):
        return "class"
    if callable(obj):
        return "callable"
    return "value"


class Collector:
    def __init__(self, group):
        self.group = group
        self.globals = {}  # "mod:qual" -> {"examples": set, "protocols": set}
        self.calls = {}  # "mod:qual" -> set of arg tuples
        self.errors = []
        self.objects = 0

    def _note(self, module, qual, label, how):
        module, qual = py3_name(module, qual)
        key = "%s:%s" % (module, qual)
        g = self.globals.setdefault(key, {"examples": set(), "how": set()})
        g["examples"].add(label)
        g["how"].add(how)

    def add(self, label, obj, joblib_too=False):
        self.objects += 1
        for proto in PROTOCOLS:
            variants = []
            try:
                variants.append(("p%d" % proto, pickle.dumps(obj, protocol=proto), None))
                if proto >= 5:
                    bufs = []
                    oob = pickle.dumps(obj, protocol=proto, buffer_callback=bufs.append)
                    if bufs:
                        variants.append(("p%d-oob" % proto, oob, bufs))
            except Exception as e:  # noqa: BLE001
                self.errors.append("%s: dumps(protocol=%d): %s: %s" % (label, proto, type(e).__name__, e))
            for variant, blob, bufs in variants:
                try:
                    walked = genops_globals(blob)
                except Exception as e:  # noqa: BLE001
                    self.errors.append("%s %s: genops: %s" % (label, variant, e))
                    walked = []
                try:
                    rec = load_recording(blob, [b.raw() for b in bufs] if bufs else None)
                    loaded = rec.names
                    for g, args in rec.calls:
                        self.calls.setdefault(g, set()).add(args)
                except Exception as e:  # noqa: BLE001
                    self.errors.append("%s %s: load: %s: %s" % (label, variant, type(e).__name__, e))
                    loaded = walked
                if {py3_name(*n) for n in walked} != {py3_name(*n) for n in loaded}:
                    self.errors.append("%s %s: genops %s != loader %s" % (label, variant, sorted(set(walked)), sorted(set(loaded))))
                for m, q in set(walked) | set(loaded):
                    self._note(m, q, label, variant)
        if joblib_too:
            self._joblib(label, obj)

    def _joblib(self, label, obj):
        try:
            import joblib
            from joblib import numpy_pickle
        except ImportError:
            return
        rec = _Recorder()
        orig = numpy_pickle.NumpyUnpickler.find_class

        def find_class(this, module, name):
            return rec.wrap(module, name, orig(this, module, name))

        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "obj.joblib")
            try:
                joblib.dump(obj, path)
                numpy_pickle.NumpyUnpickler.find_class = find_class
                try:
                    joblib.load(path)
                finally:
                    numpy_pickle.NumpyUnpickler.find_class = orig
            except Exception as e:  # noqa: BLE001
                self.errors.append("%s joblib: %s: %s" % (label, type(e).__name__, e))
                return
        for m, q in set(rec.names):
            self._note(m, q, label, "joblib")
        for g, args in rec.calls:
            self.calls.setdefault(g, set()).add(args)

    def result(self):
        return {
            "group": self.group,
            "objects": self.objects,
            "globals": {k: {"kind": kind_of(*k.split(":", 1)),
                            "examples": sorted(v["examples"]),
                            "how": sorted(v["how"])}
                        for k, v in sorted(self.globals.items())},
            "calls": {k: sorted(list(a) for a in v) for k, v in sorted(self.calls.items())},
            "errors": self.errors,
        }


def _try(c, label, make, joblib_too=False):
    try:
        obj = make()
    except Exception as e:  # noqa: BLE001 - an object this version cannot build
        c.errors.append("%s: build: %s: %s" % (label, type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
        return
    c.add(label, obj, joblib_too)


# ---- stdlib --------------------------------------------------------------------------------

def collect_stdlib(c):
    import argparse as ap
    import array
    import decimal
    import enum
    import fractions
    import http
    import ipaddress
    import re
    import time
    import types
    import urllib.parse
    import uuid
    import zoneinfo

    utc = _dt.timezone.utc
    objs = {
        "datetime.date": lambda: _dt.date(2024, 2, 29),
        "datetime.time": lambda: _dt.time(12, 30, 1, 5),
        "datetime.time(tz)": lambda: _dt.time(12, 30, tzinfo=utc),
        "datetime.datetime": lambda: _dt.datetime(2024, 2, 29, 12, 0, 1, 7),
        "datetime.datetime(utc)": lambda: _dt.datetime(2024, 2, 29, tzinfo=utc),
        "datetime.datetime(+05:30)": lambda: _dt.datetime(2024, 2, 29, tzinfo=_dt.timezone(_dt.timedelta(hours=5, minutes=30), "IST")),
        "datetime.datetime(zoneinfo)": lambda: _dt.datetime(2024, 2, 29, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
        "datetime.timedelta": lambda: _dt.timedelta(days=3, seconds=5),
        "zoneinfo.ZoneInfo": lambda: zoneinfo.ZoneInfo("America/New_York"),
        "decimal.Decimal": lambda: decimal.Decimal("3.14159"),
        "decimal.Decimal(nan)": lambda: decimal.Decimal("NaN"),
        "fractions.Fraction": lambda: fractions.Fraction(22, 7),
        "uuid.UUID": lambda: uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "uuid.SafeUUID": lambda: uuid.SafeUUID.safe,
        "pathlib.PurePosixPath": lambda: pathlib.PurePosixPath("/a/b"),
        "pathlib.PureWindowsPath": lambda: pathlib.PureWindowsPath("C:/a/b"),
        "pathlib.PosixPath": lambda: pathlib.PosixPath("/a/b"),
        "collections.OrderedDict": lambda: collections.OrderedDict(a=1, b=2),
        "collections.deque": lambda: collections.deque([1, 2, 3], maxlen=5),
        "collections.Counter": lambda: collections.Counter("hello"),
        "collections.ChainMap": lambda: collections.ChainMap({"a": 1}, {"b": 2}),
        "collections.defaultdict(list)": lambda: collections.defaultdict(list, a=[1]),
        "collections.defaultdict(int)": lambda: collections.defaultdict(int, a=1),
        "collections.defaultdict(set)": lambda: collections.defaultdict(set),
        "collections.defaultdict(dict)": lambda: collections.defaultdict(dict),
        "collections.defaultdict(None)": lambda: collections.defaultdict(None, a=1),
        "argparse.Namespace": lambda: ap.Namespace(a=1, b="x"),
        "types.SimpleNamespace": lambda: types.SimpleNamespace(a=1),
        "complex": lambda: complex(1, 2),
        "range": lambda: range(1, 10, 2),
        "slice": lambda: slice(1, None, 2),
        "Ellipsis": lambda: Ellipsis,
        "NotImplemented": lambda: NotImplemented,
        "set": lambda: {1, 2, 3},
        "frozenset": lambda: frozenset({1, 2}),
        "bytearray": lambda: bytearray(b"\x00\xffabc"),
        "bytes": lambda: b"\x00\xffabc",
        "object": lambda: object(),
        "int(big)": lambda: 2 ** 100,
        "float(nan)": lambda: float("nan"),
        "ipaddress.IPv4Address": lambda: ipaddress.IPv4Address("10.0.0.1"),
        "ipaddress.IPv6Address": lambda: ipaddress.IPv6Address("::1"),
        "ipaddress.IPv4Network": lambda: ipaddress.IPv4Network("10.0.0.0/8"),
        "ipaddress.IPv6Network": lambda: ipaddress.IPv6Network("fe80::/64"),
        "ipaddress.IPv4Interface": lambda: ipaddress.IPv4Interface("10.0.0.1/8"),
        "ipaddress.IPv6Interface": lambda: ipaddress.IPv6Interface("fe80::1/64"),
        "http.HTTPStatus": lambda: http.HTTPStatus.NOT_FOUND,
        "re.RegexFlag": lambda: re.IGNORECASE | re.MULTILINE,
        "re.RegexFlag(one)": lambda: re.IGNORECASE,
        "re.Pattern": lambda: re.compile(r"[a-z]+\d*", re.I),
        "re.Pattern(bytes)": lambda: re.compile(rb"\w+"),
        "time.struct_time": lambda: time.gmtime(0),
        "array.array": lambda: array.array("d", [1.0, 2.0]),
        "array.array(u)": lambda: array.array("u", "hi"),
        "enum.Enum(HTTPMethod)": lambda: http.HTTPMethod.GET,
        "urllib.parse.ParseResult": lambda: urllib.parse.urlparse("https://example.org/a?b=1#c"),
        "urllib.parse.SplitResult": lambda: urllib.parse.urlsplit("https://example.org/a?b=1"),
        "urllib.parse.DefragResult": lambda: urllib.parse.urldefrag("https://example.org/a#c"),
        "urllib.parse.ParseResultBytes": lambda: urllib.parse.urlparse(b"https://example.org/a"),
        "enum.IntFlag(inspect?)": lambda: enum.FlagBoundary.STRICT,
    }
    for label, make in objs.items():
        _try(c, label, make)


# ---- numpy ---------------------------------------------------------------------------------

def collect_numpy(c):
    import numpy as np

    j = True
    dtypes = ["?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "g", "c8", "c16", "G",
              "M8[ns]", "M8[D]", "m8[s]", "U5", "S5", "V4", "O", ">f8", "<i4"]
    for d in dtypes:
        _try(c, "ndarray[%s]" % d, lambda d=d: np.zeros(3, dtype=d), j)
        _try(c, "dtype(%s)" % d, lambda d=d: np.dtype(d))
        _try(c, "scalar[%s]" % d, lambda d=d: np.zeros(1, dtype=d)[0])
    _try(c, "dtype(struct)", lambda: np.dtype([("a", "<i4"), ("b", "<f8", (2,)), ("c", "U3")]))
    _try(c, "dtype(aligned struct)", lambda: np.dtype({"names": ["a", "b"], "formats": ["i1", "f8"]}, align=True))
    _try(c, "dtype(metadata)", lambda: np.dtype("f8", metadata={"unit": "m"}))
    _try(c, "ndarray[struct]", lambda: np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8", (2,))]), j)
    _try(c, "ndarray[object]", lambda: np.array([1, "a", None, 2.5], dtype=object), j)
    _try(c, "ndarray(F-order)", lambda: np.asfortranarray(np.arange(6.0).reshape(2, 3)), j)
    _try(c, "ndarray(0-d)", lambda: np.array(5.0), j)
    _try(c, "ndarray(empty)", lambda: np.empty((0, 3)), j)
    _try(c, "ndarray(non-contiguous)", lambda: np.arange(10)[::2], j)
    _try(c, "ndarray(large)", lambda: np.arange(100000, dtype="f8"), j)
    _try(c, "StringDType array", lambda: np.array(["a", "bc"], dtype=np.dtypes.StringDType()), j)
    _try(c, "np.str_", lambda: np.str_("abc"))
    _try(c, "np.bytes_", lambda: np.bytes_(b"abc"))
    _try(c, "np.void", lambda: np.void(b"\x01\x02"))
    _try(c, "np.datetime64", lambda: np.datetime64("2024-01-01T00:00"))
    _try(c, "np.timedelta64", lambda: np.timedelta64(5, "s"))
    _try(c, "np.bool_", lambda: np.True_)
    _try(c, "record", lambda: np.rec.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")])[0])
    _try(c, "recarray", lambda: np.rec.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]), j)
    _try(c, "matrix", lambda: np.matrix([[1, 2], [3, 4]]), j)
    _try(c, "masked_array", lambda: np.ma.array([1, 2, 3], mask=[0, 1, 0]), j)
    _try(c, "masked_array(nomask)", lambda: np.ma.array([1.0, 2.0]), j)
    _try(c, "masked_array(struct)", lambda: np.ma.array(np.zeros(2, dtype=[("a", "i4")]), mask=[(True,), (False,)]), j)
    _try(c, "masked (MaskedConstant)", lambda: np.ma.masked)
    _try(c, "masked scalar", lambda: np.ma.array([1, 2], mask=[1, 0])[0])
    _try(c, "ma.mvoid", lambda: np.ma.array(np.zeros(2, dtype=[("a", "i4"), ("b", "f8")]), mask=[(1, 0), (0, 0)])[0])
    _try(c, "memmap", lambda: _memmap(np), j)
    # classes as values (e.g. estimators store dtype=np.float64)
    for cls in ("float64", "float32", "int64", "int32", "bool_", "object_", "str_", "ndarray", "dtype",
                "generic", "number", "integer", "floating", "complexfloating", "datetime64", "timedelta64",
                "uint8", "int8", "float16", "longdouble", "complex128"):
        _try(c, "np.%s (class)" % cls, lambda cls=cls: getattr(np, cls))
    if hasattr(np, "dtypes"):
        for n in sorted(dir(np.dtypes)):
            if n.endswith("DType"):
                _try(c, "np.dtypes.%s (class)" % n, lambda n=n: getattr(np.dtypes, n))
                _try(c, "type(np.dtype) %s" % n, lambda n=n: _dtype_instance(np, n))
    # ufuncs and functions that estimators store (FunctionTransformer(np.log1p), etc.)
    for f in NUMPY_FUNCTIONS:
        _try(c, "np.%s" % f, lambda f=f: getattr(np, f))
    for f in sorted(n for n in dir(np) if isinstance(getattr(np, n), np.ufunc)):
        _try(c, "ufunc np.%s" % f, lambda f=f: getattr(np, f))
    # RNG
    r = np.random
    _try(c, "RandomState", lambda: r.RandomState(0), j)
    _try(c, "RandomState(used)", lambda: _used(r.RandomState(1)), j)
    _try(c, "default_rng", lambda: r.default_rng(0), j)
    for bg in ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64"):
        if hasattr(r, bg):
            _try(c, "BitGenerator %s" % bg, lambda bg=bg: getattr(r, bg)(1), j)
            _try(c, "Generator(%s)" % bg, lambda bg=bg: r.Generator(getattr(r, bg)(2)), j)
            _try(c, "RandomState(%s)" % bg, lambda bg=bg: r.RandomState(getattr(r, bg)(3)), j)
            _try(c, "class %s" % bg, lambda bg=bg: getattr(r, bg))
    _try(c, "SeedSequence", lambda: r.SeedSequence(1234, spawn_key=(1,)))
    _try(c, "np.random.mtrand._rand", lambda: r.mtrand._rand)
    # containers of numpy things
    _try(c, "dict of arrays", lambda: {"w": np.ones((2, 2), dtype="f4"), "b": np.zeros(2)}, j)
    _try(c, "np.iinfo", lambda: np.iinfo(np.int32))
    _try(c, "np.poly1d", lambda: np.poly1d([1, 2, 3]))
    _try(c, "np.errstate?", lambda: np.geterr())


# Aggregation functions that estimators keep as parameters (FeatureAgglomeration's
# pooling_func=np.mean, SimpleImputer-style strategies, user FunctionTransformers).
NUMPY_FUNCTIONS = ("mean", "median", "sum", "max", "min", "std", "var", "average", "prod",
                   "nanmean", "nanmedian", "nansum", "nanmax", "nanmin", "nanstd", "nanvar")


def _memmap(np):
    d = tempfile.mkdtemp()
    m = np.memmap(os.path.join(d, "m.dat"), dtype="f4", mode="w+", shape=(4,))
    return m


def _dtype_instance(np, n):
    cls = getattr(np.dtypes, n)
    for d in ("?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "g", "c8", "c16", "G",
              "M8[ns]", "m8[ns]", "U3", "S3", "V3", "O", "b", "h", "l", "q", "B", "H", "L", "Q", "i", "I"):
        dt = np.dtype(d)
        if type(dt) is cls:
            return dt
    if n == "StringDType":
        return np.dtypes.StringDType()
    raise ValueError("no instance for %s" % n)


def _used(rs):
    rs.standard_normal(3)
    return rs


# ---- pandas --------------------------------------------------------------------------------

def collect_pandas(c):
    import numpy as np
    import pandas as pd

    ts = pd.Timestamp("2024-03-01 12:00")
    idx = pd.date_range("2024-01-01", periods=3, freq="D")
    tz_kinds = {"utc": "UTC", "zoneinfo": "Europe/Paris", "fixed": _dt.timezone(_dt.timedelta(hours=2))}
    try:
        import pytz  # noqa: F401 - pandas 2 uses pytz objects for string zones
        tz_kinds["pytz"] = pytz.timezone("Asia/Tokyo")
        tz_kinds["pytz-utc"] = pytz.utc
    except ImportError:
        pass
    try:
        import zoneinfo
        tz_kinds["zoneinfo-obj"] = zoneinfo.ZoneInfo("Europe/Berlin")
    except ImportError:
        pass
    try:
        import dateutil.tz
        tz_kinds["dateutil"] = dateutil.tz.gettz("Europe/London")
        tz_kinds["dateutil-utc"] = dateutil.tz.tzutc()
    except Exception:  # noqa: BLE001
        pass
    objs = {
        "DataFrame(basic)": lambda: pd.DataFrame({"i": [1, 2, 3], "f": [1.0, 2.5, None], "s": ["a", "b", "c"], "b": [True, False, True]}),
        "DataFrame(object)": lambda: pd.DataFrame({"o": [1, "a", None]}, dtype=object),
        "DataFrame(category)": lambda: pd.DataFrame({"c": pd.Categorical(["x", "y", "x"])}),
        "DataFrame(ordered category)": lambda: pd.DataFrame({"c": pd.Categorical(["lo", "hi"], categories=["lo", "hi"], ordered=True)}),
        "DataFrame(datetime)": lambda: pd.DataFrame({"t": idx}),
        "DataFrame(timedelta)": lambda: pd.DataFrame({"td": pd.to_timedelta([1, 2], unit="s")}),
        "DataFrame(period)": lambda: pd.DataFrame({"p": pd.period_range("2024-01", periods=2, freq="M")}),
        "DataFrame(interval)": lambda: pd.DataFrame({"iv": pd.interval_range(0, 2)}),
        "DataFrame(nullable)": lambda: pd.DataFrame({"I": pd.array([1, None], dtype="Int64"), "F": pd.array([1.5, None], dtype="Float64"),
                                                    "B": pd.array([True, None], dtype="boolean"), "S": pd.array(["a", None], dtype="string")}),
        "DataFrame(str python)": lambda: pd.DataFrame({"s": pd.array(["a", None], dtype=pd.StringDtype("python"))}),
        "DataFrame(sparse)": lambda: pd.DataFrame({"sp": pd.arrays.SparseArray([0, 0, 1, 0])}),
        "DataFrame(MultiIndex)": lambda: pd.DataFrame({"v": [1, 2]}, index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["k", "n"])),
        "DataFrame(MultiIndex cols)": lambda: pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")])),
        "DataFrame(attrs)": lambda: _with_attrs(pd.DataFrame({"a": [1]})),
        "DataFrame(flags)": lambda: pd.DataFrame({"a": [1]}).set_flags(allows_duplicate_labels=False),
        "DataFrame(empty)": lambda: pd.DataFrame(),
        "DataFrame(mixed blocks)": lambda: pd.DataFrame({"a": np.arange(3), "b": np.arange(3.0), "c": list("abc"), "d": idx}),
        "Series(int)": lambda: pd.Series([1, 2, 3], name="x"),
        "Series(str)": lambda: pd.Series(["a", "b"]),
        "Series(datetime)": lambda: pd.Series(idx),
        "Series(category)": lambda: pd.Series(["a", "b"], dtype="category"),
        "Index": lambda: pd.Index(["a", "b"]),
        "Index(int)": lambda: pd.Index([1, 5, 9]),
        "Index(float)": lambda: pd.Index([1.5, 2.5]),
        "Index(object)": lambda: pd.Index([1, "a"], dtype=object),
        "RangeIndex": lambda: pd.RangeIndex(0, 10, 2),
        "DatetimeIndex": lambda: idx,
        "DatetimeIndex(freq B)": lambda: pd.bdate_range("2024-01-01", periods=3),
        "TimedeltaIndex": lambda: pd.timedelta_range("1 day", periods=2),
        "PeriodIndex": lambda: pd.period_range("2024-01", periods=2, freq="M"),
        "IntervalIndex": lambda: pd.interval_range(0, 3),
        "CategoricalIndex": lambda: pd.CategoricalIndex(["a", "b"]),
        "MultiIndex": lambda: pd.MultiIndex.from_product([["a", "b"], [1, 2]]),
        "Timestamp": lambda: ts,
        "Timestamp(unit s)": lambda: pd.Timestamp("2024-01-01").as_unit("s"),
        "Timedelta": lambda: pd.Timedelta("1 days 2 hours"),
        "Period": lambda: pd.Period("2024-01", freq="M"),
        "Period(Q)": lambda: pd.Period("2024Q1", freq="Q"),
        "Interval": lambda: pd.Interval(0, 1, closed="left"),
        "NaT": lambda: pd.NaT,
        "NA": lambda: pd.NA,
        "Categorical": lambda: pd.Categorical(["a", "b", "a"]),
        "CategoricalDtype": lambda: pd.CategoricalDtype(["a", "b"], ordered=True),
        "DatetimeTZDtype": lambda: pd.DatetimeTZDtype("ns", "UTC"),
        "PeriodDtype": lambda: pd.PeriodDtype("D"),
        "IntervalDtype": lambda: pd.IntervalDtype("int64", "right"),
        "SparseDtype": lambda: pd.SparseDtype("float64", 0.0),
        "Int64Dtype": lambda: pd.Int64Dtype(),
        "StringDtype": lambda: pd.StringDtype(),
        "BooleanDtype": lambda: pd.BooleanDtype(),
        "Float32Dtype": lambda: pd.Float32Dtype(),
        "UInt8Dtype": lambda: pd.UInt8Dtype(),
        "arrays": lambda: [pd.array([1, 2]), pd.array([True]), pd.array(["x"]), pd.array([0.5]),
                           pd.array(pd.to_datetime(["2024-01-01"])), pd.array(pd.to_timedelta(["1s"]))],
        "arrays(ext)": lambda: [pd.arrays.IntervalArray.from_breaks([0, 1, 2]), pd.arrays.PeriodArray._from_sequence(["2024-01"], dtype="period[M]")],
        "DateOffset": lambda: pd.DateOffset(months=1, days=2),
    }
    for k, tz in tz_kinds.items():
        objs["Timestamp(tz %s)" % k] = lambda tz=tz: pd.Timestamp("2024-03-01 12:00", tz=tz)
        objs["DatetimeIndex(tz %s)" % k] = lambda tz=tz: pd.date_range("2024-01-01", periods=2, tz=tz)
        objs["DataFrame(tz %s)" % k] = lambda tz=tz: pd.DataFrame({"t": pd.date_range("2024-01-01", periods=2, tz=tz)})
    for off in ("Day", "Hour", "Minute", "Second", "Milli", "Micro", "Nano", "BusinessDay", "MonthEnd", "MonthBegin",
                "BusinessMonthEnd", "QuarterEnd", "YearEnd", "YearBegin", "Week", "CustomBusinessDay", "BusinessHour",
                "SemiMonthEnd", "WeekOfMonth", "LastWeekOfMonth", "Easter", "FY5253", "CustomBusinessMonthEnd"):
        if off in ("Week",):
            objs["offset %s" % off] = lambda off=off: getattr(pd.offsets, off)(weekday=2)
        elif off in ("WeekOfMonth",):
            objs["offset %s" % off] = lambda off=off: getattr(pd.offsets, off)(week=1, weekday=2)
        elif off in ("LastWeekOfMonth",):
            objs["offset %s" % off] = lambda off=off: getattr(pd.offsets, off)(weekday=2)
        elif off == "FY5253":
            objs["offset %s" % off] = lambda: pd.offsets.FY5253(weekday=0, startingMonth=1, variation="nearest")
        else:
            objs["offset %s" % off] = lambda off=off: getattr(pd.offsets, off)(2)
    for label, make in objs.items():
        _try(c, label, make)


def _with_attrs(df):
    df.attrs["source"] = "test"
    return df


# ---- scikit-learn --------------------------------------------------------------------------

def collect_sklearn(c):
    import warnings
    warnings.filterwarnings("ignore")
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp
    from sklearn import (calibration, cluster, compose, covariance, cross_decomposition, datasets,
                         decomposition, discriminant_analysis, dummy, ensemble, feature_extraction,
                         feature_selection, gaussian_process, impute, isotonic, kernel_approximation,
                         kernel_ridge, linear_model, manifold, metrics, mixture, model_selection,
                         multiclass, multioutput, naive_bayes, neighbors, neural_network, pipeline,
                         preprocessing, random_projection, semi_supervised, svm, tree)
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.gaussian_process import kernels

    X, y = datasets.make_classification(n_samples=80, n_features=6, n_informative=3, random_state=0)
    Xr, yr = datasets.make_regression(n_samples=80, n_features=6, random_state=0)
    y3 = np.arange(80) % 3
    Xpos = np.abs(X)
    Xint = (Xpos * 3).astype(int)
    texts = ["the cat sat", "the dog ran", "a cat ran far", "dogs and cats"] * 5
    ytext = [0, 1, 0, 1] * 5
    df = pd.DataFrame({"num": np.arange(20.0), "cat": ["a", "b", "c", "a"] * 5, "num2": np.arange(20) % 7})
    ydf = np.arange(20) % 2

    def fit(est, *a, **kw):
        return est.fit(*a, **kw)

    lm, en, nb, cl, de = linear_model, ensemble, naive_bayes, cluster, decomposition
    cases = {
        # linear models
        "LinearRegression": lambda: fit(lm.LinearRegression(), Xr, yr),
        "Ridge": lambda: fit(lm.Ridge(), Xr, yr),
        "RidgeCV": lambda: fit(lm.RidgeCV(), Xr, yr),
        "RidgeClassifier": lambda: fit(lm.RidgeClassifier(), X, y),
        "Lasso": lambda: fit(lm.Lasso(), Xr, yr),
        "LassoCV": lambda: fit(lm.LassoCV(cv=3), Xr, yr),
        "ElasticNet": lambda: fit(lm.ElasticNet(), Xr, yr),
        "Lars": lambda: fit(lm.Lars(), Xr, yr),
        "LassoLars": lambda: fit(lm.LassoLars(), Xr, yr),
        "OrthogonalMatchingPursuit": lambda: fit(lm.OrthogonalMatchingPursuit(), Xr, yr),
        "BayesianRidge": lambda: fit(lm.BayesianRidge(), Xr, yr),
        "ARDRegression": lambda: fit(lm.ARDRegression(), Xr, yr),
        "LogisticRegression": lambda: fit(lm.LogisticRegression(), X, y),
        "LogisticRegression(multi)": lambda: fit(lm.LogisticRegression(), X, y3),
        "LogisticRegressionCV": lambda: fit(lm.LogisticRegressionCV(cv=3), X, y),
        "SGDClassifier": lambda: fit(lm.SGDClassifier(random_state=0), X, y),
        "SGDClassifier(log_loss)": lambda: fit(lm.SGDClassifier(loss="log_loss", random_state=0), X, y),
        "SGDRegressor": lambda: fit(lm.SGDRegressor(random_state=0), Xr, yr),
        "Perceptron": lambda: fit(lm.Perceptron(), X, y),
        "HuberRegressor": lambda: fit(lm.HuberRegressor(), Xr, yr),
        "QuantileRegressor": lambda: fit(lm.QuantileRegressor(alpha=0.0), Xr[:30], yr[:30]),
        "RANSACRegressor": lambda: fit(lm.RANSACRegressor(random_state=0), Xr, yr),
        "TheilSenRegressor": lambda: fit(lm.TheilSenRegressor(random_state=0, max_subpopulation=50), Xr, yr),
        "PoissonRegressor": lambda: fit(lm.PoissonRegressor(), Xr, np.abs(yr)),
        "GammaRegressor": lambda: fit(lm.GammaRegressor(), Xr, np.abs(yr) + 1),
        "TweedieRegressor": lambda: fit(lm.TweedieRegressor(power=1.5), Xr, np.abs(yr)),
        # svm
        "SVC": lambda: fit(svm.SVC(probability=True, random_state=0), X, y),
        "SVR": lambda: fit(svm.SVR(), Xr, yr),
        "NuSVC": lambda: fit(svm.NuSVC(), X, y),
        "LinearSVC": lambda: fit(svm.LinearSVC(), X, y),
        "LinearSVR": lambda: fit(svm.LinearSVR(), Xr, yr),
        "OneClassSVM": lambda: fit(svm.OneClassSVM(), X),
        "SVC(sparse)": lambda: fit(svm.SVC(), sp.csr_matrix(X), y),
        # trees and ensembles
        "DecisionTreeClassifier": lambda: fit(tree.DecisionTreeClassifier(random_state=0), X, y),
        "DecisionTreeRegressor": lambda: fit(tree.DecisionTreeRegressor(random_state=0), Xr, yr),
        "ExtraTreeClassifier": lambda: fit(tree.ExtraTreeClassifier(random_state=0), X, y),
        "RandomForestClassifier": lambda: fit(en.RandomForestClassifier(n_estimators=3, random_state=0), X, y),
        "RandomForestRegressor": lambda: fit(en.RandomForestRegressor(n_estimators=3, random_state=0), Xr, yr),
        "ExtraTreesRegressor": lambda: fit(en.ExtraTreesRegressor(n_estimators=3, random_state=0), Xr, yr),
        "ExtraTreeRegressor": lambda: fit(tree.ExtraTreeRegressor(random_state=0), Xr, yr),
        "BaggingRegressor": lambda: fit(en.BaggingRegressor(n_estimators=3, random_state=0), Xr, yr),
        "VotingRegressor": lambda: fit(en.VotingRegressor([("r", lm.Ridge()), ("l", lm.Lasso())]), Xr, yr),
        "SGDOneClassSVM": lambda: fit(lm.SGDOneClassSVM(random_state=0), X),
        "RadiusNeighborsRegressor": lambda: fit(neighbors.RadiusNeighborsRegressor(radius=50.0), Xr, yr),
        "MultiOutputClassifier": lambda: fit(multioutput.MultiOutputClassifier(lm.LogisticRegression()), X, np.c_[y, y]),
        "RegressorChain": lambda: fit(multioutput.RegressorChain(lm.Ridge()), Xr, np.c_[yr, yr]),
        "MiniBatchNMF": lambda: fit(de.MiniBatchNMF(n_components=2, max_iter=5, random_state=0), Xpos),
        "MiniBatchDictionaryLearning": lambda: fit(de.MiniBatchDictionaryLearning(n_components=2, max_iter=3, random_state=0), X),
        "KernelCenterer": lambda: fit(preprocessing.KernelCenterer(), X @ X.T),
        "ExtraTreesClassifier": lambda: fit(en.ExtraTreesClassifier(n_estimators=3, random_state=0), X, y),
        "GradientBoostingClassifier": lambda: fit(en.GradientBoostingClassifier(n_estimators=3, random_state=0), X, y),
        "GradientBoostingClassifier(multi)": lambda: fit(en.GradientBoostingClassifier(n_estimators=3, random_state=0), X, y3),
        "GradientBoostingRegressor": lambda: fit(en.GradientBoostingRegressor(n_estimators=3, random_state=0), Xr, yr),
        "GradientBoostingRegressor(huber)": lambda: fit(en.GradientBoostingRegressor(loss="huber", n_estimators=3, random_state=0), Xr, yr),
        "HistGradientBoostingClassifier": lambda: fit(en.HistGradientBoostingClassifier(max_iter=3), X, y),
        "HistGradientBoostingRegressor": lambda: fit(en.HistGradientBoostingRegressor(max_iter=3), Xr, yr),
        "HistGradientBoostingRegressor(poisson)": lambda: fit(en.HistGradientBoostingRegressor(loss="poisson", max_iter=3), Xr, np.abs(yr)),
        "AdaBoostClassifier": lambda: fit(en.AdaBoostClassifier(n_estimators=3, random_state=0), X, y),
        "AdaBoostRegressor": lambda: fit(en.AdaBoostRegressor(n_estimators=3, random_state=0), Xr, yr),
        "BaggingClassifier": lambda: fit(en.BaggingClassifier(n_estimators=3, random_state=0), X, y),
        "IsolationForest": lambda: fit(en.IsolationForest(n_estimators=3, random_state=0), X),
        "VotingClassifier": lambda: fit(en.VotingClassifier([("lr", lm.LogisticRegression()), ("nb", nb.GaussianNB())], voting="soft"), X, y),
        "StackingClassifier": lambda: fit(en.StackingClassifier([("lr", lm.LogisticRegression()), ("dt", tree.DecisionTreeClassifier())], cv=3), X, y),
        "StackingRegressor": lambda: fit(en.StackingRegressor([("r", lm.Ridge())], cv=3), Xr, yr),
        "RandomTreesEmbedding": lambda: fit(en.RandomTreesEmbedding(n_estimators=3, random_state=0), X),
        # neighbors
        "KNeighborsClassifier(kd_tree)": lambda: fit(neighbors.KNeighborsClassifier(algorithm="kd_tree"), X, y),
        "KNeighborsClassifier(ball_tree)": lambda: fit(neighbors.KNeighborsClassifier(algorithm="ball_tree"), X, y),
        "KNeighborsClassifier(brute)": lambda: fit(neighbors.KNeighborsClassifier(algorithm="brute"), X, y),
        "KNeighborsRegressor": lambda: fit(neighbors.KNeighborsRegressor(), Xr, yr),
        "RadiusNeighborsClassifier": lambda: fit(neighbors.RadiusNeighborsClassifier(radius=5.0), X, y),
        "NearestNeighbors": lambda: fit(neighbors.NearestNeighbors(), X),
        "NearestCentroid": lambda: fit(neighbors.NearestCentroid(), X, y),
        "LocalOutlierFactor": lambda: fit(neighbors.LocalOutlierFactor(novelty=True), X),
        "KernelDensity": lambda: fit(neighbors.KernelDensity(), X),
        "KDTree": lambda: neighbors.KDTree(X),
        "BallTree": lambda: neighbors.BallTree(X),
        "BallTree(haversine)": lambda: neighbors.BallTree(X[:, :2], metric="haversine"),
        "KNeighborsClassifier(minkowski p=3)": lambda: fit(neighbors.KNeighborsClassifier(p=3), X, y),
        # naive bayes
        "GaussianNB": lambda: fit(nb.GaussianNB(), X, y),
        "MultinomialNB": lambda: fit(nb.MultinomialNB(), Xpos, y),
        "BernoulliNB": lambda: fit(nb.BernoulliNB(), X, y),
        "ComplementNB": lambda: fit(nb.ComplementNB(), Xpos, y),
        "CategoricalNB": lambda: fit(nb.CategoricalNB(), Xint, y),
        # clustering
        "KMeans": lambda: fit(cl.KMeans(n_clusters=3, n_init=1, random_state=0), X),
        "MiniBatchKMeans": lambda: fit(cl.MiniBatchKMeans(n_clusters=3, n_init=1, random_state=0), X),
        "BisectingKMeans": lambda: fit(cl.BisectingKMeans(n_clusters=3, random_state=0), X),
        "DBSCAN": lambda: fit(cl.DBSCAN(), X),
        "HDBSCAN": lambda: fit(cl.HDBSCAN(), X),
        "OPTICS": lambda: fit(cl.OPTICS(min_samples=5), X),
        "AgglomerativeClustering": lambda: fit(cl.AgglomerativeClustering(n_clusters=3), X),
        "FeatureAgglomeration": lambda: fit(cl.FeatureAgglomeration(n_clusters=2), X),
        "Birch": lambda: fit(cl.Birch(n_clusters=3), X),
        "MeanShift": lambda: fit(cl.MeanShift(), X),
        "SpectralClustering": lambda: fit(cl.SpectralClustering(n_clusters=3, random_state=0), X),
        "AffinityPropagation": lambda: fit(cl.AffinityPropagation(random_state=0), X),
        # decomposition
        "PCA": lambda: fit(de.PCA(n_components=2), X),
        "IncrementalPCA": lambda: fit(de.IncrementalPCA(n_components=2), X),
        "KernelPCA": lambda: fit(de.KernelPCA(n_components=2, kernel="rbf"), X),
        "TruncatedSVD": lambda: fit(de.TruncatedSVD(n_components=2, random_state=0), X),
        "NMF": lambda: fit(de.NMF(n_components=2, max_iter=50, random_state=0), Xpos),
        "FastICA": lambda: fit(de.FastICA(n_components=2, random_state=0), X),
        "FactorAnalysis": lambda: fit(de.FactorAnalysis(n_components=2), X),
        "SparsePCA": lambda: fit(de.SparsePCA(n_components=2, max_iter=5, random_state=0), X),
        "DictionaryLearning": lambda: fit(de.DictionaryLearning(n_components=2, max_iter=5, random_state=0), X),
        "LatentDirichletAllocation": lambda: fit(de.LatentDirichletAllocation(n_components=2, max_iter=3, random_state=0), Xint),
        # preprocessing
        "StandardScaler": lambda: fit(preprocessing.StandardScaler(), X),
        "StandardScaler(sparse)": lambda: fit(preprocessing.StandardScaler(with_mean=False), sp.csr_matrix(X)),
        "MinMaxScaler": lambda: fit(preprocessing.MinMaxScaler(), X),
        "MaxAbsScaler": lambda: fit(preprocessing.MaxAbsScaler(), X),
        "RobustScaler": lambda: fit(preprocessing.RobustScaler(), X),
        "Normalizer": lambda: fit(preprocessing.Normalizer(), X),
        "Binarizer": lambda: fit(preprocessing.Binarizer(), X),
        "OneHotEncoder": lambda: fit(preprocessing.OneHotEncoder(handle_unknown="ignore"), Xint),
        "OneHotEncoder(dense, drop)": lambda: fit(preprocessing.OneHotEncoder(sparse_output=False, drop="first"), Xint),
        "OrdinalEncoder": lambda: fit(preprocessing.OrdinalEncoder(), Xint),
        "LabelEncoder": lambda: fit(preprocessing.LabelEncoder(), ["a", "b", "a"]),
        "LabelBinarizer": lambda: fit(preprocessing.LabelBinarizer(), y3),
        "MultiLabelBinarizer": lambda: fit(preprocessing.MultiLabelBinarizer(), [{"a", "b"}, {"c"}]),
        "PolynomialFeatures": lambda: fit(preprocessing.PolynomialFeatures(2), X),
        "SplineTransformer": lambda: fit(preprocessing.SplineTransformer(), X),
        "KBinsDiscretizer": lambda: fit(preprocessing.KBinsDiscretizer(n_bins=3, encode="ordinal"), X),
        "QuantileTransformer": lambda: fit(preprocessing.QuantileTransformer(n_quantiles=10), X),
        "PowerTransformer": lambda: fit(preprocessing.PowerTransformer(), X),
        "FunctionTransformer(log1p)": lambda: fit(preprocessing.FunctionTransformer(np.log1p, inverse_func=np.expm1), Xpos),
        "TargetEncoder": lambda: fit(preprocessing.TargetEncoder(random_state=0), Xint, y),
        # impute
        "SimpleImputer": lambda: fit(impute.SimpleImputer(), X),
        "SimpleImputer(most_frequent)": lambda: fit(impute.SimpleImputer(strategy="most_frequent"), Xint),
        "KNNImputer": lambda: fit(impute.KNNImputer(), X),
        "IterativeImputer": lambda: fit(impute.IterativeImputer(max_iter=2, random_state=0), X),
        "MissingIndicator": lambda: fit(impute.MissingIndicator(features="all"), X),
        # text
        "DictVectorizer": lambda: fit(feature_extraction.DictVectorizer(), [{"a": 1, "b": 2}, {"c": 3}]),
        "FeatureHasher": lambda: fit(feature_extraction.FeatureHasher(n_features=8), [{"a": 1}]),
        "CountVectorizer": lambda: fit(feature_extraction.text.CountVectorizer(), texts),
        "TfidfVectorizer": lambda: fit(feature_extraction.text.TfidfVectorizer(ngram_range=(1, 2)), texts),
        "TfidfTransformer": lambda: fit(feature_extraction.text.TfidfTransformer(), Xint),
        "HashingVectorizer": lambda: fit(feature_extraction.text.HashingVectorizer(n_features=16), texts),
        # feature selection
        "SelectKBest(f_classif)": lambda: fit(feature_selection.SelectKBest(feature_selection.f_classif, k=2), X, y),
        "SelectKBest(mutual_info)": lambda: fit(feature_selection.SelectKBest(feature_selection.mutual_info_classif, k=2), X, y),
        "SelectPercentile(chi2)": lambda: fit(feature_selection.SelectPercentile(feature_selection.chi2), Xpos, y),
        "SelectFpr(f_regression)": lambda: fit(feature_selection.SelectFpr(feature_selection.f_regression), Xr, yr),
        "VarianceThreshold": lambda: fit(feature_selection.VarianceThreshold(), X),
        "RFE": lambda: fit(feature_selection.RFE(lm.LogisticRegression(), n_features_to_select=2), X, y),
        "RFECV": lambda: fit(feature_selection.RFECV(lm.LogisticRegression(), cv=3), X, y),
        "SelectFromModel": lambda: fit(feature_selection.SelectFromModel(lm.Lasso()), Xr, yr),
        "SequentialFeatureSelector": lambda: fit(feature_selection.SequentialFeatureSelector(lm.LinearRegression(), n_features_to_select=2, cv=2), Xr, yr),
        # composition
        "Pipeline": lambda: fit(pipeline.Pipeline([("s", preprocessing.StandardScaler()), ("m", lm.LogisticRegression())]), X, y),
        "make_pipeline(text)": lambda: fit(pipeline.make_pipeline(feature_extraction.text.TfidfVectorizer(), lm.LogisticRegression()), texts, ytext),
        "FeatureUnion": lambda: fit(pipeline.FeatureUnion([("p", de.PCA(2)), ("s", preprocessing.StandardScaler())]), X),
        "ColumnTransformer(DataFrame)": lambda: fit(compose.ColumnTransformer([("n", preprocessing.StandardScaler(), ["num", "num2"]), ("c", preprocessing.OneHotEncoder(), ["cat"])]), df),
        "ColumnTransformer(selector)": lambda: fit(compose.ColumnTransformer([("n", preprocessing.StandardScaler(), compose.make_column_selector(dtype_include=np.number)),
                                                                              ("c", preprocessing.OneHotEncoder(), compose.make_column_selector(dtype_include=object))]), df),
        "Pipeline(DataFrame, set_output pandas)": lambda: fit(pipeline.make_pipeline(compose.ColumnTransformer([("n", preprocessing.StandardScaler(), ["num"])]), lm.LogisticRegression()).set_output(transform="pandas"), df, ydf),
        "TransformedTargetRegressor": lambda: fit(compose.TransformedTargetRegressor(regressor=lm.LinearRegression(), func=np.log1p, inverse_func=np.expm1), Xr, np.abs(yr)),
        # model selection and meta-estimators
        "GridSearchCV": lambda: fit(model_selection.GridSearchCV(svm.SVC(), {"C": [0.1, 1.0]}, cv=2), X, y),
        "GridSearchCV(scorer)": lambda: fit(model_selection.GridSearchCV(lm.Ridge(), {"alpha": [0.1, 1.0]}, cv=2, scoring=metrics.make_scorer(metrics.mean_absolute_error, greater_is_better=False)), Xr, yr),
        "RandomizedSearchCV(lists)": lambda: fit(model_selection.RandomizedSearchCV(lm.Ridge(), {"alpha": [0.1, 1.0, 10.0]}, n_iter=2, cv=2, random_state=0), Xr, yr),
        "HalvingGridSearchCV": lambda: _halving(model_selection, svm, X, y),
        "KFold": lambda: model_selection.KFold(3, shuffle=True, random_state=0),
        "StratifiedKFold": lambda: model_selection.StratifiedKFold(3),
        "CalibratedClassifierCV": lambda: fit(calibration.CalibratedClassifierCV(svm.LinearSVC(), cv=3), X, y),
        "CalibratedClassifierCV(isotonic)": lambda: fit(calibration.CalibratedClassifierCV(nb.GaussianNB(), cv=3, method="isotonic"), X, y),
        "OneVsRestClassifier": lambda: fit(multiclass.OneVsRestClassifier(lm.LogisticRegression()), X, y3),
        "OneVsOneClassifier": lambda: fit(multiclass.OneVsOneClassifier(svm.LinearSVC()), X, y3),
        "OutputCodeClassifier": lambda: fit(multiclass.OutputCodeClassifier(lm.LogisticRegression(), random_state=0), X, y3),
        "MultiOutputRegressor": lambda: fit(multioutput.MultiOutputRegressor(lm.Ridge()), Xr, np.c_[yr, yr]),
        "ClassifierChain": lambda: fit(multioutput.ClassifierChain(lm.LogisticRegression(), random_state=0), X, np.c_[y, y]),
        "FixedThresholdClassifier": lambda: fit(model_selection.FixedThresholdClassifier(lm.LogisticRegression(), threshold=0.3), X, y),
        "TunedThresholdClassifierCV": lambda: fit(model_selection.TunedThresholdClassifierCV(lm.LogisticRegression(), cv=2), X, y),
        "FrozenEstimator": lambda: _frozen(lm.LogisticRegression().fit(X, y)),
        # others
        "LinearDiscriminantAnalysis": lambda: fit(discriminant_analysis.LinearDiscriminantAnalysis(), X, y),
        "QuadraticDiscriminantAnalysis": lambda: fit(discriminant_analysis.QuadraticDiscriminantAnalysis(reg_param=0.1), X, y),
        "GaussianProcessRegressor": lambda: fit(gaussian_process.GaussianProcessRegressor(kernels.ConstantKernel() * kernels.RBF() + kernels.WhiteKernel(), random_state=0), Xr[:30], yr[:30]),
        "GaussianProcessRegressor(Matern+DotProduct)": lambda: fit(gaussian_process.GaussianProcessRegressor(kernels.Matern(nu=1.5) + kernels.DotProduct() ** 2, random_state=0), Xr[:20], yr[:20]),
        "GaussianProcessRegressor(RationalQuadratic)": lambda: fit(gaussian_process.GaussianProcessRegressor(kernels.RationalQuadratic() + kernels.WhiteKernel(), random_state=0), Xr[:20], yr[:20]),
        "ExpSineSquared kernel": lambda: kernels.ExpSineSquared() * kernels.ConstantKernel(2.0),
        "GaussianProcessClassifier": lambda: fit(gaussian_process.GaussianProcessClassifier(kernels.RBF(), random_state=0), X[:30], y[:30]),
        "GaussianProcessClassifier(multi)": lambda: fit(gaussian_process.GaussianProcessClassifier(random_state=0), X[:30], y3[:30]),
        "PairwiseKernel": lambda: kernels.PairwiseKernel(metric="laplacian"),
        "RBFSampler": lambda: fit(kernel_approximation.RBFSampler(random_state=0), X),
        "Nystroem": lambda: fit(kernel_approximation.Nystroem(n_components=10, random_state=0), X),
        "AdditiveChi2Sampler": lambda: fit(kernel_approximation.AdditiveChi2Sampler(), Xpos),
        "KernelRidge": lambda: fit(kernel_ridge.KernelRidge(kernel="rbf"), Xr, yr),
        "IsotonicRegression": lambda: fit(isotonic.IsotonicRegression(), Xr[:, 0], yr),
        "PLSRegression": lambda: fit(cross_decomposition.PLSRegression(n_components=2), Xr, yr),
        "CCA": lambda: fit(cross_decomposition.CCA(n_components=1), Xr, np.c_[yr, yr * 2 + 1]),
        "GaussianMixture": lambda: fit(mixture.GaussianMixture(n_components=2, random_state=0), X),
        "BayesianGaussianMixture": lambda: fit(mixture.BayesianGaussianMixture(n_components=2, random_state=0), X),
        "MLPClassifier": lambda: fit(neural_network.MLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0), X, y),
        "MLPRegressor": lambda: fit(neural_network.MLPRegressor(hidden_layer_sizes=(4,), max_iter=20, random_state=0), Xr, yr),
        "BernoulliRBM": lambda: fit(neural_network.BernoulliRBM(n_components=2, n_iter=2, random_state=0), Xpos / Xpos.max()),
        "LabelPropagation": lambda: fit(semi_supervised.LabelPropagation(), X, np.where(np.arange(80) % 4 == 0, y, -1)),
        "LabelSpreading": lambda: fit(semi_supervised.LabelSpreading(), X, np.where(np.arange(80) % 4 == 0, y, -1)),
        "SelfTrainingClassifier": lambda: fit(semi_supervised.SelfTrainingClassifier(svm.SVC(probability=True, random_state=0)), X, np.where(np.arange(80) % 4 == 0, y, -1)),
        "EmpiricalCovariance": lambda: fit(covariance.EmpiricalCovariance(), X),
        "LedoitWolf": lambda: fit(covariance.LedoitWolf(), X),
        "MinCovDet": lambda: fit(covariance.MinCovDet(random_state=0), X),
        "EllipticEnvelope": lambda: fit(covariance.EllipticEnvelope(random_state=0), X),
        "GraphicalLasso": lambda: fit(covariance.GraphicalLasso(alpha=0.9), X),
        "GaussianRandomProjection": lambda: fit(random_projection.GaussianRandomProjection(n_components=2, random_state=0), X),
        "SparseRandomProjection": lambda: fit(random_projection.SparseRandomProjection(n_components=2, random_state=0), X),
        "Isomap": lambda: fit(manifold.Isomap(n_components=2), X),
        "LocallyLinearEmbedding": lambda: fit(manifold.LocallyLinearEmbedding(n_components=2), X),
        "TSNE": lambda: fit(manifold.TSNE(n_components=2, perplexity=5, random_state=0, max_iter=250), X),
        "MDS": lambda: fit(manifold.MDS(n_components=2, random_state=0, n_init=1, max_iter=10), X[:20]),
        "SpectralEmbedding": lambda: fit(manifold.SpectralEmbedding(n_components=2, random_state=0), X),
        "DummyClassifier": lambda: fit(dummy.DummyClassifier(), X, y),
        "DummyRegressor": lambda: fit(dummy.DummyRegressor(), Xr, yr),
        "Estimator(random_state=RandomState)": lambda: fit(tree.DecisionTreeClassifier(random_state=np.random.RandomState(0)), X, y),
        "Estimator(random_state=Generator)": lambda: tree.DecisionTreeClassifier(random_state=np.random.default_rng(0)),
        "make_scorer": lambda: metrics.make_scorer(metrics.f1_score, average="macro"),
        "get_scorer(roc_auc)": lambda: metrics.get_scorer("roc_auc"),
        "get_scorer(neg_log_loss)": lambda: metrics.get_scorer("neg_log_loss"),
        "scipy csr": lambda: sp.csr_matrix(X),
        "scipy csc": lambda: sp.csc_matrix(X),
        "scipy coo": lambda: sp.coo_matrix(X),
        "scipy lil": lambda: sp.lil_matrix(X),
        "scipy dok": lambda: sp.dok_matrix(X[:3]),
        "scipy bsr": lambda: sp.bsr_matrix(X),
        "scipy dia": lambda: sp.dia_matrix(np.eye(3)),
        "scipy csr_array": lambda: sp.csr_array(X),
        "scipy csc_array": lambda: sp.csc_array(X),
        "scipy coo_array": lambda: sp.coo_array(X),
        "RandomizedSearchCV(scipy.stats)": lambda: _stats_search(model_selection, lm, Xr, yr),
    }
    for label, make in cases.items():
        _try(c, label, make, True)


def _halving(model_selection, svm, X, y):
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV
    return HalvingGridSearchCV(svm.SVC(), {"C": [0.1, 1.0]}, cv=2, random_state=0).fit(X, y)


def _frozen(est):
    from sklearn.frozen import FrozenEstimator
    return FrozenEstimator(est)


def _stats_search(model_selection, lm, X, y):
    # Recorded so the summary shows what scipy.stats distributions pickle to; they are
    # never allowed (see DENY below).
    import scipy.stats
    return model_selection.RandomizedSearchCV(lm.Ridge(), {"alpha": scipy.stats.loguniform(1e-3, 1e1)}, n_iter=2, cv=2, random_state=0).fit(X, y)


GROUPS = {"stdlib": collect_stdlib, "numpy": collect_numpy, "pandas": collect_pandas, "sklearn": collect_sklearn}


def versions():
    out = {"python": sys.version.split()[0]}
    for mod in ("numpy", "scipy", "pandas", "sklearn", "joblib", "pytz", "dateutil", "tzdata"):
        try:
            m = importlib.import_module(mod)
            out["scikit-learn" if mod == "sklearn" else ("python-dateutil" if mod == "dateutil" else mod)] = getattr(m, "__version__", "?")
        except Exception:  # noqa: BLE001
            pass
    return out


def collect_here(groups):
    res = {"versions": versions(), "groups": {}}
    for g in groups:
        c = Collector(g)
        try:
            GROUPS[g](c)
        except Exception:  # noqa: BLE001 - a group that cannot even start in this env
            c.errors.append("group %s failed: %s" % (g, traceback.format_exc(limit=3)))
        res["groups"][g] = c.result()
    return res


def collect_in(python, groups):
    """Run the collection in another interpreter; None when it is missing."""
    if not python or not os.path.exists(python):
        return None
    p = subprocess.run([python, __file__, "--collect", ",".join(groups)], capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write("collection in %s failed:\n%s\n" % (python, p.stderr[-4000:]))
        return None
    return json.loads(p.stdout)



# ---------------------------------------------------------------------------------------
# Part 2: review. Every callable that is not a plain class needs an entry here; classes
# need one only when they are refused or carry a rule.
# verdict: "allow", "rule=..." (one of the rules the Rust side implements), or "deny".
# ---------------------------------------------------------------------------------------

BUILTIN_RULE_NOTE = "called with an allowed built-in type; "

REVIEW = {
    # ---- builtins and CPython's own reconstructors
    "builtins:getattr": ("deny", "fetches any attribute of any object; allowed only as the exact (class, attribute) pairs in GETATTR_PAIRS"),
    "_codecs:encode": ("allow", "bytes at protocols < 3 (_codecs.encode(str, 'latin1')); the codec name is looked up only inside the encodings package (dots become '_'), which holds no codec that runs code"),
    "codecs:encode": ("allow", "as _codecs.encode (older writers); same encodings-package lookup"),
    "copyreg:_reconstructor": ("rule=reconstructor", "protocols 0-1 for objects without __reduce__ (argparse.Namespace, sklearn estimators, numpy.iinfo...): base.__new__(cls, state)"),
    "copyreg:__newobj__": ("rule=newobj", "cls.__new__(cls, *args) written as a call by protocol 0-1 writers that do not use NEWOBJ"),
    "copyreg:__newobj_ex__": ("rule=newobj", "cls.__new__(cls, *args, **kwargs), as __newobj__"),
    "collections:defaultdict": ("rule=defaultdict", "defaultdict(factory) stores a factory that is called later on a missing key: only no factory, None or an allowed built-in type"),
    "builtins:Ellipsis": ("allow", "the Ellipsis singleton (a value, not a callable)"),
    "builtins:NotImplemented": ("allow", "the NotImplemented singleton (a value, not a callable)"),
    "re:_compile": ("allow", "re.Pattern pickles as re._compile(pattern, flags): it compiles a regular expression and cannot import, open or run anything. A hostile pattern can only cost time when the application matches with it (catastrophic backtracking), like any regex taken from data"),
    "array:_array_reconstructor": ("allow", "array.array at protocol 3+: (cls, typecode, machine format, bytes); CPython checks cls is an array subtype"),
    # ---- numpy
    "numpy._core.multiarray:_reconstruct": ("allow", "every ndarray (and subclass) pickle: takes a type, but the C code refuses any type that is not an ndarray subtype"),
    "numpy.core.multiarray:_reconstruct": ("allow", "as numpy._core.multiarray:_reconstruct, numpy 1.x name"),
    "numpy._core.multiarray:scalar": ("allow", "numpy scalars: scalar(dtype, bytes); an object dtype just returns the (already decoded) object"),
    "numpy.core.multiarray:scalar": ("allow", "numpy scalars, numpy 1.x name"),
    "numpy._core.numeric:_frombuffer": ("allow", "protocol-5 arrays: frombuffer(buf, dtype).reshape(shape); numpy refuses object dtypes from a buffer"),
    "numpy.core.numeric:_frombuffer": ("allow", "protocol-5 arrays, numpy 1.x name"),
    "numpy._core._internal:_convert_to_stringdtype_kwargs": ("allow", "numpy 2 StringDType: StringDType(coerce=..., na_object=...) from plain values"),
    "numpy.ma.core:_mareconstruct": ("allow", "masked arrays: takes types; builds ndarray.__new__(baseclass, ...) (numpy refuses non-ndarray baseclasses) then subtype.__new__(subtype, ...) without __init__, the same effect as NEWOBJ of an allowed class (the types can only be allowed globals: computed calls are off and no allowed call returns a class)"),
    "numpy.random._pickle:__bit_generator_ctor": ("rule=bit-generator", "BitGenerator pickles: instantiates the type it is given"),
    "numpy.random._pickle:__randomstate_ctor": ("rule=rng-ctor", "RandomState pickles: calls its second argument with its first (numpy >= 2 passes a bit-generator instance built by __bit_generator_ctor instead)"),
    "numpy.random._pickle:__generator_ctor": ("rule=rng-ctor", "Generator pickles: as __randomstate_ctor"),
    "numpy.random.bit_generator:__pyx_unpickle_SeedSequence": ("allow", "Cython unpickler: checks a layout checksum and that its type argument is a SeedSequence subtype before __new__"),
    "numpy:memmap": ("deny", "a memmap pickles as a plain array of class memmap, but numpy.memmap(filename, mode='w+', shape=...) called from a pickle creates or truncates files; load memmaps as ndarrays instead"),
    "joblib.numpy_pickle:NumpyArrayWrapper": ("allow", "joblib.dump placeholder for an array whose bytes follow the pickle in the file; constructing it stores metadata only (joblib's own loader reads object arrays with an unrestricted pickle.load, pickleproof does not)"),
    # ---- pandas
    "pandas._libs.arrays:__pyx_unpickle_NDArrayBacked": ("allow", "Cython unpickler: checksum, then NDArrayBacked.__new__ of its type argument, which must be an NDArrayBacked subtype"),
    "pandas._libs.interval:__pyx_unpickle_IntervalMixin": ("allow", "Cython unpickler: checksum, then IntervalMixin.__new__ of an IntervalMixin subtype"),
    "pandas._libs.internals:_unpickle_block": ("allow", "DataFrame blocks: (values, placement, ndim) are plain data"),
    "pandas._libs.tslibs.nattype:_nat_unpickle": ("allow", "returns the NaT singleton"),
    "pandas._libs.tslibs.nattype:__nat_unpickle": ("allow", "returns the NaT singleton (pandas 2 name)"),
    "pandas._libs.tslibs.timedeltas:_timedelta_unpickle": ("allow", "Timedelta from (value, unit) integers"),
    "pandas._libs.tslibs.timestamps:_unpickle_timestamp": ("allow", "Timestamp from (value, freq, tz, unit); tz is an already-decoded (allowed) object"),
    "pandas.core.indexes.base:_new_Index": ("allow", "every Index pickle: takes a type and calls cls.__new__(cls, **d) (or _new_PeriodIndex), the same effect as NEWOBJ of an allowed class; the type can only be an allowed global"),
    "pandas.core.indexes.datetimes:_new_DatetimeIndex": ("allow", "DatetimeIndex: takes a type (cls) used as in _new_Index; data from the dict"),
    "pandas.core.indexes.interval:_new_IntervalIndex": ("allow", "IntervalIndex: cls.from_arrays(**d) on an allowed class; data only"),
    "pandas.core.indexes.timedeltas:_new_TimedeltaIndex": ("allow", "TimedeltaIndex: as _new_Index"),
    "pandas._libs.missing:NA": ("allow", "the pd.NA singleton (a value)"),
    "pandas:NA": ("allow", "the pd.NA singleton (a value)"),
    "pytz:_p": ("allow", "pytz zones: pytz.timezone(name) opens a file only for names in all_timezones_set (and refuses '..' and path separators)"),
    "dateutil.tz._tzfile:_unpickle": ("deny", "needs dateutil.tz._tzfile.tzfile as its argument, and that class cannot be allowed (see tzfile)"),
    "dateutil.tz._tzfile:tzfile": ("deny", "tzfile(path) called from a pickle opens and reads any file path (a FIFO or device blocks the load); no rule limits a class to argument-only use"),
    # ---- scikit-learn / scipy
    "sklearn.neighbors._kd_tree:newObj": ("allow", "KDTree pickles: newObj(cls) = cls.__new__(cls), the same effect as NEWOBJ; the type can only be an allowed global"),
    "sklearn.neighbors._ball_tree:newObj": ("allow", "BallTree pickles: newObj(cls) = cls.__new__(cls), as NEWOBJ"),
    "sklearn.metrics._dist_metrics:newObj": ("allow", "DistanceMetric pickles: newObj(cls) = cls.__new__(cls), as NEWOBJ"),
    "sklearn.cluster._kmeans:_kmeans_single_lloyd": ("allow", "BisectingKMeans keeps it as an attribute; numeric, takes arrays only"),
    "scipy._lib.array_api_compat.numpy._aliases:asarray": ("allow", "scipy.interpolate.BSpline (SplineTransformer) keeps it as an attribute: numpy.asarray wrapper, data only"),
}

for _f in NUMPY_FUNCTIONS:
    REVIEW["numpy:%s" % _f] = ("allow", "aggregation function estimators keep as a parameter (FeatureAgglomeration(pooling_func=np.mean)); numeric, takes arrays")
REVIEW["pytz:_UTC"] = ("allow", "returns the pytz.utc singleton; takes no arguments")

# Cython __pyx_unpickle_<Cls>(type, checksum, state): checksum, then <Cls>.__new__(type)
# which requires type to be a <Cls> subtype. Loss functions of sklearn.
for _m in ("_loss", "sklearn._loss._loss"):
    for _c in ("CyHalfBinomialLoss", "CyHalfGammaLoss", "CyHalfMultinomialLoss", "CyHalfPoissonLoss",
               "CyHalfSquaredError", "CyHalfTweedieLoss", "CyHuberLoss", "CyAbsoluteError", "CyPinballLoss",
               "CyHuberLoss", "CyExponentialLoss", "CyHalfGammaLoss"):
        REVIEW["%s:__pyx_unpickle_%s" % (_m, _c)] = ("allow", "Cython unpickler of a loss object: checks a layout checksum, then %s.__new__ of its type argument, which Cython refuses unless it is a %s subtype; the state is numbers" % (_c, _c))

# Functions that estimators keep as parameters (score_func, scoring, func=...): they are
# references, not called while loading; each is numeric code taking arrays.
for _g in ("sklearn.feature_selection._univariate_selection:f_classif",
           "sklearn.feature_selection._univariate_selection:f_regression",
           "sklearn.feature_selection._univariate_selection:chi2",
           "sklearn.feature_selection._mutual_info:mutual_info_classif",
           "sklearn.feature_selection._mutual_info:mutual_info_regression",
           "sklearn.metrics._classification:f1_score",
           "sklearn.metrics._classification:balanced_accuracy_score",
           "sklearn.metrics._classification:log_loss",
           "sklearn.metrics._classification:accuracy_score",
           "sklearn.metrics._ranking:roc_auc_score",
           "sklearn.metrics._regression:mean_absolute_error",
           "sklearn.metrics._regression:r2_score"):
    REVIEW[_g] = ("allow", "kept by estimators as a parameter (score_func / scorer); numeric, takes arrays")

# Module prefixes never allowed, whatever a pickle says (the hazards file).
DENY_MODULES = ("os", "posix", "nt", "sys", "subprocess", "socket", "shutil", "importlib", "pkgutil",
                "pydoc", "functools", "operator", "runpy", "code", "codeop", "ctypes", "multiprocessing",
                "pickle", "_pickle", "marshal", "io", "tempfile", "webbrowser", "scipy.stats",
                "joblib.memory", "joblib.parallel", "sklearn.callback", "torch.serialization._load")
DENY_NAMES = {
    ("builtins", n) for n in ("eval", "exec", "compile", "__import__", "open", "input", "breakpoint",
                              "type", "globals", "locals", "vars", "setattr", "delattr", "getattr")
} | {("numpy", "vectorize"), ("numpy", "frompyfunc"), ("numpy", "load"), ("numpy", "loadtxt"),
     ("numpy", "fromfile"), ("numpy", "genfromtxt"), ("numpy", "memmap"), ("joblib", "load"),
     ("torch", "load"), ("pickle", "loads"), ("importlib", "import_module"), ("pkgutil", "resolve_name"),
     ("pydoc", "locate")}


def deny_reason(key):
    mod, qual = key.split(":", 1)
    if (mod, qual) in DENY_NAMES and key not in REVIEW:
        return "never allowed (policy-hazards)"
    for m in DENY_MODULES:
        if mod == m or mod.startswith(m + "."):
            if m == "scipy.stats":
                return "scipy.stats distribution: rv_generic.__setstate__ exec()s a template from the pickled state"
            return "module %s is never allowed" % m
    return None


# getattr(<class>, '<attr>') pairs real pickles make: one entry each.
GETATTR_PAIRS = {
    ("zoneinfo:ZoneInfo", "_unpickle"): ("stdlib-data", "ZoneInfo pickles as getattr(ZoneInfo, '_unpickle')(key, from_cache); the key is checked against path traversal and read from TZPATH/tzdata only"),
}

# Entries added without an observing pickle (completeness, other writers, aliases).
EXTRA = {
    "stdlib-data": {
        "builtins:set": "set at protocols < 4 (set([...])), and a defaultdict factory",
        "builtins:frozenset": "frozenset at protocols < 4",
        "builtins:bytearray": "bytearray at protocols < 5",
        "builtins:bytes": "bytes at protocol 3-",
        "codecs:encode": "older writers' form of _codecs.encode",
        "copyreg:__newobj__": "protocol 0-1 writers that spell NEWOBJ as a call",
        "copyreg:__newobj_ex__": "protocol 0-1 writers, NEWOBJ_EX as a call",
        "builtins:str": "defaultdict factory / type values",
        "builtins:float": "defaultdict factory / type values",
        "builtins:tuple": "defaultdict factory / type values",
        "builtins:bool": "defaultdict factory / type values",
        "builtins:complex": "complex numbers",
        "datetime:tzinfo": "base class referenced by tzinfo subclasses' reduce",
        "pathlib:WindowsPath": "Windows paths pickled on Windows (a path is data: nothing opens it)",
        "pathlib:PurePath": "base path class",
        "uuid:SafeUUID": "uuid.UUID.is_safe enum",
        "collections:UserDict": "plain containers",
        "collections:UserList": "plain containers",
        "collections:UserString": "plain containers",
    },
    "numpy": {
        "builtins:set": "numpy object arrays holding sets at protocols < 4",
        "builtins:frozenset": "numpy object arrays holding frozensets at protocols < 4",
        "builtins:bytearray": "bytearray at protocols < 5",
    },
}

# PyTorch's own weights-only allowlist, from torch/_weights_only_unpickler.py
# (_get_allowed_globals, _tensor_rebuild_functions) and torch/storage.py
# (_dtype_to_storage_type_map, _new_dtypes), torch/__init__.py (_storage_classes) and
# torch/csrc/utils/tensor_types.cpp (all_declared_types → torch._tensor_classes), as read
# in the pytorch/pytorch repository at commit 00f730b66e58769f9698d9236f58cd46c3794115
# (torch/_weights_only_unpickler.py). torch is not installable here, so this is data.
def torch_weights_only():
    out = {}

    def add(name, why, verdict="allow"):
        mod, _, qual = name.rpartition(".")
        out["%s:%s" % (mod, qual)] = (verdict, why)

    for n in ("collections.OrderedDict", "collections.Counter"):
        add(n, "torch allowlist: state dicts and their metadata")
    add("torch.nn.parameter.Parameter", "torch allowlist: nn.Parameter")
    add("torch.serialization._get_layout", "torch allowlist: layout by name; looks the string up among torch.layout objects only")
    add("torch.Size", "torch allowlist")
    add("torch.Tensor", "torch allowlist")
    add("torch.device", "torch allowlist: device from a string such as 'cuda:0' (parsed, nothing opened)")
    add("_codecs.encode", "torch allowlist: bytes at protocol 2")
    add("builtins.bytearray", "torch allowlist")
    add("builtins.set", "torch allowlist")
    add("builtins.complex", "torch allowlist")
    # dtypes: str(dtype) is 'torch.<canonical name>'
    legacy = {"float64": "DoubleStorage", "float32": "FloatStorage", "float16": "HalfStorage",
              "int64": "LongStorage", "int32": "IntStorage", "int16": "ShortStorage", "int8": "CharStorage",
              "uint8": "ByteStorage", "bool": "BoolStorage", "bfloat16": "BFloat16Storage",
              "complex128": "ComplexDoubleStorage", "complex64": "ComplexFloatStorage", "qint8": "QInt8Storage",
              "qint32": "QInt32Storage", "quint8": "QUInt8Storage", "quint4x2": "QUInt4x2Storage",
              "quint2x4": "QUInt2x4Storage"}
    new = ("float8_e5m2", "float8_e4m3fn", "float8_e5m2fnuz", "float8_e4m3fnuz", "float8_e8m0fnu", "bits8",
           "bits16", "bits1x8", "bits2x4", "bits4x2", "complex32", "uint16", "uint32", "uint64")
    for d in list(legacy) + list(new) + ["uint%d" % i for i in range(1, 8)] + ["int%d" % i for i in range(1, 8)]:
        add("torch." + d, "torch allowlist: dtype")
    # legacy tensor types
    scalars = ("Byte", "Char", "Double", "Float", "Int", "Long", "Short", "Half", "Bool", "BFloat16")
    for mod in ("torch", "torch.cuda", "torch.sparse", "torch.cuda.sparse"):
        for s in scalars:
            if s == "Bool" and "sparse" in mod:
                continue  # "there is no sparse bool type"
            add("%s.%sTensor" % (mod, s), "torch allowlist: legacy tensor type (torch._tensor_classes)")
    # storage classes
    for st in legacy.values():
        add("torch." + st, "torch allowlist: legacy storage class (torch._storage_classes)")
    for st in ("DoubleStorage", "FloatStorage", "LongStorage", "IntStorage", "ShortStorage", "CharStorage",
               "ByteStorage", "HalfStorage", "BoolStorage", "BFloat16Storage", "ComplexDoubleStorage",
               "ComplexFloatStorage"):
        add("torch.cuda." + st, "torch allowlist: CUDA legacy storage class (registered by torch.cuda)")
    add("torch.storage.UntypedStorage", "torch allowlist: storage class")
    add("torch.storage.TypedStorage", "torch allowlist: storage class")
    add("torch.UntypedStorage", "kept from the previous hard-coded Policy::pytorch (same class, re-exported name)")
    for q in ("per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric",
              "per_channel_affine_float_qparams"):
        add("torch." + q, "torch allowlist: quantization scheme")
    for f in ("_rebuild_parameter", "_rebuild_parameter_with_state", "_rebuild_qtensor", "_rebuild_tensor",
              "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_sparse_tensor",
              "_rebuild_meta_tensor_no_storage", "_rebuild_device_tensor_from_numpy",
              "_rebuild_device_tensor_from_cpu_tensor"):
        add("torch._utils." + f, "torch allowlist: tensor rebuild function (data arguments; backward_hooks are stored, not called, at load)")
    add("torch._utils._rebuild_wrapper_subclass", "torch allowlist: takes a class; torch's C++ _make_wrapper_subclass refuses anything but a Tensor subclass, and the class can only be an allowed global")
    add("torch._tensor._rebuild_from_type_v2",
        "LEFT OUT although torch allows it: _rebuild_from_type_v2(func, new_type, args, state) calls func(*args) for whatever func it is given, so it would re-open every rule-guarded global (getattr, RNG constructors) with unchecked arguments; needs a rule 'func is one of the torch._utils rebuild functions, new_type an allowed Tensor class'. Plain tensors and Parameters do not use it; tensor subclasses and tensors with Python attributes do",
        "deny")
    return out


PRESETS = {
    "stdlib-data": {"includes": [], "features": [], "title": "Python standard-library data types"},
    "numpy": {"includes": [], "features": [("buffer-placeholders", "protocol-5 out-of-band arrays (pickle.dumps(a, protocol=5, buffer_callback=...)) refer to buffers that travel outside the stream")],
              "title": "NumPy arrays, scalars, dtypes, masked arrays, random generators (numpy 1.x and 2.x names)"},
    "pandas": {"includes": ["numpy", "stdlib-data"], "features": [], "title": "pandas DataFrame/Series/Index, extension arrays, dtypes, offsets"},
    "sklearn": {"includes": ["numpy", "stdlib-data"], "features": [], "title": "scikit-learn estimators and the scipy types they hold"},
    "pytorch": {"includes": [], "features": [("persistent-ids", "torch.save writes every storage as a persistent id")],
                "title": "PyTorch checkpoints (torch.load(weights_only=True)'s own allowlist)"},
    "ml": {"includes": ["stdlib-data", "numpy", "pandas", "sklearn", "pytorch"], "features": [], "title": "everything above"},
}

STDLIB_TOP = {"builtins", "_codecs", "codecs", "copyreg", "collections", "datetime", "decimal", "fractions",
              "uuid", "pathlib", "zoneinfo", "ipaddress", "argparse", "re", "http", "enum", "array", "time", "types",
              "urllib"}


def owner(key):
    top = key.split(":", 1)[0].split(".")[0]
    if top in STDLIB_TOP:
        return "stdlib-data"
    if top in ("numpy", "joblib"):
        return "numpy"
    if top in ("pandas", "pytz", "dateutil"):
        return "pandas"
    if top in ("sklearn", "scipy", "_loss"):
        return "sklearn"
    return None


def decide(key, info):
    """(verdict, reason) for a collected global."""
    dr = deny_reason(key)
    if dr:
        return ("deny", dr)
    if key in REVIEW:
        return REVIEW[key]
    if info["kind"] == "class":
        return ("allow", "class")
    if info["kind"] == "value":
        return ("allow", "value (singleton/constant), not a callable")
    if key.startswith("numpy") and info.get("ufunc"):
        return ("allow", "numpy ufunc: elementwise math on arrays")
    return ("unreviewed", "callable with no review entry: left out until someone reviews it")


# ---------------------------------------------------------------------------------------
# Part 3: write presets and the summary
# ---------------------------------------------------------------------------------------

def merge(runs):
    """{group: {key: info}} over every interpreter's run, plus calls and errors."""
    groups, calls, errors = {}, {}, []
    for tag, run in runs:
        for g, r in run["groups"].items():
            for k, v in r["globals"].items():
                info = groups.setdefault(g, {}).setdefault(k, {"kind": v["kind"], "examples": set(), "envs": set()})
                if info["kind"].startswith("unresolved"):
                    info["kind"] = v["kind"]
                info["examples"].update(v["examples"])
                info["envs"].add(tag)
            for k, v in r["calls"].items():
                calls.setdefault(k, set()).update(tuple(a) for a in v)
            errors += ["[%s] %s" % (tag, e) for e in r["errors"]]
    return groups, calls, errors


def is_ufunc_name(key, runs):
    return any(ex.startswith("ufunc ") for _t, run in runs for r in run["groups"].values()
               for e, v in r["globals"].items() if e == key for ex in v["examples"])


def fmt_examples(info, n=3):
    ex = sorted(info["examples"])
    s = ", ".join(ex[:n]) + (", ..." if len(ex) > n else "")
    return "%s [%s]" % (s, "+".join(sorted(info["envs"])))


def build(runs):
    groups, calls, errors = merge(runs)
    allg = {}
    for g, d in groups.items():
        for k, v in d.items():
            a = allg.setdefault(k, {"kind": v["kind"], "examples": set(), "envs": set(), "groups": set()})
            a["examples"] |= v["examples"]
            a["envs"] |= v["envs"]
            a["groups"].add(g)
            if a["kind"].startswith("unresolved"):
                a["kind"] = v["kind"]
    for k, a in allg.items():
        a["ufunc"] = is_ufunc_name(k, runs)

    entries = {p: {} for p in PRESETS}  # preset -> {line_key: (verdict, reason)}
    left_out = {}  # key -> (preset, reason)
    for k, a in sorted(allg.items()):
        verdict, reason = decide(k, a)
        targets = {owner(k)}
        # numpy does not include stdlib-data: it lists the few builtins its pickles need
        if "numpy" in a["groups"] and owner(k) == "stdlib-data":
            targets.add("numpy")
        targets.discard(None)
        if not targets:
            left_out[k] = ("?", "no preset owns module %s" % k.split(":")[0], a)
            continue
        why = reason if reason != "class" else "class"
        for t in targets:
            if k == "builtins:getattr" and GETATTR_PAIRS:
                continue  # allowed only as the rule lines GETATTR_PAIRS writes
            if verdict in ("deny", "unreviewed"):
                left_out[k] = (t, ("UNREVIEWED: " if verdict == "unreviewed" else "") + reason, a)
            else:
                entries[t][k] = (verdict, "%s; pickled by: %s" % (why, fmt_examples(a)) if why == "class" else "%s. Seen in: %s" % (why, fmt_examples(a)))
    for p, extra in EXTRA.items():
        for k, why in extra.items():
            if k not in entries[p]:
                entries[p][k] = REVIEW.get(k, ("allow", ""))[0:1] + (why,)
                if entries[p][k][0] == "deny":
                    entries[p][k] = ("allow", why)
    for (cls, attr), (p, why) in GETATTR_PAIRS.items():
        entries[p]["builtins:getattr#%s.%s" % (cls, attr)] = ("rule=getattr(%s,%s)" % (cls, attr), why)
    for k, (verdict, why) in torch_weights_only().items():
        if verdict == "deny":
            left_out[k] = ("pytorch", why, None)
        else:
            entries["pytorch"][k] = (verdict, why)

    # every rule-bearing call that real pickles made must satisfy its rule
    rule_checks = check_rules(calls)
    # coverage: every global a group's pickles need, against the preset (and includes)
    coverage = {}
    group_preset = {"stdlib": "stdlib-data", "numpy": "numpy", "pandas": "pandas", "sklearn": "sklearn"}
    for g, d in groups.items():
        p = group_preset[g]
        have = closure(p, entries)
        coverage[g] = sorted(k for k in d if k not in have and not (k == "builtins:getattr" and any(x.startswith("builtins:getattr#") for x in have)))
    return entries, left_out, errors, rule_checks, coverage, allg


def closure(p, entries, seen=None):
    seen = seen if seen is not None else set()
    if p in seen:
        return set()
    seen.add(p)
    out = set(entries[p])
    for inc in PRESETS[p]["includes"]:
        out |= closure(inc, entries, seen)
    return out


BITGEN_CLASSES = {"numpy.random._mt19937:MT19937", "numpy.random._pcg64:PCG64", "numpy.random._pcg64:PCG64DXSM",
                  "numpy.random._philox:Philox", "numpy.random._sfc64:SFC64"}
BITGEN_NAMES = {"'%s'" % c.split(":")[1] for c in BITGEN_CLASSES}


def check_rules(calls):
    """What each watched callable was really given, and whether its rule accepts it."""
    out = []
    for g, argsets in sorted(calls.items()):
        for args in sorted(argsets):
            ok, note = True, ""
            if g == "builtins:getattr":
                ok = (args[0], args[1].strip("'")) in GETATTR_PAIRS
            elif g == "collections:defaultdict":
                ok = len(args) == 0 or args[0] in ("None", "builtins:list", "builtins:dict", "builtins:set", "builtins:int",
                                                    "builtins:float", "builtins:str", "builtins:tuple", "builtins:frozenset",
                                                    "builtins:bytes", "builtins:bool", "collections:OrderedDict",
                                                    "collections:Counter", "collections:deque", "collections:defaultdict")
            elif g == "copyreg:_reconstructor":
                ok = args[1].startswith("builtins:")
                note = "base %s" % args[1]
            elif g == "numpy.random._pickle:__bit_generator_ctor":
                ok = args[0] in BITGEN_CLASSES or args[0] in BITGEN_NAMES
            elif g in ("numpy.random._pickle:__randomstate_ctor", "numpy.random._pickle:__generator_ctor"):
                first_ok = args[0] in BITGEN_CLASSES or args[0] in BITGEN_NAMES
                if args[0].strip("<>") in {c.split(":")[1] for c in BITGEN_CLASSES}:
                    first_ok = True
                    note = "first argument is a bit-generator INSTANCE made by a nested __bit_generator_ctor(<class>) call (numpy >= 2): the rng-ctor rule must accept that"
                ok = first_ok and (len(args) < 2 or args[1] == "numpy.random._pickle:__bit_generator_ctor")
            out.append((g, args, ok, note))
    return out


def render(p, entries, left_out, header_versions, today):
    lines = ["# pickleproof policy preset: %s — %s" % (p, PRESETS[p]["title"]),
             "# Generated by scripts/gen_policies.py on %s; do not edit by hand. Sources:" % today]
    lines += ["#   %s" % h for h in header_versions]
    lines += ["# Format and regeneration: policies/README.md. Each entry's comment says why it is",
              "# allowed and which collected objects pickled to it ([np2] = numpy 2.x environment,",
              "# [np1] = numpy 1.x environment).", ""]
    for inc in PRESETS[p]["includes"]:
        lines.append("include %s" % inc)
    for feat, why in PRESETS[p]["features"]:
        lines.append("feature %s  # %s" % (feat, why))
    if PRESETS[p]["includes"] or PRESETS[p]["features"]:
        lines.append("")
    for key in sorted(entries[p], key=lambda k: k.split("#")[0] + "#" + k):
        verdict, why = entries[p][key]
        name = key.split("#")[0]
        rule = "  " + verdict if verdict.startswith("rule=") else ""
        lines.append(("%s%s  # %s" % (name, rule, why)).rstrip().rstrip("#").rstrip())
    outs = sorted((k, v) for k, v in left_out.items() if v[0] == p)
    if outs:
        lines += ["", "# Left out on purpose (real pickles can contain these; a load that meets one fails):"]
        for k, (_p, why, _a) in outs:
            lines.append("#   %s — %s" % (k, why))
    return "\n".join(lines) + "\n"


def entry_line(key, verdict):
    name = key.split("#")[0]
    return name + ("  " + verdict if verdict.startswith("rule=") else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--collect", help=argparse.SUPPRESS)
    ap.add_argument("--check", action="store_true", help="collect and print the summary; write nothing")
    ap.add_argument("--out", default=str(OUT), help="directory for the presets (default: policies/)")
    args = ap.parse_args()
    if args.collect:
        json.dump(collect_here(args.collect.split(",")), sys.stdout, indent=1, sort_keys=True)
        return 0
    groups = list(GROUPS)
    runs = [("np2" if versions().get("numpy", "0").startswith("2") else "np1", collect_here(groups))]
    other = collect_in(NP1_PYTHON, groups)
    if other is None:
        print("note: no numpy 1.x interpreter at %s (set PICKLEPROOF_NP1_PYTHON); numpy.core.* names come only from the review tables" % NP1_PYTHON)
    else:
        runs.append(("np1", other))
    entries, left_out, errors, rule_checks, coverage, allg = build(runs)

    vers = []
    for tag, run in runs:
        v = run["versions"]
        vers.append(" ".join("%s==%s" % (k, v[k]) for k in ("numpy", "scipy", "pandas", "scikit-learn", "joblib", "pytz", "python-dateutil") if k in v)
                    + " (Python %s)" % v["python"])
    today = os.environ.get("PICKLEPROOF_POLICY_DATE") or _dt.date.today().isoformat()
    header = vers

    out = pathlib.Path(args.out)
    if not args.check:
        out.mkdir(parents=True, exist_ok=True)
    old = {}
    for p in PRESETS:
        f = out / ("%s.txt" % p)
        old[p] = set(l.split("#")[0].strip() for l in f.read_text().splitlines() if l.strip() and not l.startswith("#")) if f.exists() else set()
        text = render(p, entries, left_out, header if p != "pytorch" else ["PyTorch's weights-only allowlist as data in the script: torch/_weights_only_unpickler.py,", "torch/storage.py, torch/__init__.py, torch/csrc/utils/tensor_types.cpp in pytorch/pytorch", "(torch/_weights_only_unpickler.py at commit 00f730b66e58769f9698d9236f58cd46c3794115)"], today)
        if not args.check:
            f.write_text(text)

    # ---- summary (sorted, one fact per line, so two runs diff cleanly)
    print("== sources")
    for tag, run in runs:
        print("source\t%s\t%s\tobjects=%s" % (tag, " ".join("%s=%s" % kv for kv in sorted(run["versions"].items())),
                                               "/".join("%s:%d" % (g, r["objects"]) for g, r in sorted(run["groups"].items()))))
    print("== presets")
    for p in PRESETS:
        new = set(entry_line(k, v[0]) for k, v in entries[p].items())
        new |= {"include %s" % i for i in PRESETS[p]["includes"]} | {"feature %s" % f for f, _ in PRESETS[p]["features"]}
        print("preset\t%s\tentries=%d\tincludes=%s" % (p, len(entries[p]), ",".join(PRESETS[p]["includes"]) or "-"))
        for line in sorted(new - old[p]) if old[p] else []:
            print("added\t%s\t%s" % (p, line))
        for line in sorted(old[p] - new):
            print("removed\t%s\t%s" % (p, line))
    print("== left out")
    for k, (p, why, _a) in sorted(left_out.items()):
        print("left-out\t%s\t%s\t%s" % (p, k, why))
    print("== rule checks (arguments real pickles pass to rule-bearing globals)")
    bases = collections.Counter()
    for g, a, ok, note in rule_checks:
        if g == "copyreg:_reconstructor" and ok:
            bases[a[1]] += 1
            continue
        print("rule\t%s\t%s\t(%s)%s" % ("ok" if ok else "FAILS", g, ", ".join(a), ("\t" + note) if note else ""))
    for b, n in sorted(bases.items()):
        print("rule\tok\tcopyreg:_reconstructor\t(<allowed class>, %s, ...) x%d classes" % (b, n))
    print("== coverage (globals a group's pickles import that its preset does not allow)")
    for g, missing in sorted(coverage.items()):
        for k in missing:
            print("uncovered\t%s\t%s\t%s" % (g, k, fmt_examples(allg[k], 2)))
    print("== collection errors (objects a version cannot build or pickle)")
    for e in sorted(errors):
        print("error\t%s" % e.replace("\n", " ")[:240])
    return 0


if __name__ == "__main__":
    sys.exit(main())
