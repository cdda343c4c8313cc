"""Every refusal is the exception its kind promises, with the exact offset, opcode
and budget: checked over the whole corpus against corpus/outcomes.txt (the Rust
decoder's own outcomes, default limits and strict policy, as loads' defaults), and
on budgets set here."""

import os
import pickle
import sys
import unittest

import pickleproof

CORPUS = os.path.join(os.path.dirname(__file__), "..", "..", "corpus")

RECONSTRUCTORS = {
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "bytearray"),
    ("builtins", "bytes"),
    ("_codecs", "encode"),
    ("codecs", "encode"),
}

CLASSES = {
    "eof": pickleproof.TruncatedError,
    "limit": pickleproof.LimitError,
    "forbidden": pickleproof.ForbiddenError,
    "call_refused": pickleproof.ForbiddenError,
    "persid_refused": pickleproof.ForbiddenError,
    "extension_refused": pickleproof.ForbiddenError,
    "computed_call_refused": pickleproof.ForbiddenError,
}


# Audit events that would mean code ran or a module was looked up: none may happen
# during a strict loads, whatever the stream, but the lookup of a reconstructor kept
# as a plain value (sys.audit hooks cannot be removed, so
# this one records only while `WATCH` holds a list).
WATCH = None
WATCHED = ("import", "pickle.find_class", "exec", "compile", "os.system", "subprocess.Popen", "open")


def _audit(event, args):
    if WATCH is not None and event in WATCHED:
        WATCH.append((event, args))


sys.addaudithook(_audit)


def outcomes():
    """(path, strict outcome fields) for every line of corpus/outcomes.txt."""
    with open(os.path.join(CORPUS, "outcomes.txt"), encoding="utf-8") as lines:
        for line in lines:
            name, strict, _inert = line.rstrip("\n").split("\t")
            words = strict.removeprefix("strict: ").split()
            fields = dict(word.split("=", 1) for word in words[1:] if "=" in word)
            if words[0] == "err":
                fields["kind"] = words[1]
            yield name, words[0], fields


class CorpusOutcomes(unittest.TestCase):
    def test_every_corpus_file_fails_or_loads_as_the_decoder_says(self):
        global WATCH
        counts = {}
        for name, result, fields in outcomes():
            with open(os.path.join(CORPUS, name), "rb") as f:
                data = f.read()
            with self.subTest(file=name):
                WATCH = []
                try:
                    self.check_outcome(data, result, fields, counts)
                finally:
                    events, WATCH = WATCH, None
                # The one lookup strict allows: a built-in reconstructor (the
                # builtins.set class...) kept as a plain value, which is what it is.
                looked_up = [e for e in events if e[0] == "pickle.find_class" and e[1] in RECONSTRUCTORS]
                self.assertEqual(events, looked_up, "a strict loads imported or ran something")
        # The corpus exercises each class: a change that emptied it would show here.
        for kind in ("ok", "unfolded", "eof", "limit", "forbidden", "malformed", "persid_refused"):
            self.assertGreater(counts.get(kind, 0), 10, kind)

    def test_the_audit_watch_sees_an_import(self):
        global WATCH
        WATCH = []
        try:
            pickleproof.loads(pickle.dumps(collections_ordered_dict()), policy="stdlib-data")
        finally:
            events, WATCH = WATCH, None
        self.assertIn(("pickle.find_class", ("collections", "OrderedDict")), events)

    def check_outcome(self, data, result, fields, counts):
        """One file: loads succeeds, or fails exactly as the decoder's outcome says."""
        if result == "ok":
            try:
                pickleproof.loads(data)
                counts["ok"] = counts.get("ok", 0) + 1
            except pickleproof.ForbiddenError as error:
                # The decoder keeps a reconstructor call it cannot turn into a value
                # (set with four arguments, an unknown codec...) as a call; loads
                # refuses to make it.
                self.assertEqual(error.kind, "call_refused")
                self.assertIn((error.module, error.name), RECONSTRUCTORS)
                counts["unfolded"] = counts.get("unfolded", 0) + 1
            return
        kind = fields["kind"]
        with self.assertRaises(CLASSES.get(kind, pickleproof.UnpicklingError)) as caught:
            pickleproof.loads(data)
        error = caught.exception
        self.assertIsInstance(error, pickle.UnpicklingError)
        self.assertEqual(error.kind, kind)
        self.assertEqual(error.offset, int(fields["offset"]))
        opcode = None if fields["opcode"] == "-" else int(fields["opcode"], 16)
        self.assertEqual(error.opcode, opcode)
        if kind == "limit":
            self.assertEqual(error.resource, fields["resource"])
            self.assertGreater(error.requested, error.limit)
        counts[kind] = counts.get(kind, 0) + 1


