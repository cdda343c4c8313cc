#!/usr/bin/env python3
"""Regenerate pickleproof's *benign* corpus (corpus/benign/).

    /work/venv/bin/python corpus/benign/generate.py          # everything
    /work/venv/bin/python corpus/benign/generate.py --no-np1 # skip the numpy 1.x worker

Needs the packages pinned in requirements.txt (numpy 2.x, scikit-learn, pandas, joblib,
lz4). Files written by numpy 1.x come from a second interpreter (default
/work/venv-np1/bin/python, override with $PICKLEPROOF_NP1_PYTHON) with the pins in the
"numpy 1.x worker" block of requirements.txt; it is run as a subprocess with
``--numpy1-worker`` and skipped with a message if missing.

Every file is produced by the real library's own writer (pickle.dumps, joblib.dump,
np.save, DataFrame.to_pickle, ...), except the PyTorch files, which come from
torch_layout.py (torch is not installed; see that module's docstring).

manifest.json records, per file, the library and version, writer, container,
description, expectation and `globals`: every `module.qualname` that the file's pickle
streams import, found by walking the bytes with pickletools.genops (GLOBAL/INST
arguments, and STACK_GLOBAL operands tracked through a small stack + memo model).
For joblib files, whose pickle stream has raw array bytes inline, the globals are
recorded by loading *our own freshly written file* with joblib, with find_class
wrapped to record (module, name) before delegating. Nothing else is ever unpickled.
Names are as written in the stream: protocol 0-2 pickles written by Python 3 use the
Python 2 spellings (`__builtin__.set`, `copy_reg._reconstructor`).

The script owns corpus/benign/ except generate.py, torch_layout.py, requirements.txt
and README.md: every other file there is deleted before writing.
"""
import bz2
import gzip
import io
import json
import lzma
import os
import pickle
import pickletools
import shutil
import struct
import subprocess
import sys
import tarfile
import warnings
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
KEEP = {"generate.py", "torch_layout.py", "requirements.txt", "README.md", "__pycache__"}
NP1_PYTHON = os.environ.get("PICKLEPROOF_NP1_PYTHON", "/work/venv-np1/bin/python")
MAX_FILE = 64 * 1024

# Determinism: str hashing (set order) and single-threaded BLAS (bit-identical floats).
_ENV = {"PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1"}
if any(os.environ.get(k) != v for k, v in _ENV.items()):
    os.environ.update(_ENV)
    os.execv(sys.executable, [sys.executable] + sys.argv)

warnings.filterwarnings("ignore")


# ============================================================================ globals
def walk_pickle(data, start=0):
    """Globals imported by the single pickle starting at `start`. Returns (set, end)."""
    bio = io.BytesIO(data)
    bio.seek(start)
    mark = object()
    stack, memo, found = [], {}, set()
    for op, arg, _pos in pickletools.genops(bio):
        name = op.name
        if name in ("GLOBAL", "INST"):
            mod, qual = arg.split(" ", 1)
            found.add(f"{mod}.{qual}")
        if name == "STACK_GLOBAL":
            qual, mod = stack.pop(), stack.pop()
            if not (isinstance(mod, str) and isinstance(qual, str)):
                raise ValueError("STACK_GLOBAL operands are not tracked strings")
            found.add(f"{mod}.{qual}")
            stack.append(None)
        elif name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE",
                      "SHORT_BINSTRING", "BINSTRING", "STRING"):
            stack.append(arg)
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = stack[-1]
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(memo[arg])
        elif name == "DUP":
            stack.append(stack[-1])
        elif name == "MARK":
            stack.append(mark)
        elif name == "STOP":
            return found, bio.tell()
        else:
            before = op.stack_before
            if pickletools.markobject in before:
                while stack.pop() is not mark:
                    pass
                for _ in range(before.index(pickletools.markobject)):
                    stack.pop()
            else:
                for _ in before:
                    stack.pop()
            stack.extend([None] * len(op.stack_after))
    raise ValueError("pickle without STOP")


def walk_all(data, count=None):
    """Globals of consecutive pickles filling `data` (or the first `count`)."""
    found, pos, n = set(), 0, 0
    while pos < len(data) and (count is None or n < count):
        g, pos = walk_pickle(data, pos)
        found |= g
        n += 1
    return found, pos


def npy_globals(data):
    if data[:6] != b"\x93NUMPY":
        raise ValueError("not an npy file")
    major = data[6]
    if major == 1:
        hlen = struct.unpack("<H", data[8:10])[0]
        start = 10 + hlen
    else:
        hlen = struct.unpack("<I", data[8:12])[0]
        start = 12 + hlen
    if start < len(data) and data[start:start + 1] == b"\x80":
        header = data[10:start].decode("latin1")
        if "'O'" in header or "|O" in header:
            return walk_pickle(data, start)[0]
    return set()


def zip_members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(n, zf.read(n)) for n in zf.namelist()]


def tar_members(data):
    out = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf.getmembers():
            if m.isfile():
                out.append((m.name, tf.extractfile(m).read()))
    return out


def legacy_tar_globals(data):
    found = set()
    members = dict(tar_members(data))
    found |= walk_all(members["sys_info"])[0]
    found |= walk_all(members["pickle"])[0]
    t = members["tensors"]
    g, pos = walk_pickle(t)
    found |= g
    count = pickle.loads(t[:pos])  # an int we wrote ourselves
    for _ in range(count):
        g, pos = walk_pickle(t, pos)
        found |= g
        ndim = struct.unpack_from("<q", t, pos)[0]
        pos += 8 + 16 * ndim + 8
    s = members["storages"]
    g, pos = walk_pickle(s)
    found |= g
    count = pickle.loads(s[:pos])
    for _ in range(count):
        g, pos = walk_pickle(s, pos)
        found |= g
        numel_pos = pos
        numel = struct.unpack_from("<q", s, numel_pos)[0]
        # element size from the storage class name in the tuple we just walked
        itemsize = _legacy_itemsize(s[:pos], numel, s, numel_pos)
        pos = numel_pos + 8 + numel * itemsize
    found |= walk_pickle(s, pos)[0]
    return found


def _legacy_itemsize(prefix, numel, s, numel_pos):
    import torch_layout
    for dtype, (sname, size, _f) in torch_layout.DTYPES.items():
        if f"torch\n{sname}\n".encode() in prefix[-200:]:
            return size
    raise ValueError("unknown storage class in legacy tar")


def joblib_globals(path):
    import joblib
    import joblib.numpy_pickle as npk
    found = set()
    real_pickle = npk.pickle

    class Rec(pickle.Unpickler):
        def find_class(self, module, name):
            found.add(f"{module}.{name}")
            return super().find_class(module, name)

    class Shim:
        def __getattr__(self, n):
            return getattr(real_pickle, n)

        def load(self, f, **kw):
            return Rec(f, **kw).load()

    orig = npk.NumpyUnpickler.find_class

    def fc(self, module, name):
        found.add(f"{module}.{name}")
        return orig(self, module, name)

    npk.NumpyUnpickler.find_class = fc
    npk.pickle = Shim()
    try:
        joblib.load(path)  # our own file, written a moment ago
    finally:
        npk.NumpyUnpickler.find_class = orig
        npk.pickle = real_pickle
    return found


