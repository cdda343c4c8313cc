#!/usr/bin/env python3
"""Writes the container files of corpus/containers/ (every file < 64 KiB).

    /work/venv/bin/python corpus/containers/generate.py   # numpy, joblib, lz4, pandas

Real writers where they exist here (joblib.dump, numpy.save/savez, pandas.to_pickle,
the gzip/bz2/lzma/zlib/lz4 modules); PyTorch layouts (not installed) are written the
way torch/serialization.py lays them out, with stand-in classes named like torch's.
Nothing here is ever unpickled. manifest.json records what each file holds; the
tests in tests/suite/containers.rs read it.
"""

import bz2
import collections
import gzip
import io
import json
import lzma
import os
import pickle
import struct
import sys
import tarfile
import types
import zipfile
import zlib

import joblib
import lz4.frame
import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = {}


def write(name, data, **expect):
    assert len(data) < 64 * 1024, (name, len(data))
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
    MANIFEST[name] = expect


# ----- joblib ---------------------------------------------------------------------------

def joblib_arrays():
    """A float, an int, an object, a 0-d and a Fortran array (all inline in joblib)."""
    return {
        "floats": np.arange(6.0).reshape(2, 3),
        "ints": np.arange(5, dtype=np.int32),
        "objects": np.array([1, "two", None], dtype=object),
        "scalar": np.array(7.5),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
        "text": np.array(["ab", "cde"]),
    }


def joblib_files():
    value = joblib_arrays()
    for compress, suffix, layer in [
        (0, "joblib", None),
        ("zlib", "joblib.z", "zlib"),
        ("gzip", "joblib.gz", "gzip"),
        ("bz2", "joblib.bz2", "bzip2"),
        ("lzma", "joblib.lzma", "lzma"),
        ("xz", "joblib.xz", "xz"),
        ("lz4", "joblib.lz4", "lz4"),
    ]:
        buf = io.BytesIO()
        joblib.dump(value, buf, compress=compress)
        formats = ([layer] if layer else []) + ["joblib"]
        write("arrays." + suffix, buf.getvalue(), formats=formats, pieces=1, kind="joblib")
    # Protocol 2 and 0: the wrapper is NEWOBJ at 2, copyreg._reconstructor at 0.
    for protocol in (0, 2):
        buf = io.BytesIO()
        joblib.dump(value, buf, protocol=protocol)
        write(f"arrays_p{protocol}.joblib", buf.getvalue(), formats=["joblib"], pieces=1,
              kind="joblib")
    # An object array whose nested pickle calls os.system (hand-made, never loaded).
    buf = io.BytesIO()
    joblib.dump({"x": np.array([1, 2], dtype=object)}, buf)
    data = buf.getvalue()
    nested = pickle.dumps(np.array([1, 2], dtype=object), protocol=5)
    evil = b"\x80\x05cos\nsystem\nX\x04\x00\x00\x00echo\x85R."
    assert data.count(nested) == 1
    write("object_array_evil.joblib", data.replace(nested, evil), formats=["joblib"],
          pieces=1, kind="joblib")


# ----- numpy ----------------------------------------------------------------------------

def npy_bytes(array, version=None, allow_pickle=True):
    buf = io.BytesIO()
    if version is None:
        np.save(buf, array, allow_pickle=allow_pickle)
    else:
        np.lib.format.write_array(buf, array, version=version, allow_pickle=allow_pickle)
    return buf.getvalue()


def numpy_files():
    write("floats.npy", npy_bytes(np.arange(12.0).reshape(3, 4)), formats=["npy"], pieces=0)
    write("fortran_v2.npy", npy_bytes(np.asfortranarray(np.ones((2, 3))), version=(2, 0)),
          formats=["npy"], pieces=0)
    write("text_v3.npy", npy_bytes(np.array(["é", "ab"]), version=(3, 0)), formats=["npy"],
          pieces=0)
    write("objects.npy", npy_bytes(np.array([1, "two", None], dtype=object)),
          formats=["npy"], pieces=1)
    structured = np.zeros(2, dtype=[("a", "<i4"), ("b", "O")])
    write("structured_objects.npy", npy_bytes(structured), formats=["npy"], pieces=1)
    short = npy_bytes(np.arange(4.0))[:-8]
    write("short_data.npy", short, formats=["npy"], pieces=0, anomalies=["size-mismatch"])
    for name, saver in [("arrays.npz", np.savez), ("arrays_compressed.npz", np.savez_compressed)]:
        buf = io.BytesIO()
        saver(buf, a=np.arange(3.0), b=np.array([1, None], dtype=object), c=np.eye(2))
        write(name, buf.getvalue(), formats=["npz", "npy"], pieces=1)


# ----- pandas ---------------------------------------------------------------------------

def pandas_files():
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    for compression, suffix, layer in [("gzip", "gz", "gzip"), ("bz2", "bz2", "bzip2"),
                                       ("xz", "xz", "xz"), ("zip", "zip", "zip")]:
        buf = io.BytesIO()
        frame.to_pickle(buf, compression={'method': compression, 'mtime': 0} if compression == 'gzip' else compression)
        write("frame.pkl." + suffix, buf.getvalue(), formats=[layer, "pickle"] if layer != "zip"
              else ["zip"], pieces=1)


# ----- PyTorch layouts (stand-ins) ------------------------------------------------------

def fake_torch():
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # never called: only pickled by reference
        raise AssertionError

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in ("FloatStorage", "ByteStorage"):
        cls = type(name, (), {"__module__": "torch"})
        setattr(torch, name, cls)
    torch._utils = utils
    sys.modules["torch"] = torch
    sys.modules["torch._utils"] = utils
    return torch, utils


