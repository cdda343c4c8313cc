"""pickleproof.loads against pickle.loads on values these tests make themselves
(never on a file from outside): the same objects, types, floats bit for bit, and
the same sharing and cycles, at every protocol."""

import collections
import datetime
import decimal
import fractions
import pickle
import random
import unittest
import uuid

import pickleproof

from support import same

PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)


def builtin_values():
    shared = [1, 2]
    cyclic = []
    cyclic.append(cyclic)
    holder = []
    recursive_tuple = (holder, "t")
    holder.append(recursive_tuple)
    self_dict = {}
    self_dict["self"] = self_dict
    return {
        "scalars": [None, True, False, 0, -1, 255, 256, 65535, 2**31, -(2**31) - 1, 2**63, 2**100, -(7**300)],
        "floats": [0.0, -0.0, 1.5, float("inf"), float("-inf"), float("nan"), 1e-310, 2.0**1023],
        "text": ["", "ascii", "é€𝄞", "\ud800 lone", "\udfff", "x" * 300],
        "bytes": [b"", b"\x00\xff", b"b" * 300, bytearray(b"ba"), bytearray()],
        "containers": ((), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), [], {}, {"a": 1, 2: "b", (1, "t"): None}),
        "sets": [set(), {1, 2, "x"}, frozenset(), frozenset({(1, 2), "y"})],
        "shared": [shared, shared, (shared, shared)],
        "cyclic": cyclic,
        "recursive_tuple": recursive_tuple,
        "self_dict": self_dict,
        "nested": [[[[["deep"]]]]],
    }


def random_value(rng, depth=0):
    kinds = ["int", "big", "float", "str", "bytes", "none", "bool"]
    if depth < 4:
        kinds += ["list", "tuple", "dict", "set", "frozenset", "bytearray"] * 2
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.randint(-(2**40), 2**40)
    if kind == "big":
        return rng.randint(-(2**200), 2**200)
    if kind == "float":
        return rng.choice([rng.random(), -rng.random() * 1e300, float("inf"), -0.0])
    if kind == "str":
        return "".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(rng.randint(0, 5)))
    if kind == "bytes":
        return bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 5)))
    if kind == "bytearray":
        return bytearray(rng.randint(0, 255) for _ in range(rng.randint(0, 3)))
    if kind == "none":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    items = [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    hashable = [i for i in items if isinstance(i, (int, float, str, bytes, type(None), bool))]
    if kind == "list":
        return items
    if kind == "tuple":
        return tuple(items)
    if kind == "dict":
        return {k: v for k, v in zip(hashable, items)}
    if kind == "set":
        return set(hashable)
    return frozenset(hashable)


class Point:
    """A plain class: pickled by NEWOBJ (or copyreg._reconstructor) and BUILD."""

    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __eq__(self, other):
        return type(other) is Point and vars(self) == vars(other)


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self, a, b):
        self.a = a
        self.b = b

    def __eq__(self, other):
        return type(other) is Slotted and (self.a, self.b) == (other.a, other.b)


class WithState:
    """__getstate__/__setstate__, and a cycle through its own state."""

    def __init__(self):
        self.log = ["made"]
        self.me = self

    def __getstate__(self):
        return {"log": self.log, "me": self.me}

    def __setstate__(self, state):
        self.log = state["log"] + ["restored"]
        self.me = state["me"]

    def __eq__(self, other):
        return type(other) is WithState and self.log == other.log


class KeywordOnly:
    """NEWOBJ_EX: __new__ takes a keyword argument."""

    def __new__(cls, *, size):
        obj = super().__new__(cls)
        obj.size = size
        return obj

    def __getnewargs_ex__(self):
        return (), {"size": self.size}

    def __eq__(self, other):
        return type(other) is KeywordOnly and self.size == other.size


class Bag(list):
    """A list subclass: APPENDS onto an object, plus BUILD of its attributes."""

    def __eq__(self, other):
        return type(other) is Bag and list(self) == list(other) and vars(self) == vars(other)


class Table(dict):
    """A dict subclass: SETITEMS onto an object."""


HERE = __name__