def globals_for(container, data, path):
    c = container
    if c == "pickle":
        return walk_pickle(data)[0]
    if c == "pickle-multi":
        return walk_all(data)[0]
    if c in ("gzip", "pandas-gzip"):
        return walk_pickle(gzip.decompress(data))[0]
    if c in ("bz2", "pandas-bz2"):
        return walk_pickle(bz2.decompress(data))[0]
    if c in ("xz", "pandas-xz"):
        return walk_pickle(lzma.decompress(data))[0]
    if c == "zlib":
        return walk_pickle(zlib.decompress(data))[0]
    if c == "lz4":
        import lz4.frame
        return walk_pickle(lz4.frame.decompress(data))[0]
    if c == "pandas-zip":
        return set().union(*(walk_pickle(d)[0] for _, d in zip_members(data)))
    if c == "pandas-tar":
        return set().union(*(walk_pickle(d)[0] for _, d in tar_members(data)))
    if c.startswith("joblib"):
        return joblib_globals(path)
    if c == "npy":
        return npy_globals(data)
    if c in ("npz", "npz-deflate"):
        return set().union(set(), *(npy_globals(d) for _, d in zip_members(data)))
    if c in ("torch-zip", "torchscript"):
        return set().union(set(), *(walk_pickle(d)[0] for n, d in zip_members(data)
                                    if n.endswith(".pkl")))
    if c == "torch-legacy":
        return walk_all(data, count=5)[0]
    if c == "torch-legacy-tar":
        return legacy_tar_globals(data)
    raise ValueError(f"unknown container {c}")


def recorded_globals(data, buffers=None):
    """Load OUR OWN just-written pickle with find_class recording. Verification only."""
    found = set()

    class Rec(pickle.Unpickler):
        def find_class(self, module, name):
            found.add(f"{module}.{name}")
            return super().find_class(module, name)

    Rec(io.BytesIO(data), buffers=buffers).load()
    return found


_DECOMP = {"pickle": lambda d: d, "gzip": gzip.decompress, "bz2": bz2.decompress,
           "xz": lzma.decompress, "zlib": zlib.decompress, "pandas-gzip": gzip.decompress,
           "pandas-bz2": bz2.decompress, "pandas-xz": lzma.decompress}


def self_check(c):
    """Cross-check the static walker against a recording Unpickler, on files of this run."""
    checked = 0
    for name, e in c.entries.items():
        dec = _DECOMP.get(e["container"])
        if dec is None and e["container"] == "lz4":
            import lz4.frame
            dec = lz4.frame.decompress
        if dec is None:
            continue
        with open(os.path.join(c.outdir, name), "rb") as f:
            data = dec(f.read())
        bufs = None
        if "oob_buffers" in e:
            bufs = []
            for fn in e["oob_buffers"]:
                with open(os.path.join(c.outdir, fn), "rb") as f:
                    bufs.append(f.read())
        rec = recorded_globals(data, bufs)
        if rec != set(e["globals"]):
            raise SystemExit(f"self-check: {name}: walker {sorted(e['globals'])} != loader {sorted(rec)}")
        checked += 1
    print(f"self-check: walker == recording Unpickler on {checked} {c.prefix or 'main'} files",
          file=sys.stderr)


# ============================================================================ corpus
class Corpus:
    def __init__(self, outdir, prefix=""):
        self.outdir = outdir
        self.prefix = prefix
        self.entries = {}
        self.skipped = []

    def add(self, name, data, *, library, version, writer, container, description,
            expect="clean", reason=None, category, extra=None):
        name = self.prefix + name
        path = os.path.join(self.outdir, name)
        if data is not None:
            with open(path, "wb") as f:
                f.write(data)
        with open(path, "rb") as f:
            data = f.read()
        if len(data) > MAX_FILE:
            print(f"  note: {name} is {len(data)} bytes (> {MAX_FILE})", file=sys.stderr)
        entry = {
            "library": library, "version": version, "writer": writer,
            "container": container, "description": description, "expect": expect,
            "category": category, "size": len(data),
            "globals": sorted(globals_for(container, data, path)),
        }
        if reason:
            entry["reason"] = reason
        gl = set(entry["globals"])
        if gl & {"builtins.getattr", "__builtin__.getattr"} and expect == "clean":
            entry["borderline"] = (
                "imports builtins.getattr: here getattr(zoneinfo.ZoneInfo, '_unpickle'), which is how "
                "every zoneinfo.ZoneInfo pickles (also inside tz-aware pandas data). Benign, but a "
                "policy that forbids getattr outright will flag it")
        if any(g.startswith("_loss.") for g in gl):
            entry["note"] = ("scikit-learn 1.5.x quirk: the Cython loss object is pickled under the "
                             "top-level module name '_loss' (not sklearn._loss._loss)")
        if extra:
            entry.update(extra)
        if name in self.entries:
            raise ValueError(f"duplicate file {name}")
        self.entries[name] = entry

    def skip(self, what, why):
        self.skipped.append(f"{self.prefix}{what}: {why}")
        print(f"  skipped {self.prefix}{what}: {why}", file=sys.stderr)


def _v(modname):
    mod = __import__(modname)
    return getattr(mod, "__version__", None)


PY = f"python {sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"


