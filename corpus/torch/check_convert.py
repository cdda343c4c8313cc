#!/usr/bin/env python3
"""Reads converted safetensors files back and compares every tensor bit for bit.

    python corpus/torch/check_convert.py DIR

DIR holds `<file>.safetensors` for checkpoints of manifest.json whose conversion
succeeds (tests/suite/torch.rs writes them). Each tensor is loaded with safetensors'
numpy reader and its bytes, dtype name and shape compared with what generate.py wrote.
Exit status 1 on any difference.
"""
import json
import os
import sys

from safetensors import safe_open

HERE = os.path.dirname(os.path.abspath(__file__))
# safetensors/numpy dtype names for torch's; float8 and bfloat16 have no numpy dtype,
# so those are compared as raw bytes of the file.
NUMPY = {"float64": "float64", "float32": "float32", "float16": "float16", "int64": "int64",
         "int32": "int32", "int16": "int16", "int8": "int8", "uint8": "uint8", "uint16": "uint16",
         "uint32": "uint32", "uint64": "uint64", "bool": "bool"}


def raw_tensors(path):
    """name -> (dtype, shape, bytes), straight from the file's header."""
    with open(path, "rb") as f:
        blob = f.read()
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = (info["dtype"], info["shape"], blob[base + a:base + b])
    return header.get("__metadata__"), out


def main(outdir):
    manifest = json.load(open(os.path.join(HERE, "manifest.json")))
    bad = 0
    checked = 0
    for file, want in sorted(manifest.items()):
        if want["kind"] != "benign" or want["convert"] != "ok":
            continue
        path = os.path.join(outdir, file + ".safetensors")
        meta, raw = raw_tensors(path)
        if meta != {"format": "pt"}:
            print(f"{file}: metadata {meta}")
            bad += 1
        prefix = (want["convert_key"] + ".") if want["convert_key"] else ""
        with safe_open(path, framework="numpy") as f:
            names = set(f.keys())
            expected = {}
            for t in want["tensors"]:
                if t["name"].startswith(prefix):
                    expected[t["name"][len(prefix):]] = t
            if names != set(expected):
                print(f"{file}: names {sorted(names)} != {sorted(expected)}")
                bad += 1
                continue
            for name, t in expected.items():
                data = bytes.fromhex(t["hex"])
                if t["dtype"] in NUMPY:
                    arr = f.get_tensor(name)
                    got = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
                    ok = str(arr.dtype) == NUMPY[t["dtype"]] and list(arr.shape) == t["shape"]
                else:
                    _, shape, got = raw[name]
                    ok = shape == t["shape"]
                if not ok or got != data:
                    print(f"{file}: {name} differs")
                    bad += 1
                checked += 1
    print(f"check_convert: {checked} tensors compared, {bad} differences")
    return 1 if bad or not checked else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