def collections_ordered_dict():
    import collections

    return collections.OrderedDict(a=1)


class Budgets(unittest.TestCase):
    def test_a_nesting_bomb_stops_at_the_depth_limit_with_its_offset(self):
        # 12 EMPTY_LISTs, then 11 APPENDs nest each into the one before: 12 deep.
        nested = b"\x80\x02" + b"]" * 12 + b"a" * 11 + b"."
        innermost = pickleproof.loads(nested, limits=pickleproof.Limits(max_depth=12))
        for _ in range(11):
            self.assertEqual(len(innermost), 1)
            innermost = innermost[0]
        self.assertEqual(innermost, [])
        with self.assertRaises(pickleproof.LimitError) as caught:
            pickleproof.loads(nested, limits=pickleproof.Limits(max_depth=11))
        error = caught.exception
        self.assertEqual((error.resource, error.limit, error.requested), ("depth", 11, 12))
        # The last APPEND is the one that nests too deep.
        self.assertEqual((error.offset, error.opcode), (2 + 12 + 10, ord("a")))

    def test_a_memo_bomb_is_refused_by_memory_not_built(self):
        # Each level is a list holding the previous one twice: 2**40 leaves if expanded.
        levels = 40
        body = b"]q\x00"
        for i in range(levels):
            body += b"]q%c(h%ch%ce" % (i + 1, i, i)
        data = b"\x80\x02" + body + b"."
        built = pickleproof.loads(data)
        self.assertIs(built[0], built[1])
        limits = pickleproof.Limits(max_memo_entries=20)
        with self.assertRaises(pickleproof.LimitError) as caught:
            pickleproof.loads(data, limits=limits)
        error = caught.exception
        self.assertEqual((error.resource, error.limit, error.requested), ("memo_entries", 20, 21))
        self.assertEqual(error.offset, 2 + 3 + 19 * 9 + 1)
        self.assertEqual(error.opcode, ord("q"))

    def test_a_huge_length_claim_fails_before_anything_is_read(self):
        data = b"\x80\x04\x8e" + (2**62).to_bytes(8, "little") + b"xx"
        with self.assertRaises(pickleproof.LimitError) as caught:
            pickleproof.loads(data)
        error = caught.exception
        self.assertEqual((error.resource, error.offset, error.opcode), ("input_bytes", 2, 0x8E))

    def test_truncation_is_also_an_eoferror(self):
        # Protocol 2 has no frames: the input ends where STOP should be.
        for data in (b"", pickle.dumps([1, 2, 3], protocol=2)[:-1]):
            with self.assertRaises(EOFError) as caught:
                pickleproof.loads(data)
            self.assertIsInstance(caught.exception, pickleproof.TruncatedError)
            self.assertEqual(caught.exception.offset, len(data))

    def test_getattr_outside_its_rule_names_the_rule(self):
        data = b"\x80\x02cbuiltins\ngetattr\ncos\nsystem\nX\x06\x00\x00\x00systemq\x00\x86R."
        with self.assertRaises(pickleproof.ForbiddenError) as caught:
            pickleproof.loads(data, policy="stdlib-data")
        error = caught.exception
        self.assertEqual((error.module, error.name), ("os", "system"))


if __name__ == "__main__":
    unittest.main()