# ============================================================================ stdlib
def gen_stdlib(c):
    import argparse
    import collections
    import datetime as dt
    import decimal
    import fractions
    import functools
    import http
    import ipaddress
    import pathlib
    import re
    import time
    import urllib.parse
    import uuid
    import zoneinfo

    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    config = {
        "model": {"name": "tiny-mlp", "layers": [64, 32, 10], "dropout": 0.1,
                  "activation": "relu", "bias": True, "init": None},
        "optimizer": {"type": "adam", "lr": 3e-4, "betas": (0.9, 0.999), "eps": 1e-8},
        "data": {"path": "/data/train.csv", "shuffle": True, "seed": 1234,
                 "splits": {"train": 0.8, "val": 0.1, "test": 0.1}},
        "special_floats": [float("inf"), float("-inf"), 0.0, -0.0],
        "big_int": 2 ** 100, "neg_int": -(2 ** 40), "unicode": "héllo wörld ✓",
        "raw": b"\x00\x01\x02binary", "empty": {}, "nested_list": [[1, [2, [3, []]]]],
        "tags": ("alpha", "beta"),
    }
    ordered = collections.OrderedDict([("b", 2), ("a", 1), ("c", [3])])
    objs = [
        # (name, obj, protocols, description, expect, reason)
        ("datetime_naive", dt.datetime(2024, 5, 17, 13, 45, 30, 123456), "datetime.datetime without tzinfo"),
        ("datetime_utc", dt.datetime(2024, 5, 17, 13, 45, tzinfo=dt.timezone.utc), "datetime.datetime with timezone.utc"),
        ("datetime_offset", dt.datetime(2020, 2, 29, 23, 59, 59, tzinfo=dt.timezone(dt.timedelta(hours=-5), "EST")), "datetime with a named fixed-offset timezone"),
        ("date", dt.date(1999, 12, 31), "datetime.date"),
        ("time", dt.time(13, 45, 30, 5), "datetime.time"),
        ("timedelta", dt.timedelta(days=3, seconds=5, microseconds=7), "datetime.timedelta"),
        ("timezone", dt.timezone(dt.timedelta(hours=5, minutes=30)), "datetime.timezone fixed offset"),
        ("decimal", [decimal.Decimal("3.14159"), decimal.Decimal("-0"), decimal.Decimal("1E+10")], "decimal.Decimal values"),
        ("fraction", fractions.Fraction(22, 7), "fractions.Fraction"),
        ("uuid", uuid.UUID("12345678-1234-5678-1234-567812345678"), "uuid.UUID"),
        ("pure_posix_path", pathlib.PurePosixPath("/etc/app/config.yaml"), "pathlib.PurePosixPath"),
        ("posix_path", pathlib.Path("/tmp/run/output.txt"), "pathlib.Path (PosixPath on this platform)"),
        ("pure_windows_path", pathlib.PureWindowsPath(r"C:\Users\me\model.bin"), "pathlib.PureWindowsPath"),
        ("ordereddict", ordered, "collections.OrderedDict"),
        ("deque", collections.deque([1, 2, 3], maxlen=5), "collections.deque with maxlen"),
        ("counter", collections.Counter("abracadabra"), "collections.Counter"),
        ("defaultdict_list", collections.defaultdict(list, {"a": [1, 2], "b": []}), "collections.defaultdict(list)"),
        ("namedtuple_parseresult", urllib.parse.urlparse("https://example.com/a/b?q=1#frag"), "urllib.parse.ParseResult (a namedtuple from an importable module)"),
        ("struct_time", time.gmtime(0), "time.struct_time (structseq)"),
        ("argparse_namespace", argparse.Namespace(lr=0.1, epochs=3, name="run-1", flags=["a"]), "argparse.Namespace"),
        ("complex", [complex(1.5, -2.0), 1j], "complex numbers"),
        ("range", range(0, 10, 2), "range object"),
        ("slice", slice(1, 10, 2), "slice object"),
        ("regexflag", re.IGNORECASE | re.MULTILINE, "re.RegexFlag combination"),
        ("httpstatus", [http.HTTPStatus.OK, http.HTTPStatus.NOT_FOUND], "http.HTTPStatus enum members"),
        ("ipaddress", [ipaddress.IPv4Address("192.0.2.1"), ipaddress.IPv6Address("2001:db8::1"),
                       ipaddress.IPv4Network("198.51.100.0/24"), ipaddress.IPv6Interface("2001:db8::5/64")],
         "ipaddress objects"),
        ("re_pattern", re.compile(r"(?P<num>\d+)-\w+", re.IGNORECASE), "compiled re pattern"),
        ("config", config, "nested JSON-like training config with bytes, big ints, tuples"),
    ]
    for name, obj, desc in objs:
        for proto in (0, 2, 4, 5):
            try:
                data = pickle.dumps(obj, protocol=proto)
            except Exception as e:  # pragma: no cover - reported
                c.skip(f"{name}.p{proto}", repr(e))
                continue
            c.add(f"std_{name}.p{proto}.pkl", data, library="python-stdlib", version=PY,
                  writer=f"pickle.dumps protocol {proto}", container="pickle",
                  description=desc, category="stdlib")
    low = [
        ("set", {1, 2, 3, "x"}, "set"),
        ("frozenset", frozenset({"a", "b"}), "frozenset"),
        ("bytearray", bytearray(b"abc\x00\xff"), "bytearray"),
        ("bytes", b"\x00\x01hello\xff", "bytes (protocol < 3 encodes via _codecs.encode)"),
    ]
    for name, obj, desc in low:
        for proto in (0, 1, 2):
            c.add(f"std_{name}.p{proto}.pkl", pickle.dumps(obj, protocol=proto),
                  library="python-stdlib", version=PY, writer=f"pickle.dumps protocol {proto}",
                  container="pickle", description=desc + " at a low protocol", category="stdlib")
    # zoneinfo pickles as a bound classmethod -> builtins.getattr(ZoneInfo, '_unpickle')
    for proto in (2, 5):
        c.add(f"std_zoneinfo.p{proto}.pkl", pickle.dumps(berlin, protocol=proto),
              library="python-stdlib", version=PY, writer=f"pickle.dumps protocol {proto}",
              container="pickle", description="zoneinfo.ZoneInfo('Europe/Berlin')",
              category="stdlib")
        c.add(f"std_datetime_zoneinfo.p{proto}.pkl",
              pickle.dumps(dt.datetime(2024, 3, 31, 2, 30, tzinfo=berlin), protocol=proto),
              library="python-stdlib", version=PY, writer=f"pickle.dumps protocol {proto}",
              container="pickle", description="datetime with a zoneinfo.ZoneInfo tzinfo",
              category="stdlib")
    # borderline but benign
    c.add("std_functools_partial.p4.pkl", pickle.dumps(functools.partial(int, base=16), protocol=4),
          library="python-stdlib", version=PY, writer="pickle.dumps protocol 4", container="pickle",
          description="functools.partial(int, base=16)", category="stdlib",
          expect="suspicious",
          reason="benign, but functools.partial composes calls: the classic gadget shape a strict policy should flag")
    multi = io.BytesIO()
    for obj in ({"a": 1}, [1, 2, 3], "third"):
        pickle.dump(obj, multi, protocol=2)
    c.add("std_three_pickles.p2.pkl", multi.getvalue(), library="python-stdlib", version=PY,
          writer="pickle.dump x3 protocol 2 into one file", container="pickle-multi",
          description="three consecutive pickles in one file", category="stdlib")