def policy_for(*names):
    policy = pickleproof.Policy.preset("stdlib-data")
    for name in names:
        policy = policy.allow(HERE, name)
    return policy


class BuiltinValues(unittest.TestCase):
    def test_every_builtin_value_at_every_protocol(self):
        for protocol in PROTOCOLS:
            for name, value in builtin_values().items():
                with self.subTest(protocol=protocol, value=name):
                    data = pickle.dumps(value, protocol=protocol)
                    same(self, pickle.loads(data), pickleproof.loads(data))

    def test_random_values_at_every_protocol(self):
        rng = random.Random(20261203)
        for round_ in range(300):
            value = random_value(rng)
            protocol = round_ % (pickle.HIGHEST_PROTOCOL + 1)
            with self.subTest(round=round_, protocol=protocol):
                data = pickle.dumps(value, protocol=protocol)
                same(self, pickle.loads(data), pickleproof.loads(data))

    def test_shared_and_cyclic_values_keep_their_identity(self):
        for protocol in PROTOCOLS:
            values = pickleproof.loads(pickle.dumps(builtin_values(), protocol=protocol))
            shared = values["shared"]
            self.assertIs(shared[0], shared[1])
            self.assertIs(shared[2][0], shared[0])
            self.assertIs(values["cyclic"][0], values["cyclic"])
            recursive = values["recursive_tuple"]
            self.assertIs(recursive[0][0], recursive)
            self.assertIs(values["self_dict"]["self"], values["self_dict"])

    def test_python2_strings_follow_the_encoding_argument(self):
        data = b"U\x04caf\xe9q\x00."  # SHORT_BINSTRING b"caf\xe9"
        self.assertEqual(pickleproof.loads(data, encoding="latin1"), "café")
        self.assertEqual(pickleproof.loads(data, encoding="bytes"), b"caf\xe9")
        with self.assertRaises(pickleproof.UnpicklingError) as caught:
            pickleproof.loads(data)
        self.assertEqual(caught.exception.kind, "malformed")
        self.assertEqual(caught.exception.offset, 0)

    def test_bytes_like_inputs_are_read_and_str_is_refused(self):
        data = pickle.dumps([1, "x"])
        for wrapped in (bytearray(data), memoryview(data)):
            self.assertEqual(pickleproof.loads(wrapped), [1, "x"])
        with self.assertRaises(TypeError) as caught:
            pickleproof.loads("not bytes")
        self.assertIn("bytes-like object is required, not 'str'", str(caught.exception))


