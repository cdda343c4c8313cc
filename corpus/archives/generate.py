#!/usr/bin/env python3
"""Writes the ZIP archives of corpus/archives/ (run from anywhere; needs no torch).

    python3 corpus/archives/generate.py

torch.save (since PyTorch 1.6) writes an uncompressed ZIP whose entries all sit under
one directory named after the file: `<name>/data.pkl` (the pickle, protocol 2, with
storages as persistent ids), `<name>/data/<key>` (each storage's raw bytes),
`<name>/byteorder` and `<name>/version`. This script writes that layout with Python's
zipfile (ZIP_STORED) around pickles made by benches/gen_inputs.py's torch stand-ins,
plus hostile variants. Nothing here is ever unpickled.

manifest.json records, per archive, the pickle entries and what the tests expect.
"""

import collections
import importlib.util
import io
import json
import os
import pickle
import struct
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def gen_inputs():
    spec = importlib.util.spec_from_file_location(
        "gen_inputs", os.path.join(ROOT, "benches", "gen_inputs.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_state_dict(g):
    """A three-tensor state dict pickled as torch.save does, and its storages."""
    g._fake_torch()
    shapes = [("fc.weight", (2, 3)), ("fc.bias", (2,)), ("bn.running_mean", (3,))]
    state = collections.OrderedDict()
    storages = {}
    for index, (name, shape) in enumerate(shapes):
        numel = 1
        for dim in shape:
            numel *= dim
        key = str(index)
        state[name] = g._Tensor(g._Storage(key, numel), shape)
        storages[key] = struct.pack("<%df" % numel, *[float(i) for i in range(numel)])
    state._metadata = collections.OrderedDict([("", {"version": 1}), ("fc", {"version": 1})])
    buf = io.BytesIO()
    g._TorchPickler(buf, protocol=2).dump(state)
    return buf.getvalue(), storages


def torch_zip(path, name, pickle_bytes, storages, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        z.writestr(zipfile.ZipInfo(name + "/data.pkl"), pickle_bytes, compress_type=compression)
        z.writestr(zipfile.ZipInfo(name + "/byteorder"), b"little")
        for key, data in storages.items():
            z.writestr(zipfile.ZipInfo(name + "/data/" + key), data)
        z.writestr(zipfile.ZipInfo(name + "/version"), b"3\n")


def malicious_pickle():
    """A state dict whose pickle also calls os.system (bytes built by hand)."""
    return (b"\x80\x02" + b"ccollections\nOrderedDict\nq\x00)Rq\x01"
            + b"cos\nsystem\nq\x02X\x0b\x00\x00\x00echo pwned!\x85R0" + b".")


def main():
    g = gen_inputs()
    data, storages = tiny_state_dict(g)
    manifest = {}

    torch_zip(os.path.join(HERE, "tiny_state_dict.pt"), "tiny_state_dict", data, storages)
    manifest["tiny_state_dict.pt"] = {
        "pickles": ["tiny_state_dict/data.pkl"],
        "entries": 6,
        "pytorch_policy": "ok",
        "note": "torch.save layout: data.pkl (protocol 2, BINPERSID storages), data/0..2, byteorder, version",
    }

    evil = malicious_pickle()
    torch_zip(os.path.join(HERE, "malicious.pt"), "malicious", evil, {})
    manifest["malicious.pt"] = {
        "pickles": ["malicious/data.pkl"],
        "entries": 3,
        "pytorch_policy": {"refused_offset": evil.index(b"cos\n"), "module": "os", "name": "system"},
        "note": "an OrderedDict, then os.system('echo pwned!') called and popped",
    }

    torch_zip(os.path.join(HERE, "deflated.pt"), "deflated", data, storages,
              compression=zipfile.ZIP_DEFLATED)
    manifest["deflated.pt"] = {
        "pickles": ["deflated/data.pkl"],
        "entries": 6,
        "pytorch_policy": "compressed",
        "note": "the same archive with DEFLATE: not what torch writes; read with the compression feature, refused as unsupported without it",
    }

    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote", ", ".join(sorted(manifest)))


if __name__ == "__main__":
    main()