# ============================================================================ numpy
def gen_numpy(c, tag):
    import numpy as np
    ver = np.__version__
    lib = dict(library="numpy", version=ver, category=f"numpy{tag}")
    rng = np.random.default_rng(42)
    arrays = {
        "bool": np.array([True, False, True, True]),
        "int8": np.arange(-4, 4, dtype=np.int8),
        "int16": np.arange(-3, 5, dtype=np.int16).reshape(2, 4),
        "int32": np.arange(6, dtype=np.int32).reshape(2, 3),
        "int64": np.array([-(2 ** 62), 0, 2 ** 62], dtype=np.int64),
        "uint8": np.arange(250, 256, dtype=np.uint8),
        "uint16": np.array([0, 65535], dtype=np.uint16),
        "uint32": np.array([0, 2 ** 32 - 1], dtype=np.uint32),
        "uint64": np.array([0, 2 ** 64 - 1], dtype=np.uint64),
        "float16": np.array([0.5, -1.25, np.inf], dtype=np.float16),
        "float32": rng.standard_normal((3, 4)).astype(np.float32),
        "float64": np.array([0.0, -0.0, np.nan, 1e308, 5e-324]),
        "complex64": np.array([1 + 2j, -3.5j], dtype=np.complex64),
        "complex128": np.array([1 + 2j, np.nan + 0j], dtype=np.complex128),
        "datetime64_ns": np.array(["2024-01-01T00:00:00", "2000-02-29T12:34:56.789"], dtype="datetime64[ns]"),
        "datetime64_D": np.array(["1970-01-01", "2038-01-19", "NaT"], dtype="datetime64[D]"),
        "timedelta64_s": np.array([0, 86400, -1], dtype="timedelta64[s]"),
        "unicode_U8": np.array(["alpha", "βeta", ""], dtype="<U8"),
        "bytes_S6": np.array([b"abc", b"\x00\xff", b"zzzzzz"], dtype="S6"),
        "big_endian_f8": np.array([1.0, 2.0], dtype=">f8"),
        "structured": np.array([(1.5, 2, "ab"), (-1.0, 7, "xyz")],
                               dtype=[("x", "<f4"), ("y", "<i8"), ("name", "<U4")]),
        "nested_structured": np.zeros(2, dtype=[("pos", "<f4", (3,)), ("meta", [("id", "<u2"), ("ok", "?")])]),
        "object_ints_strs": np.array([1, "two", 3, "four", None], dtype=object),
        "zero_d": np.array(3.25),
        "fortran": np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "noncontiguous": np.arange(20, dtype=np.int32)[::3],
    }
    for name, arr in arrays.items():
        for proto in (2, 5):
            c.add(f"np_{name}.p{proto}.pkl", pickle.dumps(arr, protocol=proto),
                  writer=f"pickle.dumps protocol {proto}", container="pickle",
                  description=f"numpy array: {name} (dtype {arr.dtype.str}, shape {arr.shape})", **lib)
    scalars = [np.float64(1.5), np.float32(-2.25), np.int32(3), np.int64(-7), np.uint8(255),
               np.bool_(True), np.complex128(1 - 1j), np.float16(0.5), np.str_("hi"),
               np.bytes_(b"raw"), np.datetime64("2024-01-01", "D"), np.timedelta64(5, "m")]
    for proto in (2, 4, 5):
        c.add(f"np_scalars.p{proto}.pkl", pickle.dumps(scalars, protocol=proto),
              writer=f"pickle.dumps protocol {proto}", container="pickle",
              description="list of numpy scalars of many types", **lib)
        c.add(f"np_scalar_float64.p{proto}.pkl", pickle.dumps(np.float64(1.5), protocol=proto),
              writer=f"pickle.dumps protocol {proto}", container="pickle",
              description="np.float64(1.5) alone", **lib)
    dtypes = [np.dtype("f8"), np.dtype("<i4"), np.dtype(">u2"), np.dtype("<U3"), np.dtype("S5"),
              np.dtype("M8[ns]"), np.dtype("m8[s]"), np.dtype("O"), np.dtype("?"), np.dtype("c16"),
              np.dtype([("a", "<f4"), ("b", "<i2", (2,))])]
    for proto in (2, 5):
        c.add(f"np_dtypes.p{proto}.pkl", pickle.dumps(dtypes, protocol=proto),
              writer=f"pickle.dumps protocol {proto}", container="pickle",
              description="numpy dtype objects", **lib)
    gens = {
        "default_rng": np.random.default_rng(0),
        "generator_mt19937": np.random.Generator(np.random.MT19937(0)),
        "generator_pcg64dxsm": np.random.Generator(np.random.PCG64DXSM(0)),
        "generator_philox": np.random.Generator(np.random.Philox(0)),
        "generator_sfc64": np.random.Generator(np.random.SFC64(0)),
        "bitgen_pcg64": np.random.PCG64(1),
        "randomstate": np.random.RandomState(0),
    }
    for name, g in gens.items():
        c.add(f"np_{name}.p4.pkl", pickle.dumps(g, protocol=4), writer="pickle.dumps protocol 4",
              container="pickle", description=f"numpy random state: {name}", **lib)
    c.add("np_random_generator.p2.pkl", pickle.dumps(np.random.default_rng(7), protocol=2),
          writer="pickle.dumps protocol 2", container="pickle",
          description="np.random.default_rng(7) at protocol 2", **lib)
    masked = np.ma.masked_array([1.0, 2.0, 3.0, 4.0], mask=[0, 1, 0, 1], fill_value=-1)
    for proto in (2, 5):
        c.add(f"np_masked_array.p{proto}.pkl", pickle.dumps(masked, protocol=proto),
              writer=f"pickle.dumps protocol {proto}", container="pickle",
              description="numpy.ma masked array", **lib)
    c.add("np_matrix.p4.pkl", pickle.dumps(np.asmatrix(np.eye(2)), protocol=4),
          writer="pickle.dumps protocol 4", container="pickle", description="np.matrix subclass", **lib)

    # protocol 5 with out-of-band buffers: sidecars in oob/, never listed as corpus files
    oobdir = os.path.join(c.outdir, "oob")
    os.makedirs(oobdir, exist_ok=True)
    for name, arr in (("oob_float64", np.linspace(0, 1, 16)),
                      ("oob_dict", {"w": np.arange(8, dtype=np.float32), "b": np.ones(3, dtype=np.int16)})):
        bufs = []
        data = pickle.dumps(arr, protocol=5, buffer_callback=bufs.append)
        side = []
        for i, b in enumerate(bufs):
            fn = f"oob/{c.prefix}np_{name}.p5.buf{i}.bin"
            with open(os.path.join(c.outdir, fn), "wb") as f:
                f.write(b.raw())
            side.append(fn)
        c.add(f"np_{name}.p5.pkl", data, writer="pickle.dumps protocol 5 buffer_callback=list.append",
              container="pickle",
              description=f"{name}: protocol-5 pickle whose array data is out of band (NEXT_BUFFER); "
                          "the buffers, in order, are the files listed in oob_buffers",
              extra={"oob_buffers": side}, **lib)

    # .npy / .npz
    def npy(arr, allow_pickle=False):
        b = io.BytesIO()
        np.lib.format.write_array(b, arr, version=(1, 0), allow_pickle=allow_pickle)
        return b.getvalue()

    c.add("np_float32.npy", npy(arrays["float32"]), writer="np.lib.format.write_array version=(1,0) (= np.save)",
          container="npy", description="npy v1.0 float32 2-d", **lib)
    c.add("np_fortran.npy", npy(arrays["fortran"]), writer="np.save", container="npy",
          description="npy v1.0 fortran_order=True", **lib)
    c.add("np_structured.npy", npy(arrays["structured"]), writer="np.save", container="npy",
          description="npy v1.0 structured dtype", **lib)
    c.add("np_datetime.npy", npy(arrays["datetime64_ns"]), writer="np.save", container="npy",
          description="npy v1.0 datetime64[ns]", **lib)
    c.add("np_object.npy", npy(arrays["object_ints_strs"], allow_pickle=True),
          writer="np.save allow_pickle=True", container="npy",
          description="npy v1.0 object array: the payload is a pickle of plain ints/strs/None", **lib)
    b = io.BytesIO()
    np.save(b, np.arange(5, dtype=np.uint16))
    c.add("np_uint16_npsave.npy", b.getvalue(), writer="np.save", container="npy",
          description="npy written by np.save itself", **lib)
    for name, fn, cont in (("np_savez.npz", np.savez, "npz"),
                           ("np_savez_compressed.npz", np.savez_compressed, "npz-deflate")):
        b = io.BytesIO()
        fn(b, weights=arrays["float32"], ids=np.arange(4), labels=arrays["unicode_U8"],
           objs=arrays["object_ints_strs"])
        c.add(name, b.getvalue(), writer=f"np.{fn.__name__}", container=cont,
              description="npz with float32, int64, <U8 and an object array (pickled member)", **lib)