class AllowedGlobals(unittest.TestCase):
    def test_stdlib_data_types_are_rebuilt_under_their_preset(self):
        counter = collections.Counter("abracadabra")
        values = [
            collections.OrderedDict([("b", 1), ("a", [2])]),
            counter,
            collections.deque([1, 2, 3], maxlen=5),
            collections.defaultdict(list, {"k": [1]}),
            datetime.datetime(2026, 12, 3, 20, 18, 50, 123, tzinfo=datetime.timezone.utc),
            datetime.date(2024, 2, 29),
            datetime.timedelta(days=-1, seconds=5),
            decimal.Decimal("-1.50E+3"),
            fractions.Fraction(3, 7),
            uuid.UUID(int=0x12345678123456781234567812345678),
            complex(1, -2),
            range(1, 10, 3),
            slice(1, None, 2),
        ]
        for protocol in PROTOCOLS:
            for value in values:
                with self.subTest(protocol=protocol, value=value):
                    data = pickle.dumps(value, protocol=protocol)
                    same(self, pickle.loads(data), pickleproof.loads(data, policy="stdlib-data"))

    def test_objects_are_built_as_pickle_builds_them(self):
        bag = Bag([1, [2]])
        bag.label = "bag"
        table = Table(a=1)
        table.note = "t"
        values = {
            "point": Point(1, [2.5]),
            "slotted": Slotted("a", Point(0, 0)),
            "bag": bag,
            "table": table,
        }
        policy = policy_for("Point", "Slotted", "KeywordOnly", "Bag", "Table")
        # Below 2, copyreg._reconstructor cannot make Slotted; below 4, keyword
        # arguments of __new__ are pickled as a functools.partial call.
        for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
            if protocol >= 4:
                values["keyword"] = KeywordOnly(size=3)
            with self.subTest(protocol=protocol):
                data = pickle.dumps(values, protocol=protocol)
                expected = pickle.loads(data)
                actual = pickleproof.loads(data, policy=policy)
                same(self, expected, actual)
                self.assertEqual(actual["table"], {"a": 1})
                self.assertEqual(actual["table"].note, "t")

    def test_a_setstate_cycle_sees_its_object(self):
        for protocol in PROTOCOLS:
            with self.subTest(protocol=protocol):
                data = pickle.dumps(WithState(), protocol=protocol)
                built = pickleproof.loads(data, policy=policy_for("WithState"))
                self.assertIs(type(built), WithState)
                self.assertEqual(built.log, ["made", "restored"])
                self.assertIs(built.me, built)

    def test_protocol_0_and_1_objects_go_through_copyreg(self):
        for protocol in (0, 1):
            data = pickle.dumps(Point(3, "y"), protocol=protocol)
            self.assertEqual(pickleproof.loads(data, policy=policy_for("Point")), Point(3, "y"))
            with self.assertRaises(pickleproof.ForbiddenError) as caught:
                pickleproof.loads(data)
            self.assertEqual((caught.exception.module, caught.exception.name), ("copyreg", "_reconstructor"))

    def test_a_class_outside_the_policy_is_refused_before_anything_is_built(self):
        data = pickle.dumps([Point(1, 2)], protocol=4)
        with self.assertRaises(pickleproof.ForbiddenError) as caught:
            pickleproof.loads(data, policy="stdlib-data")
        error = caught.exception
        self.assertEqual((error.module, error.name, error.reason), (HERE, "Point", None))
        self.assertEqual(error.kind, "forbidden")
        self.assertEqual(error.opcode, pickle.STACK_GLOBAL[0])
        self.assertEqual(error.offset, data.index(pickle.STACK_GLOBAL))
        self.assertIsInstance(error, pickle.UnpicklingError)


class OutOfBand(unittest.TestCase):
    def test_protocol_5_buffers_are_taken_from_the_buffers_argument(self):
        payload = [pickle.PickleBuffer(bytearray(b"mutable")), pickle.PickleBuffer(b"readonly")]
        buffers = []
        data = pickle.dumps(payload, protocol=5, buffer_callback=buffers.append)
        expected = pickle.loads(data, buffers=buffers)
        actual = pickleproof.loads(data, buffers=buffers)
        self.assertEqual([bytes(x) for x in actual], [bytes(x) for x in expected])
        self.assertEqual([type(x) for x in actual], [type(x) for x in expected])
        self.assertEqual(
            [memoryview(x).readonly for x in actual], [memoryview(x).readonly for x in expected]
        )
        with self.assertRaises(pickleproof.UnpicklingError) as caught:
            pickleproof.loads(data)
        self.assertEqual(caught.exception.kind, "buffer_missing")
        with self.assertRaises(pickleproof.UnpicklingError) as caught:
            pickleproof.loads(data, buffers=buffers[:1])
        self.assertEqual(str(caught.exception), "not enough out-of-band buffers")

    def test_persistent_ids_go_to_persistent_load(self):
        import io

        class Pickler(pickle.Pickler):
            def persistent_id(self, obj):
                return ("ext", obj[1:]) if isinstance(obj, str) and obj.startswith("@") else None

        out = io.BytesIO()
        Pickler(out, protocol=2).dump(["@a", 1, "@b"])
        data = out.getvalue()
        seen = []

        def persistent_load(pid):
            seen.append(pid)
            return "@" + pid[1].upper()

        self.assertEqual(pickleproof.loads(data, persistent_load=persistent_load), ["@A", 1, "@B"])
        self.assertEqual(seen, [("ext", "a"), ("ext", "b")])
        with self.assertRaises(pickleproof.ForbiddenError) as caught:
            pickleproof.loads(data)
        self.assertEqual(caught.exception.kind, "persid_refused")


if __name__ == "__main__":
    unittest.main()