class Storage:
    def __init__(self, key, numel, kind="FloatStorage"):
        self.key, self.numel, self.kind = key, numel, kind


class Tensor:
    def __init__(self, storage, size):
        self.storage, self.size = storage, size

    def __reduce_ex__(self, protocol):
        _, utils = fake_torch()
        return (utils._rebuild_tensor_v2,
                (self.storage, 0, self.size, (1,), False, collections.OrderedDict()))


class TorchPickler(pickle.Pickler):
    def __init__(self, f, legacy):
        super().__init__(f, protocol=2)
        self.legacy = legacy

    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            torch, _ = fake_torch()
            kind = getattr(torch, obj.kind)
            if self.legacy:
                return ("storage", kind, obj.key, "cpu", obj.numel, None)
            return ("storage", kind, obj.key, "cpu", obj.numel)
        return None


def state_dict(legacy):
    storage = Storage("0", 3)
    state = collections.OrderedDict([("w", Tensor(storage, (3,)))])
    buf = io.BytesIO()
    TorchPickler(buf, legacy).dump(state)
    return buf.getvalue()


def zip_bytes(members, compression=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buf.getvalue()


EVIL = b"cos\nsystem\n(S'echo pwned'\ntR."


def torch_files():
    storage = struct.pack("<3f", 1.0, 2.0, 3.0)
    zipped = zip_bytes([("model/data.pkl", state_dict(False)), ("model/byteorder", b"little"),
                        ("model/data/0", storage), ("model/version", b"3\n")])
    write("state_dict.pt", zipped, formats=["torch-zip"], pieces=1)
    script = zip_bytes([("m/data.pkl", b"\x80\x02}q\x00."), ("m/constants.pkl", b"\x80\x02).".replace(b")", b")")),
                        ("m/code/__torch__.py", b"def forward(self):\n    return 1\n"),
                        ("m/version", b"3\n")])
    write("script.pt", script, formats=["torchscript"], pieces=2, anomalies=["runs-code"])
    # Legacy: five pickles, then each storage as an 8-byte count and its elements.
    legacy = io.BytesIO()
    for value in (0x1950A86A20F9469CFC6C, 1001,
                  {"protocol_version": 1001, "little_endian": True,
                   "type_sizes": {"short": 2, "int": 4, "long": 8}}):
        pickle.dump(value, legacy, protocol=2)
    legacy.write(state_dict(True))
    pickle.dump(["0"], legacy, protocol=2)
    legacy.write(struct.pack("<q", 3) + storage)
    write("legacy.pt", legacy.getvalue(), formats=["torch-legacy"], pieces=5)
    # The tar variant: sys_info, pickle, storages, tensors.
    torch, _ = fake_torch()
    storages = io.BytesIO()
    pickle.dump(1, storages, protocol=2)
    pickle.dump(("0", "cpu", torch.FloatStorage), storages, protocol=2)
    storages.write(struct.pack("<q", 3) + storage)
    pickle.dump([], storages, protocol=2)
    tensors = io.BytesIO()
    pickle.dump(1, tensors, protocol=2)
    pickle.dump(("t0", "0", torch.FloatStorage), tensors, protocol=2)
    tensors.write(struct.pack("<ii", 1, 0) + struct.pack("<qqq", 3, 1, 0))
    members = [("sys_info", pickle.dumps({"little_endian": True}, protocol=2)),
               ("pickle", state_dict(True)), ("storages", storages.getvalue()),
               ("tensors", tensors.getvalue())]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    write("legacy_tar.pt", buf.getvalue(), formats=["torch-legacy-tar"], pieces=7)
    # A pickle glued in front of a torch ZIP (torch.load unpickles the front part).
    write("glued.pt", EVIL + zipped, formats=["torch-zip"], pieces=2,
          anomalies=["extra-bytes"])
    # A ZIP followed by a pickle.
    write("appended.pt", zipped + EVIL, formats=["torch-zip"], pieces=2,
          anomalies=["extra-bytes"])


# ----- plain compression and bombs ------------------------------------------------------

def compressed_files():
    payload = pickle.dumps({"a": [1, 2, 3]}, protocol=4)
    for name, data, layer in [
        ("dict.pkl.gz", gzip.compress(payload, mtime=0), "gzip"),
        ("dict.pkl.bz2", bz2.compress(payload), "bzip2"),
        ("dict.pkl.xz", lzma.compress(payload), "xz"),
        ("dict.pkl.lzma", lzma.compress(payload, format=lzma.FORMAT_ALONE), "lzma"),
        ("dict.pkl.z", zlib.compress(payload), "zlib"),
        ("dict.pkl.lz4", lz4.frame.compress(payload), "lz4"),
    ]:
        write(name, data, formats=[layer, "pickle"], pieces=1)
    zeros = bytes(8 << 20)
    for name, data, layer in [
        ("bomb.gz", gzip.compress(zeros, 9, mtime=0), "gzip"),
        ("bomb.bz2", bz2.compress(zeros, 9), "bzip2"),
        ("bomb.xz", lzma.compress(zeros), "xz"),
        ("bomb.lzma", lzma.compress(zeros, format=lzma.FORMAT_ALONE), "lzma"),
        ("bomb.z", zlib.compress(zeros, 9), "zlib"),
        ("bomb.lz4", lz4.frame.compress(zeros, compression_level=16), "lz4"),
    ]:
        write(name, data, formats=[layer], pieces=0, bomb=len(zeros))


def main():
    joblib_files()
    numpy_files()
    pandas_files()
    torch_files()
    compressed_files()
    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump(MANIFEST, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