# ============================================================================ sklearn
def _sk_data():
    import numpy as np
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 4)).round(3)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    y3 = (X[:, 0] > 0.5).astype(int) + (X[:, 2] > 0).astype(int)
    yr = (X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.normal(size=40)).round(3)
    return X, y, y3, yr


def sklearn_estimators(full=True):
    import numpy as np
    from sklearn import (calibration, cluster, compose, decomposition, ensemble,
                         feature_extraction, impute, isotonic, linear_model, model_selection,
                         naive_bayes, neighbors, neural_network, pipeline, preprocessing, svm, tree)
    X, y, y3, yr = _sk_data()
    Xpos = np.abs(X)
    docs = ["the cat sat on the mat", "the dog ate my homework", "cats and dogs",
            "a tiny corpus for a tiny vectorizer"]
    cats = np.array([["red", "S"], ["green", "M"], ["blue", "L"], ["red", "M"]], dtype=object)
    out = []

    def fit(name, est, *args):
        est.fit(*args)
        # Pin the few process-dependent attributes so reruns are byte-identical:
        # id()-derived ints (vectorizers) and wall-clock timings (search CV results).
        if hasattr(est, "_stop_words_id"):
            est._stop_words_id = 140000000000000
        for k in getattr(est, "cv_results_", {}):
            if k.endswith("_time"):
                est.cv_results_[k] = np.full_like(est.cv_results_[k], 0.001)
        if hasattr(est, "refit_time_"):
            est.refit_time_ = 0.001
        if name == "nmf":  # last-ulp noise from alignment-dependent BLAS kernels
            est.components_ = est.components_.round(12)
            est.reconstruction_err_ = round(float(est.reconstruction_err_), 12)
        out.append((name, est))

    fit("linear_regression", linear_model.LinearRegression(), X, yr)
    fit("logistic_regression", linear_model.LogisticRegression(), X, y)
    fit("random_forest_classifier", ensemble.RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0), X, y)
    fit("standard_scaler", preprocessing.StandardScaler(), X)
    fit("kmeans", cluster.KMeans(n_clusters=3, n_init=1, random_state=0), X)
    fit("hist_gradient_boosting_classifier", ensemble.HistGradientBoostingClassifier(max_iter=5, random_state=0), X, y)
    fit("pipeline_scaler_logreg", pipeline.make_pipeline(preprocessing.StandardScaler(), linear_model.LogisticRegression()), X, y)
    if not full:
        return out
    fit("ridge", linear_model.Ridge(alpha=0.5), X, yr)
    fit("lasso", linear_model.Lasso(alpha=0.1), X, yr)
    fit("elastic_net", linear_model.ElasticNet(alpha=0.1), X, yr)
    fit("sgd_classifier", linear_model.SGDClassifier(max_iter=20, random_state=0), X, y)
    fit("decision_tree_classifier", tree.DecisionTreeClassifier(max_depth=3, random_state=0), X, y3)
    fit("decision_tree_regressor", tree.DecisionTreeRegressor(max_depth=3, random_state=0), X, yr)
    fit("extra_trees_regressor", ensemble.ExtraTreesRegressor(n_estimators=3, max_depth=3, random_state=0), X, yr)
    fit("gradient_boosting_classifier", ensemble.GradientBoostingClassifier(n_estimators=5, max_depth=2, random_state=0), X, y)
    fit("hist_gradient_boosting_regressor", ensemble.HistGradientBoostingRegressor(max_iter=5, random_state=0), X, yr)
    fit("adaboost_classifier", ensemble.AdaBoostClassifier(n_estimators=5, random_state=0), X, y)
    fit("svc", svm.SVC(), X, y)
    fit("svr", svm.SVR(), X, yr)
    fit("linear_svc", svm.LinearSVC(random_state=0), X, y)
    fit("kneighbors_classifier", neighbors.KNeighborsClassifier(n_neighbors=3), X, y)
    fit("kneighbors_kdtree", neighbors.KNeighborsRegressor(n_neighbors=3, algorithm="kd_tree"), X, yr)
    fit("gaussian_nb", naive_bayes.GaussianNB(), X, y3)
    fit("multinomial_nb", naive_bayes.MultinomialNB(), Xpos, y)
    fit("dbscan", cluster.DBSCAN(eps=1.0), X)
    fit("pca", decomposition.PCA(n_components=2, random_state=0), X)
    fit("truncated_svd", decomposition.TruncatedSVD(n_components=2, random_state=0), X)
    fit("nmf", decomposition.NMF(n_components=2, init="nndsvd", max_iter=50), Xpos)
    fit("onehot_encoder", preprocessing.OneHotEncoder(handle_unknown="ignore"), cats)
    fit("label_encoder", preprocessing.LabelEncoder(), ["cat", "dog", "cat", "bird"])
    fit("polynomial_features", preprocessing.PolynomialFeatures(degree=2), X)
    fit("minmax_scaler", preprocessing.MinMaxScaler(), X)
    fit("simple_imputer", impute.SimpleImputer(strategy="median"), np.where(X > 1.5, np.nan, X))
    fit("column_transformer", compose.ColumnTransformer(
        [("num", preprocessing.StandardScaler(), [0, 1]), ("poly", preprocessing.PolynomialFeatures(2), [2])],
        remainder="drop"), X)
    fit("count_vectorizer", feature_extraction.text.CountVectorizer(), docs)
    fit("tfidf_vectorizer", feature_extraction.text.TfidfVectorizer(ngram_range=(1, 2)), docs)
    fit("grid_search_cv", model_selection.GridSearchCV(linear_model.Ridge(), {"alpha": [0.1, 1.0]}, cv=2), X, yr)
    fit("isotonic_regression", isotonic.IsotonicRegression(), X[:, 0], yr)
    fit("calibrated_classifier_cv", calibration.CalibratedClassifierCV(svm.LinearSVC(random_state=0), cv=2), X, y)
    fit("mlp_classifier", neural_network.MLPClassifier(hidden_layer_sizes=(5,), max_iter=30, random_state=0), X, y)
    fit("voting_classifier", ensemble.VotingClassifier(
        [("lr", linear_model.LogisticRegression()), ("nb", naive_bayes.GaussianNB())]), X, y)
    return out


