#!/usr/bin/env python3
"""Hand-made seeds for the `container` and `scan` fuzz targets: container shapes the
generated corpora do not write (tar variants, .npy header forms), into corpus/fuzz-files/.
The seed-x-* ones are written field by field for the readers' rarer branches: ZIP64
extra fields and data descriptors, flags and methods, overlapping and duplicate entries,
archives nested past the targets' limits, pax records, broken .npy headers and joblib
dtypes, LZ4 frame ends, and pickles nested behind base64 / hex / codecs calls.

    /work/venv/bin/python scripts/gen_fuzz_seeds.py      # numpy 2.x from PyPI

Every file holds only data (the pickles are of ints and strs); nothing is ever loaded.
The fuzzers add what they find next to these (seed-* are the hand-made ones).
"""
import base64
import bz2
import codecs
import gzip
import io
import operator
import os
import pickle
import struct
import tarfile
import zlib

import numpy as np  # numpy==2.4.6 when these were written

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "corpus", "fuzz-files")


def tar_bytes(fmt, members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            if fmt == tarfile.PAX_FORMAT:
                info.pax_headers = {"comment": "seed"}
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def npy_bytes(array, version=None):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, version=version, allow_pickle=True)
    return buf.getvalue()


# ---- hand-built archives and pickles (seed-x-*): the readers' rarer branches --------

def crc(data):
    return zlib.crc32(data) & 0xFFFFFFFF


def raw_deflate(data):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def zip_build(entries, prefix=b"", absolute=False, eocd_count=None):
    """A ZIP written record by record, so each field can be what a test needs.

    Each entry is a dict: name, data (as stored), and optionally method, flags, crc,
    csize, usize (the local header's and directory's claims), descriptor (bytes after
    the data), central_extra, at (directory offset override, relative to the archive).
    Offsets count from the archive's start unless `absolute` (then from the file's)."""
    out = bytearray(prefix)
    base = len(prefix) if absolute else 0
    start = len(prefix)
    central = bytearray()
    for e in entries:
        name = e["name"].encode() if isinstance(e["name"], str) else e["name"]
        data = e["data"]
        method = e.get("method", 0)
        flags = e.get("flags", 0)
        c = e.get("crc", crc(e.get("plain", data)))
        csize = e.get("csize", len(data))
        usize = e.get("usize", len(e.get("plain", data)))
        offset = e.get("at", len(out) - start) + base
        if "at" not in e:
            out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, method, 0, 0x21,
                               c, csize, usize, len(name), 0) + name + data
            out += e.get("descriptor", b"")
        cextra = e.get("central_extra", b"")
        coff = e.get("central_offset", offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, flags, method, 0, 0x21,
                               c, e.get("central_csize", csize), e.get("central_usize", usize),
                               len(name), len(cextra), 0, 0, 0, 0, coff) + name + cextra
    dir_at = len(out) - start + base
    out += central
    n = len(entries) if eocd_count is None else eocd_count
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(central), dir_at, 0)
    return bytes(out)


def gz(data):
    return gzip.compress(data, mtime=0)


def npy_raw(header_text, version=(1, 0), body=b""):
    """An .npy file with the header text as given (padded as NumPy pads it)."""
    text = header_text.encode("utf-8")
    head = 10 if version == (1, 0) else 12
    pad = -(head + len(text) + 1) % 64
    text = text + b" " * pad + b"\n"
    field = struct.pack("<H", len(text)) if version == (1, 0) else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes(version) + field + text + body


