"""pickleproof.pytorch over corpus/torch: every checkpoint's tensors, bytes and
conversion as corpus/torch/manifest.json (written by corpus/torch/generate.py from
the values it saved) says, and every hostile checkpoint refused with the error the
manifest names."""

import hashlib
import json
import os
import struct
import tempfile
import unittest

import pickleproof
from pickleproof import pytorch

TORCH = os.path.join(os.path.dirname(__file__), "..", "..", "corpus", "torch")
with open(os.path.join(TORCH, "manifest.json"), encoding="utf-8") as f:
    MANIFEST = json.load(f)

# safetensors' dtype names for torch's.
SAFETENSORS = {
    "float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16",
    "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8",
    "uint16": "U16", "uint32": "U32", "uint64": "U64", "bool": "BOOL",
    "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2",
}
FIELDS = ("name", "dtype", "shape", "stride", "storage_key", "parameter", "requires_grad")


def safetensors_tensors(path):
    """name -> (dtype, shape, bytes), read from the file's own header."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    header.pop("__metadata__", None)
    data = blob[8 + n :]
    return {
        name: (entry["dtype"], entry["shape"], data[entry["data_offsets"][0] : entry["data_offsets"][1]])
        for name, entry in header.items()
    }


def entries(kind):
    return sorted((name, entry) for name, entry in MANIFEST.items() if entry["kind"] == kind)


class Benign(unittest.TestCase):
    def test_tensors_and_their_bytes_are_the_saved_ones(self):
        checked = 0
        for name, entry in entries("benign"):
            path = os.path.join(TORCH, name)
            with self.subTest(file=name):
                listed = pytorch.tensors(path)
                expected = [{k: t[k] for k in FIELDS} | {"storage_offset": t["offset"]} for t in entry["tensors"]]
                actual = [{k: t[k] for k in FIELDS + ("storage_offset",)} for t in listed]
                self.assertEqual(actual, expected)
                for tensor, saved in zip(listed, entry["tensors"]):
                    data = pytorch.read(path, tensor["name"])
                    self.assertEqual(data.hex(), saved["hex"], tensor["name"])
                    self.assertEqual(hashlib.sha256(data).hexdigest(), saved["sha256"])
                    self.assertEqual(tensor["nbytes"], len(data))
                    checked += 1
        self.assertGreater(checked, 50)

    def test_conversion_gives_the_saved_tensors_or_the_manifests_error(self):
        converted = 0
        for name, entry in entries("benign"):
            path = os.path.join(TORCH, name)
            key = entry["convert_key"]
            with self.subTest(file=name), tempfile.TemporaryDirectory() as out_dir:
                out = os.path.join(out_dir, "out.safetensors")
                if entry["convert"] != "ok":
                    with self.assertRaises(pickleproof.CheckpointError) as caught:
                        pytorch.convert(path, out, key=key)
                    error = caught.exception
                    self.assertEqual(error.kind, entry["convert"]["error"])
                    tensors = entry["convert"].get("tensors") or [entry["convert"]["tensor"]]
                    self.assertEqual(error.tensors, tensors)
                    self.assertFalse(os.path.exists(out), "nothing is written on a refusal")
                    continue
                pytorch.convert(path, out, key=key)
                prefix = f"{key}." if key else ""
                expected = {
                    t["name"].removeprefix(prefix): (SAFETENSORS[t["dtype"]], t["shape"], t["hex"])
                    for t in entry["tensors"]
                    if t["name"].startswith(prefix)
                }
                actual = {n: (d, s, b.hex()) for n, (d, s, b) in safetensors_tensors(out).items()}
                self.assertEqual(actual, expected)
                converted += 1
        self.assertGreater(converted, 5)


class Hostile(unittest.TestCase):
    def test_every_hostile_checkpoint_is_refused_as_the_manifest_says(self):
        for name, entry in entries("hostile"):
            path = os.path.join(TORCH, name)
            with self.subTest(file=name):
                if entry.get("stage") == "convert":
                    pytorch.tensors(path)
                    call = lambda: pytorch.convert(path, os.path.join(tempfile.gettempdir(), "never.safetensors"))
                else:
                    call = lambda: pytorch.tensors(path)
                if entry["error"] == "forbidden":
                    with self.assertRaises(pickleproof.ForbiddenError) as caught:
                        call()
                    error = caught.exception
                    self.assertEqual((error.module, error.name), (entry["module"], entry["global_name"]))
                    self.assertEqual(error.offset, entry["offset"])
                    continue
                with self.assertRaises(pickleproof.CheckpointError) as caught:
                    call()
                self.assertEqual(caught.exception.kind, entry["error"])
                self.assertEqual(caught.exception.tensor, entry["tensor"])
                self.assertEqual(caught.exception.tensors, [entry["tensor"]] if entry["tensor"] else [])

    def test_files_that_are_not_checkpoints(self):
        with self.assertRaises(FileNotFoundError):
            pytorch.tensors(os.path.join(TORCH, "no such file.pt"))
        with self.assertRaises(pickleproof.CheckpointError) as caught:
            pytorch.tensors(os.path.join(TORCH, "manifest.json"))
        self.assertEqual(caught.exception.kind, "not_a_checkpoint")
        with self.assertRaises(pickleproof.CheckpointError) as caught:
            pytorch.read(os.path.join(TORCH, "params.pt"), "no such tensor")
        self.assertEqual(caught.exception.kind, "key_not_found")


if __name__ == "__main__":
    unittest.main()