def gen_sklearn(c, tag, full=True):
    import sklearn
    lib = dict(library="scikit-learn", version=sklearn.__version__, category=f"sklearn{tag}")
    for name, est in sklearn_estimators(full):
        c.add(f"sk_{name}.p5.pkl", pickle.dumps(est, protocol=5), writer="pickle.dumps protocol 5",
              container="pickle", description=f"fitted {type(est).__module__}.{type(est).__name__}", **lib)
    # a couple at protocol 2 / 4 (older tools)
    ests = dict(sklearn_estimators(False))
    for proto in (2, 4):
        c.add(f"sk_logistic_regression.p{proto}.pkl", pickle.dumps(ests["logistic_regression"], protocol=proto),
              writer=f"pickle.dumps protocol {proto}", container="pickle",
              description="fitted LogisticRegression at an older protocol", **lib)


# ============================================================================ pandas
def gen_pandas(c, tag):
    import numpy as np
    import pandas as pd
    lib = dict(library="pandas", version=pd.__version__, category=f"pandas{tag}")
    df = pd.DataFrame({
        "i": np.arange(5, dtype=np.int64),
        "f": [0.5, 1.5, np.nan, -2.0, 3.25],
        "s": ["a", "bb", "ccc", None, "e"],
        "cat": pd.Categorical(["x", "y", "x", "z", "y"]),
        "dt": pd.date_range("2024-01-01", periods=5, freq="D"),
        "dt_tz": pd.date_range("2024-03-30", periods=5, freq="h", tz="Europe/Berlin"),
        "dt_utc": pd.date_range("2024-01-01", periods=5, freq="min", tz="UTC"),
        "b": [True, False, True, True, False],
        "n": pd.array([1, None, 3, 4, None], dtype="Int64"),
        "td": pd.to_timedelta([1, 2, 3, 4, 5], unit="s"),
    })
    _to_pickle(df, c, "pd_dataframe.to_pickle.pkl")
    c.add("pd_dataframe.to_pickle.pkl", None, writer="DataFrame.to_pickle", container="pickle",
          description="DataFrame with int, float, str, categorical, naive/tz datetimes, bool, Int64, timedelta", **lib)
    for ext, cont, comp in ((".pkl.gz", "pandas-gzip", {"method": "gzip", "mtime": 0}),
                            (".pkl.bz2", "pandas-bz2", "bz2"),
                            (".pkl.xz", "pandas-xz", "xz"),
                            (".pkl.zip", "pandas-zip", "zip"),
                            (".pkl.tar", "pandas-tar", "tar")):
        name = "pd_dataframe.to_pickle" + ext
        _to_pickle(df, c, name, compression=comp)
        c.add(name, None, writer=f"DataFrame.to_pickle compression={comp!r}", container=cont,
              description="same DataFrame, compressed by to_pickle", **lib)
    for proto in (2, 5):
        c.add(f"pd_dataframe.p{proto}.pkl", pickle.dumps(df, protocol=proto),
              writer=f"pickle.dumps protocol {proto}", container="pickle",
              description="mixed-dtype DataFrame via pickle.dumps", **lib)
    s = pd.Series([1.0, 2.5, np.nan], index=["a", "b", "c"], name="values")
    c.add("pd_series.p5.pkl", pickle.dumps(s, protocol=5), writer="pickle.dumps protocol 5",
          container="pickle", description="float Series with string index", **lib)
    idx = {
        "range_index": pd.RangeIndex(0, 10, 2),
        "multi_index": pd.MultiIndex.from_product([["a", "b"], [1, 2]], names=["letter", "num"]),
        "datetime_index": pd.date_range("2024-01-01", periods=3, freq="W", tz="UTC"),
        "categorical_index": pd.CategoricalIndex(["lo", "hi", "lo"], categories=["lo", "hi"], ordered=True),
        "interval_index": pd.interval_range(0, 3),
        "period_index": pd.period_range("2024-01", periods=3, freq="M"),
    }
    for name, ix in idx.items():
        c.add(f"pd_{name}.p5.pkl", pickle.dumps(ix, protocol=5), writer="pickle.dumps protocol 5",
              container="pickle", description=f"pandas {type(ix).__name__}", **lib)
    c.add("pd_dataframe_multiindex.p4.pkl",
          pickle.dumps(pd.DataFrame({"v": [1, 2, 3, 4]}, index=idx["multi_index"]), protocol=4),
          writer="pickle.dumps protocol 4", container="pickle",
          description="DataFrame indexed by a MultiIndex", **lib)
    scal = [pd.Timestamp("2024-02-29 12:00", tz="UTC"), pd.Timestamp("2020-01-01"), pd.Timedelta("1 days 2 h"),
            pd.Period("2024Q1"), pd.Interval(0, 1, closed="left"), pd.NaT, pd.NA]
    c.add("pd_scalars.p5.pkl", pickle.dumps(scal, protocol=5), writer="pickle.dumps protocol 5",
          container="pickle", description="pandas scalars: Timestamp, Timedelta, Period, Interval, NaT, NA", **lib)


def _to_pickle(df, c, name, compression="infer"):
    import time
    import types
    real = zipfile.time  # pandas' zip writer stamps members with the current time
    zipfile.time = types.SimpleNamespace(
        time=lambda: 315532800.0, localtime=lambda t=None: time.gmtime(315532800))
    try:
        df.to_pickle(os.path.join(c.outdir, c.prefix + name), compression=compression)
    finally:
        zipfile.time = real