class Reduce:
    """Pickles as `func(*args)` (REDUCE), whatever func is: only data is written."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


class CallableReduce(Reduce):
    """A `Reduce` that pickle takes as a callable (the call of a call's result)."""

    def __call__(self, *args):
        raise TypeError("never called")


def nested_loads(payload, depth, protocol=4):
    """`pickle.loads(pickle.loads(... payload))`, `depth` levels, never run."""
    data = payload
    for _ in range(depth):
        data = pickle.dumps(Reduce(pickle.loads, (data,)), protocol=protocol)
    return data


def extra_seeds():
    pkl = pickle.dumps({"a": 1, "b": "two"}, protocol=2)
    pkl0 = pickle.dumps([1, "x"], protocol=0)
    seeds = {}
    # gzip around a tar (a layer in a decompressed buffer), and five gzips (past the
    # nesting limit of the fuzz targets, 4)
    seeds["seed-x-tar.tgz"] = gz(tar_bytes(tarfile.USTAR_FORMAT, [("a.pkl", pkl), ("b.bin", b"\0" * 10)]))
    inner = pkl
    for _ in range(5):
        inner = gz(inner)
    seeds["seed-x-gzip5.gz"] = inner
    # ZIPs five deep (stored), and a tar holding a tar and a directory
    inner = pkl
    for i in range(5):
        inner = zip_build([{"name": f"l{i}.zip" if i else "x.pkl", "data": inner}])
    seeds["seed-x-zip5.zip"] = inner
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        d = tarfile.TarInfo("dir")
        d.type, d.mtime, d.mode = tarfile.DIRTYPE, 0, 0o755
        tar.addfile(d)
        for name, data in [("dir/inner.tar", tar_bytes(tarfile.USTAR_FORMAT, [("a.pkl", pkl)])), ("dir/z.zip", zip_build([{"name": "y.pkl", "data": pkl}]))]:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    seeds["seed-x-tar-in-tar.tar"] = buf.getvalue()
    # more pickles than the fuzz targets' max_pieces (64)
    seeds["seed-x-tar-65-pickles.tar"] = tar_bytes(tarfile.USTAR_FORMAT, [(f"{i}.pkl", pkl) for i in range(65)])
    # pax records: a size that overrides the header's, and a bad one
    for tag, size in [("size", "5"), ("badsize", "five")]:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo("a.pkl")
            info.size, info.mtime = len(pkl), 0
            info.pax_headers = {"size": size}
            tar.addfile(info, io.BytesIO(pkl))
        seeds[f"seed-x-tar-pax-{tag}.tar"] = buf.getvalue()
    # .npy headers: sizes past 2^64 bytes, and each way a header can be wrong
    dicts = {
        "huge": "{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776, 1099511627776, 1099511627776), }",
        "shape-str": "{'descr': '<f8', 'fortran_order': False, 'shape': ('a',), }",
        "long-int": "{'descr': '|b1', 'fortran_order': False, 'shape': (3L,), }",
        "bool": "{'descr': '?', 'fortran_order': False, 'shape': (2,), }",
        "descr-int": "{'descr': 5, 'fortran_order': False, 'shape': (2,), }",
        "field-list": "{'descr': [['a', '<f4']], 'fortran_order': False, 'shape': (2,), }",
        "field-short": "{'descr': [('a',)], 'fortran_order': False, 'shape': (2,), }",
        "subarray-int": "{'descr': [('a', '<f4', 3), ('b', '|O')], 'fortran_order': False, 'shape': (1,), }",
        "subarray-neg": "{'descr': [('a', '<f4', (-1,))], 'fortran_order': False, 'shape': (1,), }",
        "subarray-str": "{'descr': [('a', '<f4', 'x')], 'fortran_order': False, 'shape': (1,), }",
        "dtype-deep": "{'descr': " + "[('a', " * 18 + "'<f4'" + ")]" * 18 + ", 'fortran_order': False, 'shape': (1,), }",
        "header-deep": "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': " + "(" * 20 + ")" * 20 + "}",
    }
    for tag, text in dicts.items():
        seeds[f"seed-x-npy-{tag}.npy"] = npy_raw(text, body=b"\0" * 16)
    seeds["seed-x-npy-cut.npy"] = b"\x93NUMPY\x01"
    seeds["seed-x-short.dat"] = b"(lp0\n."
    # a legacy torch file at protocol 0 (its magic number as text), cut after the magic
    seeds["seed-x-torch-legacy-p0.pt"] = b"L119547037146038801333356L\n."
    # ZIPs written field by field
    big = pickle.dumps(b"\0" * (1 << 20) + b"tail", protocol=4)
    seeds["seed-x-zip-deflate-1mib.zip"] = zip_build([
        {"name": "big.pkl", "data": raw_deflate(big), "plain": big, "method": 8},
    ])
    # ZIP64 extra field in the directory: both sizes and the offset are in it
    z64 = struct.pack("<HHQQQ", 1, 24, len(pkl), len(pkl), 0)
    seeds["seed-x-zip64-extra.zip"] = zip_build([
        {"name": "a.pkl", "data": pkl, "central_csize": 0xFFFFFFFF, "central_usize": 0xFFFFFFFF,
         "central_offset": 0xFFFFFFFF, "central_extra": z64},
    ])
    # data descriptors: with signature and ZIP64 (8-byte) sizes, and without signature
    seeds["seed-x-zip-descriptor64.zip"] = zip_build([
        {"name": "a.pkl", "data": pkl, "flags": 8,
         "descriptor": struct.pack("<IIQQ", 0x08074B50, crc(pkl), len(pkl), len(pkl))},
        {"name": "b.pkl", "data": pkl, "flags": 8,
         "descriptor": struct.pack("<IQQ", crc(pkl), len(pkl), len(pkl))},
    ])
    # bytes in front of an archive whose offsets count them (a self-extractor's layout)
    seeds["seed-x-zip-sfx.zip"] = zip_build([{"name": "a.pkl", "data": pkl}], prefix=b"#!/bin/sh\nexit 0\n", absolute=True)
    # every entry is the same 40 KB: the CRC budget runs out, then a deflated entry
    blob = b"\xff" * 40000
    entries = [{"name": "blob", "data": blob}]
    entries += [{"name": f"copy{i}", "data": blob, "at": 0} for i in range(61)]
    late = pickle.dumps(b"\0" * 50000, protocol=4)  # more than the CRC budget left
    entries.append({"name": "late.pkl", "data": raw_deflate(late), "plain": late, "method": 8})
    seeds["seed-x-zip-overlap-crc.zip"] = zip_build(entries)
    # encrypted flag, encrypted-directory flag, an unusual flag, bzip2/lzma methods,
    # duplicate names (differing in case), and a data size past the file
    seeds["seed-x-zip-flags.zip"] = zip_build([
        {"name": "enc.pkl", "data": pkl, "flags": 1},
        {"name": "encdir.pkl", "data": pkl, "flags": 0x2000},
        {"name": "odd.pkl", "data": pkl, "flags": 0x0040},
        {"name": "b.bz2.pkl", "data": bz2.compress(pkl), "plain": pkl, "method": 12},
        {"name": "c.lzma.pkl", "data": pkl, "method": 14},
        {"name": "Dup.pkl", "data": pkl},
        {"name": "dup.pkl", "data": pkl0},
        {"name": "dup.pkl", "data": pkl},
        {"name": "long.pkl", "data": pkl, "central_csize": 1 << 20, "central_usize": 1 << 20},
    ])
    # the same errors one layer down, in a decompressed buffer
    seeds["seed-x-zip-flags.zip.gz"] = gz(seeds["seed-x-zip-flags.zip"])
    # 64 entries that are all one ZIP of 64 entries that are all one stretch of
    # protocol 0 opcodes (NONE, POP) that runs past a trial decode's 100,000 steps:
    # 4,096 trials spend the file's trial budget (20,000,000 steps)
    spin = b"N0" * 50_001
    inner = zip_build([{"name": "spin", "data": spin}] + [{"name": f"s{i}", "data": spin, "at": 0} for i in range(63)])
    seeds["seed-x-zip-trial-budget.zip"] = zip_build([{"name": "inner", "data": inner}] + [{"name": f"i{i}", "data": inner, "at": 0} for i in range(63)])
    seeds["seed-x-zip-count-short.zip"] = zip_build([{"name": "a.pkl", "data": pkl}, {"name": "b.pkl", "data": pkl}], eocd_count=3)
    # LZ4 frames: checksums on, a skippable frame after, and cut or padded ends
    try:
        import lz4.frame  # lz4==4.4.5
    except ImportError:
        lz4 = None
    if lz4 is not None:
        frame = lz4.frame.compress(pkl, block_checksum=True, content_checksum=True, store_size=True)
        skip = struct.pack("<II", 0x184D2A50, 3) + b"abc"
        seeds["seed-x-lz4-checksums.lz4"] = frame
        seeds["seed-x-lz4-skippable.lz4"] = frame + skip
        seeds["seed-x-lz4-skip-cut.lz4"] = frame + struct.pack("<I", 0x184D2A51)
        seeds["seed-x-lz4-tail.lz4"] = frame + b"\x04\x22"
        seeds["seed-x-lz4-magic-only.lz4"] = frame + b"\x04\x22\x4d\x18"
        seeds["seed-x-lz4-other.lz4"] = frame + b"\0\0\0\0"
    # nested pickles: five pickle.loads deep (past the scan's max_nested_depth, 4),
    # behind base64 (standard and URL-safe) and latin-1 text, inside a ZIP member
    inner = pickle.dumps(["inner"], protocol=2)
    seeds["seed-x-nested5.pickle"] = nested_loads(inner, 5)
    b64 = base64.b64encode(pickle.dumps(["b64", "x" * 40], protocol=2)).decode()
    url = base64.urlsafe_b64encode(pickle.dumps([b"\xfb\xff" * 8, "y"], protocol=2)).decode()
    payloads = [
        Reduce(base64.b64decode, (b64,)),
        Reduce(base64.b64decode, ("*" + b64[:-2] + " ",)),        # skipped characters, 3 left
        Reduce(base64.b64decode, (b64[:5],)),                    # one dangling character
        Reduce(base64.urlsafe_b64decode, (url,)),
        Reduce(base64.urlsafe_b64decode, (url.encode(),)),
        Reduce(codecs.encode, (inner.decode("latin-1"), "latin1")),
        Reduce(codecs.encode, (inner.decode("latin-1"), "utf-8")),
        Reduce(codecs.encode, (inner.decode("latin-1"), 5)),
        Reduce(codecs.encode, ("\u20ac" + inner.decode("latin-1"), "latin-1")),
    ]
    seeds["seed-x-nested-text.pickle"] = pickle.dumps([Reduce(pickle.loads, (p,)) for p in payloads], protocol=2)
    # what the decoder leaves as calls: codecs.encode with a codec it does not know,
    # bytes.fromhex with spaces, an unknown wrapper, a call of a call; base64 without
    # padding; and two payloads too deep to scan
    more = [
        Reduce(codecs.encode, (inner.decode("latin-1"), "ascii")),
        Reduce(bytes.fromhex, (" ".join(f"{b:02x}" for b in inner),)),
        Reduce(zlib.decompress, (zlib.compress(inner),)),
        Reduce(CallableReduce(operator.itemgetter, (0,)), ([inner],)),
        Reduce(base64.b64decode, (base64.b64encode(inner[:12]).decode(),)),
    ]
    seeds["seed-x-nested-calls.pickle"] = pickle.dumps([Reduce(pickle.loads, (p,)) for p in more], protocol=4)
    seeds["seed-x-nested5-twice.pickle"] = pickle.dumps(
        [Reduce(pickle.loads, (nested_loads(inner, 4),)), Reduce(pickle.loads, (nested_loads(inner[:-1] + b"N.", 4),))], protocol=4)
    seeds["seed-x-nested-in-zip.zip"] = zip_build([
        {"name": "archive/data.pkl", "data": nested_loads(inner, 1)},
        {"name": "archive/extra.pkl", "data": pkl0 + nested_loads(inner, 2, protocol=2)},
    ])
    return seeds


class ReduceState:
    """Pickles as `func(*args)` then BUILD with `state`."""

    def __init__(self, func, args, state):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        return (self.func, self.args, self.state)


def joblib_seeds():
    """joblib-shaped pickles (a NumpyArrayWrapper and its BUILD state) whose dtype or
    shape is each way the reader refuses or recurses; the array bytes are left out."""
    from joblib.numpy_pickle import NumpyArrayWrapper  # joblib==1.6.0

    def wrapper(shape, dtype):
        w = NumpyArrayWrapper(np.ndarray, shape, "C", np.dtype("<f4"), allow_mmap=False)
        w.dtype = dtype
        return pickle.dumps(w, protocol=2)

    deep = np.dtype("<f4")
    for _ in range(34):
        deep = ReduceState(np.dtype, ("V8", False, True), (3, "|", (deep, (2,)), None, None, 8, 1, 0))
    cases = {
        "shape-str": ((2, "x"), np.dtype("<f4")),
        "descr-int": ((2,), Reduce(np.dtype, (5,))),
        "no-args": ((2,), Reduce(np.dtype, ())),
        "unicode-no-state": ((2,), ReduceState(np.dtype, ("U5", False, True), {"x": 1})),
        "void-no-size": ((2,), Reduce(np.dtype, ("V",))),
        "subarray": ((2,), np.dtype(("<f4", (2,)))),
        "field-not-tuple": ((1,), ReduceState(np.dtype, ("V4", False, True), (3, "|", None, ("a",), {"a": 5}, 4, 1, 0))),
        "deep": ((1,), deep),
    }
    seeds = {f"seed-x-joblib-{tag}.joblib": wrapper(*args) for tag, args in cases.items()}
    seeds["seed-x-joblib-build-list.pickle"] = b"\x80\x02]}b."
    return seeds


def scan_seeds():
    """Pickles for the scanner's rules: calls judged by their arguments, a call of a
    computed value, and nested payloads that are broken containers."""
    broken = [Reduce(pickle.loads, (b"\x1f\x8b\x08\x00broken gzip",)),
              Reduce(pickle.loads, (b"PK\x03\x04broken zip",))]
    return {
        # copyreg._reconstructor with one argument, and with a base that is an int
        "seed-x-reconstructor-short.pickle": b"ccopyreg\n_reconstructor\n(c__main__\nX\ntR.",
        "seed-x-reconstructor-int.pickle": b"ccopyreg\n_reconstructor\n(c__main__\nX\nI5\nNtR.",
        # defaultdict with an int factory, and with arguments that are a list
        "seed-x-defaultdict-int.pickle": b"ccollections\ndefaultdict\n(I5\ntR.",
        "seed-x-defaultdict-list-args.pickle": b"ccollections\ndefaultdict\n(lR.",
        # calling an int, and calling a call's result
        "seed-x-call-int.pickle": b"I5\n)R.",
        "seed-x-call-call.pickle": b"cbuiltins\nlist\n)R)R.",
        "seed-x-nested-broken.pickle": pickle.dumps(broken, protocol=4),
        # bytes.fromhex with spaces between the pairs (Python itself pickles it as getattr)
        "seed-x-nested-fromhex.pickle": b"cpickle\nloads\n(cbuiltins\nbytes.fromhex\n(V80 03 4e 2e\ntRtR.",
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    pkl = pickle.dumps({"a": 1, "b": "two"}, protocol=2)
    long_name = "d" * 120 + "/" + "n" * 120 + ".pkl"
    seeds = {
        # torch's legacy tar layout (sys_info, pickle, storages, tensors) in each format
        "seed-tar-ustar.tar": tar_bytes(tarfile.USTAR_FORMAT, [("sys_info", pkl), ("pickle", pkl), ("storages", pkl), ("tensors", pkl)]),
        "seed-tar-gnu-longname.tar": tar_bytes(tarfile.GNU_FORMAT, [(long_name, pkl), ("pickle", pkl)]),
        "seed-tar-pax-longname.tar": tar_bytes(tarfile.PAX_FORMAT, [(long_name, pkl), ("pickle", pkl)]),
        "seed-tar-ustar-prefix.tar": tar_bytes(tarfile.USTAR_FORMAT, [("p" * 100 + "/" + "x.pkl", pkl)]),
        # .npy header forms
        "seed-npy-v1-structured.npy": npy_bytes(np.zeros(2, dtype=[("a", "<f4", (2, 3)), ("b", "S5"), ("c", [("d", "?"), ("e", "<i2", 4)])])),
        "seed-npy-v2.npy": npy_bytes(np.arange(6, dtype=">i8").reshape(2, 3), version=(2, 0)),
        "seed-npy-v3-utf8-field.npy": npy_bytes(np.zeros(1, dtype=[("é", "<u2")]), version=(3, 0)),
        "seed-npy-fortran.npy": npy_bytes(np.asfortranarray(np.ones((3, 2), dtype="<c16"))),
        "seed-npy-object.npy": npy_bytes(np.array([1, "two", None], dtype=object)),
        "seed-npy-scalar.npy": npy_bytes(np.array(3.5, dtype="<f2")),
        "seed-npy-void.npy": npy_bytes(np.zeros(2, dtype="V7")),
        "seed-npy-datetime.npy": npy_bytes(np.array(["2026-12-03"], dtype="datetime64[D]")),
    }
    seeds.update(extra_seeds())
    seeds.update(joblib_seeds())
    seeds.update(scan_seeds())
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds)} seeds to {OUT}")


if __name__ == "__main__":
    main()
