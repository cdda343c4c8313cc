"""load() over file objects of every kind (the file is left just past each
pickle), scan() and scan_file() reports, and the Limits and Policy classes."""

import io
import os
import pickle
import tempfile
import unittest

import pickleproof

CORPUS = os.path.join(os.path.dirname(__file__), "..", "..", "corpus")
EVIL = b"cos\nsystem\n(S'echo pwned'\ntR."


class Unseekable(io.RawIOBase):
    """A stream with neither peek nor seek (a pipe-like reader)."""

    def __init__(self, data):
        self._data = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, buffer):
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


class Failing(io.RawIOBase):
    def readable(self):
        return True

    def readinto(self, buffer):
        raise ConnectionResetError("peer went away")


class Load(unittest.TestCase):
    def files(self, data):
        yield "BytesIO (seek)", io.BytesIO(data)
        yield "BufferedReader (peek)", io.BufferedReader(io.BytesIO(data), buffer_size=16)
        yield "raw stream (one byte at a time)", Unseekable(data)

    def test_load_reads_one_pickle_and_leaves_the_file_after_it(self):
        first = pickle.dumps({"a": list(range(100))}, protocol=2)
        second = pickle.dumps("second", protocol=5)
        tail = b"trailing bytes"
        for name, file in self.files(first + second + tail):
            with self.subTest(file=name):
                self.assertEqual(pickleproof.load(file), {"a": list(range(100))})
                self.assertEqual(pickleproof.load(file), "second")
                self.assertEqual(file.read(), tail)

    def test_a_large_pickle_is_read_across_blocks(self):
        value = [bytes([i % 256]) * 1000 for i in range(300)]
        data = pickle.dumps(value, protocol=4) + b"rest"
        for name, file in self.files(data):
            with self.subTest(file=name):
                self.assertEqual(pickleproof.load(file), value)
                self.assertEqual(file.read(), b"rest")

    def test_load_refuses_as_loads_does(self):
        for name, file in self.files(EVIL):
            with self.subTest(file=name):
                with self.assertRaises(pickleproof.ForbiddenError) as caught:
                    pickleproof.load(file)
                self.assertEqual((caught.exception.module, caught.exception.offset), ("os", 0))
        for name, file in self.files(b"\x80\x02]q\x00(K\x01"):
            with self.subTest(file=name):
                with self.assertRaises(EOFError) as caught:
                    pickleproof.load(file)
                self.assertEqual(caught.exception.offset, 8)

    def test_the_files_own_exception_is_raised(self):
        with self.assertRaises(ConnectionResetError) as caught:
            pickleproof.load(Failing())
        self.assertEqual(str(caught.exception), "peer went away")


class Scan(unittest.TestCase):
    def test_scan_reports_what_a_stream_would_import_and_call(self):
        report = pickleproof.scan(EVIL)
        self.assertEqual(report["schema"], "pickleproof-scan/1")
        self.assertEqual(report["verdict"], "unsafe")
        self.assertEqual(report["policy"], "strict")
        self.assertEqual(pickleproof.scan(pickle.dumps([1, 2]))["verdict"], "clean")

    def test_scan_file_reads_containers_under_a_preset(self):
        benign = os.path.join(CORPUS, "benign")
        torch_file = next(
            os.path.join(benign, name) for name in sorted(os.listdir(benign)) if name.endswith(".pt")
        )
        self.assertEqual(pickleproof.scan_file(torch_file, policy="ml")["verdict"], "clean")
        strict = pickleproof.scan_file(torch_file)
        self.assertEqual(strict["verdict"], "suspicious")
        self.assertEqual(strict["file"], torch_file)
        with tempfile.NamedTemporaryFile(suffix=".pkl") as out:
            out.write(EVIL)
            out.flush()
            self.assertEqual(pickleproof.scan_file(out.name, policy="ml")["verdict"], "unsafe")
        with self.assertRaises(FileNotFoundError):
            pickleproof.scan_file(os.path.join(CORPUS, "no such file"))


class Options(unittest.TestCase):
    def test_limits_default_and_override_each_budget(self):
        default = pickleproof.Limits()
        self.assertEqual(default.max_depth, 1000)
        self.assertEqual(default.max_memory_bytes, 256 << 20)
        tight = pickleproof.Limits(max_depth=5, max_steps=10)
        self.assertEqual((tight.max_depth, tight.max_steps), (5, 10))
        self.assertEqual(tight.max_memory_bytes, default.max_memory_bytes)
        self.assertEqual(pickleproof.Limits(max_depth=5), pickleproof.Limits(max_depth=5))
        self.assertNotEqual(pickleproof.Limits(max_depth=5), default)
        self.assertEqual(pickleproof.Limits.unbounded().max_steps, 2**64 - 1)
        self.assertIn("max_depth=5", repr(tight))
        with self.assertRaises(TypeError):
            pickleproof.Limits(max_depht=5)
        with self.assertRaises(ValueError):
            pickleproof.Limits(max_depth=-1)

    def test_policies_are_built_from_presets_text_and_calls(self):
        self.assertIn("ml", pickleproof.Policy.preset_names())
        ml = pickleproof.Policy.preset("ml")
        self.assertTrue(ml.allows("collections", "OrderedDict"))
        self.assertFalse(ml.allows("os", "system"))
        strict = pickleproof.Policy.strict()
        self.assertFalse(strict.allows("collections", "OrderedDict"))
        widened = strict.allow("collections", "OrderedDict")
        self.assertTrue(widened.allows("collections", "OrderedDict"))
        self.assertFalse(strict.allows("collections", "OrderedDict"), "allow returns a new policy")
        text = pickleproof.Policy.from_text("collections:OrderedDict\n")
        self.assertEqual(pickleproof.Policy.from_text(text.to_text()), text)
        self.assertTrue(text.union(ml).allows("numpy", "ndarray"))
        toml = pickleproof.Policy.from_toml('allow = ["collections:OrderedDict"]\n')
        self.assertTrue(toml.allows("collections", "OrderedDict"))
        with self.assertRaises(ValueError) as caught:
            pickleproof.Policy.preset("everything")
        self.assertIn("unknown policy", str(caught.exception))
        with self.assertRaises(ValueError):
            pickleproof.Policy.from_text("not a line of the format")

    def test_loads_refuses_arguments_it_cannot_honour(self):
        data = pickle.dumps(1)
        with self.assertRaises(ValueError):
            pickleproof.loads(data, fix_imports=False)
        with self.assertRaises(ValueError):
            pickleproof.loads(data, encoding="koi8-r")
        with self.assertRaises(TypeError):
            pickleproof.loads(data, policy=3)
        with self.assertRaises(TypeError):
            pickleproof.loads(data, limits={"max_depth": 3})
        self.assertEqual(pickleproof.loads(data, encoding="latin1", errors="ignore"), 1)


if __name__ == "__main__":
    unittest.main()