# ============================================================================ joblib
def gen_joblib(c, tag, with_estimator=True):
    import joblib
    import numpy as np
    lib = dict(library="joblib", version=joblib.__version__, category=f"joblib{tag}")
    payload = {
        "weights": np.arange(32, dtype=np.float32).reshape(8, 4) / 7,
        "ids": np.arange(10, dtype=np.int64),
        "labels": np.array(["a", "b", 3, None], dtype=object),
        "meta": {"version": 1, "name": "payload"},
    }
    comps = [(None, "joblib", "plain"), (3, "joblib-zlib", "compress=3")]
    for method, cont in (("zlib", "joblib-zlib"), ("gzip", "joblib-gzip"), ("bz2", "joblib-bz2"),
                         ("lzma", "joblib-lzma"), ("xz", "joblib-xz"), ("lz4", "joblib-lz4")):
        comps.append(((method, 3), cont, f"compress=('{method}',3)"))
    objs = [("dict_arrays", payload, "dict of numpy arrays incl. an object array (nested pickle inline)")]
    if with_estimator:
        from sklearn.linear_model import LogisticRegression
        from sklearn.ensemble import RandomForestClassifier
        X, y, _y3, _yr = _sk_data()
        objs.append(("logistic_regression", LogisticRegression().fit(X, y), "fitted LogisticRegression"))
        objs.append(("random_forest", RandomForestClassifier(n_estimators=2, max_depth=2, random_state=0).fit(X, y),
                     "fitted RandomForestClassifier (2 trees)"))
    for oname, obj, desc in objs:
        for comp, cont, label in comps:
            if comp is not None and isinstance(comp, tuple) and comp[0] == "lz4":
                try:
                    import lz4  # noqa: F401
                except ImportError:
                    c.skip(f"jl_{oname} lz4", "lz4 not installed")
                    continue
            if oname == "random_forest" and comp not in (None, ("zlib", 3)):
                continue
            suffix = "plain" if comp is None else (f"compress{comp}" if isinstance(comp, int) else comp[0])
            fname = f"jl_{oname}.{suffix}.joblib"
            path = os.path.join(c.outdir, c.prefix + fname)
            if comp is None:
                joblib.dump(obj, path)
            else:
                joblib.dump(obj, path, compress=comp)
            c.add(fname, None, writer=f"joblib.dump {label}", container=cont, description=desc, **lib)


# ============================================================================ compressed
def gen_compressed(c):
    import numpy as np
    import lz4.frame
    cfg = {"lr": 0.01, "layers": [16, 8], "name": "compressed-config", "seed": 7}
    arrs = {"a": np.arange(6, dtype=np.float32), "b": np.array(["x", "y"])}
    lib = dict(library="python-stdlib", version=PY, category="compressed")
    for oname, obj in (("config", cfg), ("numpy_dict", arrs)):
        raw = pickle.dumps(obj, protocol=4)
        for ext, cont, fn, w in (("gz", "gzip", lambda d: gzip.compress(d, mtime=0), "gzip.compress(mtime=0)"),
                                 ("bz2", "bz2", bz2.compress, "bz2.compress"),
                                 ("xz", "xz", lzma.compress, "lzma.compress (xz)"),
                                 ("zlib", "zlib", zlib.compress, "zlib.compress"),
                                 ("lz4", "lz4", lz4.frame.compress, "lz4.frame.compress")):
            c.add(f"cmp_{oname}.p4.pkl.{ext}", fn(raw), writer=f"{w}(pickle.dumps protocol 4)",
                  container=cont, description=f"{oname} pickle wrapped in {cont}",
                  **dict(lib, library="python-stdlib" if oname == "config" else "numpy",
                         version=PY if oname == "config" else np.__version__))


# ============================================================================ torch
def gen_torch(c):
    sys.path.insert(0, HERE)
    import torch_layout as tl
    from collections import OrderedDict
    T = tl.Tensor.from_values
    lib = dict(library="torch (emulated by corpus/benign/torch_layout.py)", category="torch")

    fc1_w = T("float32", [0.1 * i - 0.5 for i in range(12)], (4, 3))
    sd = OrderedDict()
    sd["fc1.weight"] = fc1_w
    sd["fc1.bias"] = T("float32", [0.0, 0.1, -0.1, 0.2])
    sd["fc1.weight_t"] = fc1_w.view_as((3, 4), (1, 3))  # transposed view, shares the storage
    sd["fc1.weight_row1"] = fc1_w.view_as((3,), (1,), storage_offset=3)  # offset view
    sd["emb.weight"] = T("bfloat16", [1.0, -2.5, 3.140625, 0.0, 1e-3, 65280.0], (3, 2))
    sd["head.weight"] = T("float16", [0.5, -0.25, 1.0, 2.0, -1.5, 0.0, 0.125, 4.0], (2, 4))
    sd["bn.running_mean"] = T("float64", [0.0, 0.5])
    sd["bn.num_batches_tracked"] = T("int64", [17], ())
    sd["mask"] = T("bool", [True, False, True, True, False])
    sd["temperature"] = tl.Parameter(T("float32", [1.5], (1,)), requires_grad=True)
    c.add("pt_state_dict.pt", tl.write_zip_checkpoint(None, sd, archive_name="archive"),
          version="torch>=2.5 zip layout", writer="torch zip layout (torch.save to a buffer)",
          container="torch-zip",
          description="state dict: float32/bfloat16/float16/float64/int64/bool tensors, a transposed and "
                      "an offset view sharing one storage, a Parameter; archive root 'archive'", **lib)

    model = OrderedDict([("0.weight", T("float32", [0.01 * i for i in range(8)], (2, 4))),
                         ("0.bias", T("float32", [0.0, 0.0])),
                         ("2.weight", T("float32", [1.0, -1.0], (1, 2))),
                         ("2.bias", T("float32", [0.5]))])
    opt = {
        "state": {
            0: {"step": 120, "exp_avg": T("float32", [0.001] * 8, (2, 4)), "exp_avg_sq": T("float32", [1e-6] * 8, (2, 4))},
            1: {"step": 120, "exp_avg": T("float32", [0.0, 0.002]), "exp_avg_sq": T("float32", [0.0, 1e-7])},
        },
        "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-08, "weight_decay": 0.0,
                          "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
                          "differentiable": False, "fused": None, "params": [0, 1, 2, 3]}],
    }
    ckpt = {"epoch": 7, "global_step": 120, "model_state_dict": model, "optimizer_state_dict": opt,
            "loss": 0.123456, "config": {"hidden": 4, "act": "relu", "lr": 1e-3},
            "best_metric": float("inf"), "notes": None}
    c.add("pt_training_checkpoint.pt", tl.write_zip_checkpoint(None, ckpt),
          version="torch>=2.5 zip layout", writer="torch zip layout", container="torch-zip",
          description="training checkpoint: epoch, model state dict, Adam optimizer state (int steps, "
                      "exp_avg/exp_avg_sq tensors), param_groups, plain config dict", **lib)
    c.add("pt_named_root.pt", tl.write_zip_checkpoint(None, model, archive_name="my_model"),
          version="torch>=2.5 zip layout", writer="torch zip layout (torch.save('my_model.pt'))",
          container="torch-zip", description="state dict whose archive root is 'my_model' (file stem)", **lib)
    c.add("pt_style_2_1.pt", tl.write_zip_checkpoint(None, model, style="2.1"),
          version="torch 2.1-2.4 zip layout", writer="torch zip layout style=2.1", container="torch-zip",
          description="zip layout without .format_version/.storage_alignment records", **lib)
    c.add("pt_style_1_6.pt", tl.write_zip_checkpoint(None, model, archive_name="archive", style="1.6"),
          version="torch 1.6-1.12 zip layout", writer="torch zip layout style=1.6", container="torch-zip",
          description="early zip layout: data.pkl, data/*, version; no byteorder, no serialization_id", **lib)
    c.add("pt_pyzipfile.pt", tl.write_zip_checkpoint(None, model, zip_writer="zipfile"),
          version="torch>=2.5 records", writer="torch zip layout written with Python zipfile (no data descriptors)",
          container="torch-zip", description="same records through Python's zipfile (sizes in local headers)", **lib)
    many = [T("int32", [1, -2, 3]), T("complex64", [1 + 1j, -2j]), T("int8", [-128, 127]),
            T("uint8", [0, 255]), T("int16", [-300, 300]), T("float64", [3.5], ()),
            T("float32", [], (0, 3))]
    c.add("pt_tensor_list.pt", tl.write_zip_checkpoint(None, many), version="torch>=2.5 zip layout",
          writer="torch zip layout", container="torch-zip",
          description="list of tensors: int32, complex64, int8, uint8, int16, 0-d float64, empty (0,3)", **lib)
    c.add("pt_legacy.pt", tl.write_legacy_checkpoint(None, sd), version="torch legacy (0.4-1.5 default)",
          writer="torch.save _use_new_zipfile_serialization=False layout", container="torch-legacy",
          description="legacy: magic, protocol 1001, sys_info, main pickle, storage keys, raw storages", **lib)
    c.add("pt_legacy_checkpoint.pt", tl.write_legacy_checkpoint(None, ckpt), version="torch legacy",
          writer="torch.save _use_new_zipfile_serialization=False layout", container="torch-legacy",
          description="legacy-format training checkpoint", **lib)
    c.add("pt_legacy_tar.pt", tl.write_legacy_tar_checkpoint(None, model), version="torch <= 0.3 tar",
          writer="torch 0.1-0.3 tar layout", container="torch-legacy-tar",
          description="tar with sys_info, pickle, tensors, storages members", **lib)
    script = tl.ScriptModule("__torch__.TinyNet", OrderedDict([
        ("training", False), ("weight", T("float32", [0.5, -0.5, 0.25, 1.0], (2, 2))),
        ("bias", T("float32", [0.0, 1.0])), ("scale", 2.0)]))
    code = ("class TinyNet(Module):\n  __parameters__ = [\"weight\", \"bias\", ]\n  __buffers__ = []\n"
            "  weight : Tensor\n  bias : Tensor\n  training : bool\n  scale : float\n"
            "  def forward(self: __torch__.TinyNet,\n    x: Tensor) -> Tensor:\n"
            "    weight = self.weight\n    bias = self.bias\n"
            "    _0 = torch.mul(torch.linear(x, weight, bias), self.scale)\n    return _0\n")
    c.add("pt_torchscript.pt", tl.write_torchscript_archive(None, script, archive_name="tiny_net", code=code),
          version="torchscript zip layout", writer="torch.jit.save layout", container="torchscript",
          description="TorchScript archive: code/__torch__.py, data.pkl with a __torch__.TinyNet object, "
                      "constants.pkl, data/*", **lib)


# ============================================================================ main
def numpy1_worker(outdir, out_json):
    c = Corpus(outdir, prefix="np1_")
    for fn in (lambda: gen_numpy(c, "1"), lambda: gen_sklearn(c, "1", full=False),
               lambda: gen_pandas(c, "1"), lambda: gen_joblib(c, "1")):
        fn()
    self_check(c)
    with open(out_json, "w") as f:
        json.dump({"entries": c.entries, "skipped": c.skipped}, f)


def clean(outdir):
    for n in os.listdir(outdir):
        if n in KEEP:
            continue
        p = os.path.join(outdir, n)
        shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)


def main():
    args = sys.argv[1:]
    if args and args[0] == "--numpy1-worker":
        numpy1_worker(args[1], args[2])
        return
    outdir = HERE
    clean(outdir)
    c = Corpus(outdir)
    gen_stdlib(c)
    gen_numpy(c, "2")
    gen_sklearn(c, "")
    gen_pandas(c, "")
    gen_joblib(c, "")
    gen_compressed(c)
    gen_torch(c)
    self_check(c)
    skipped = list(c.skipped)
    if "--no-np1" in args:
        skipped.append("numpy 1.x worker: disabled by --no-np1")
    elif not os.path.exists(NP1_PYTHON):
        msg = f"numpy 1.x worker: {NP1_PYTHON} not found; np1_* files not generated"
        print("WARNING: " + msg, file=sys.stderr)
        skipped.append(msg)
    else:
        tmp = os.path.join(outdir, ".np1_manifest.json")
        env = dict(os.environ, PYTHONHASHSEED="0")
        subprocess.run([NP1_PYTHON, os.path.abspath(__file__), "--numpy1-worker", outdir, tmp],
                       check=True, env=env)
        with open(tmp) as f:
            part = json.load(f)
        os.remove(tmp)
        dup = set(part["entries"]) & set(c.entries)
        if dup:
            raise SystemExit(f"duplicate names from numpy 1.x worker: {sorted(dup)}")
        c.entries.update(part["entries"])
        skipped += part["skipped"]
    manifest = {"_about": {
        "generator": "corpus/benign/generate.py", "python": PY,
        "files": len(c.entries),
        "globals_note": "module.qualname of every global the file's pickle streams import, as written "
                        "in the stream (protocol<3 uses Python 2 names such as __builtin__ and copy_reg)",
        "skipped": skipped,
    }}
    manifest.update(dict(sorted(c.entries.items())))
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=False)
        f.write("\n")
    summarize(c.entries)


def summarize(entries):
    from collections import Counter
    cats, sizes = Counter(), Counter()
    allg = set()
    for e in entries.values():
        cats[e["category"]] += 1
        sizes[e["category"]] += e["size"]
        allg |= set(e["globals"])
    total = sum(sizes.values())
    for k in sorted(cats):
        print(f"{k:12s} {cats[k]:4d} files {sizes[k]:9d} bytes")
    print(f"{'TOTAL':12s} {sum(cats.values()):4d} files {total:9d} bytes")
    big = [(n, e["size"]) for n, e in entries.items() if e["size"] > MAX_FILE]
    if big:
        print("files over 64 KiB:", big)
    print(f"{len(allg)} distinct globals")


if __name__ == "__main__":
    main()
