#!/usr/bin/env python3
"""Write the hand-made seeds of the `serde` fuzz target: corpus/fuzz/serde-<what>.pkl.

    python3 corpus/serde/fuzz_seeds.py

Each file is CPython's own `pickle.dumps(value, protocol)` followed by the two
configuration bytes the serde body reads from the end of its input (the decoder stops
at STOP): the mode byte (bit 0: describe objects; bit 1: OrderedDict as map; the
protocol of the round trip is (mode >> 2) % 6) and the value budget (x16). Each value
is shaped for one of the body's target types (see src/harness/serde.rs: `Typed`,
`Vec<Variant>`, `Vec<Vec<i64>>`, `Tagged`, `Loose`, `Doc`) and reaches one answer of
the deserializer that the fuzzed corpus did not: a range error of a narrow or 128-bit
int, an f32 out of range, every enum form and its refusals, a visitor that stops early,
a described NEWOBJ_EX call with kwargs. Standard library only; deterministic.
"""

import os
import pickle

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz")


class WithKwargs:
    """Pickled with NEWOBJ_EX (protocol 4+): cls.__new__(cls, *args, **kwargs)."""

    def __new__(cls, *args, **kwargs):
        return super().__new__(cls)

    def __getnewargs_ex__(self):
        return ((1,), {"size": 2})


WithKwargs.__module__ = "__main__"

# (name, value, protocol, mode byte)
SEEDS = [
    # Vec<Vec<i64>>: ints past 64 bits named in decimal.
    ("int-past-u64", [[2**64]], 2, 0x00),
    ("int-below-i64", [[-(2**64)]], 3, 0x04),
    # Typed: one field each.
    ("narrow-out-of-range", {"narrow": [1, 300]}, 4, 0x08),
    ("f32-out-of-range", {"single": [0.5, 1e300]}, 4, 0x0C),
    ("f32-from-int", {"single": [1, 2.5, float("inf")]}, 5, 0x10),
    ("array-from-long-bytes", {"two": b"abc"}, 3, 0x14),
    ("array-from-bytes", {"two": b"ab", "blob": b"xyz"}, 3, 0x14),
    ("head-stops-early", {"head": {"a": 1, "b": 2}}, 2, 0x00),
    ("head-one-entry", {"head": {"a": 1}}, 2, 0x04),
    ("head-from-list", {"head": [1]}, 2, 0x04),
    ("char-from-long-str", {"letters": ["a", "bc"]}, 4, 0x08),
    ("bytes-field-from-str", {"blob": "text"}, 4, 0x0C),
    (
        "typed-every-shape",
        {
            "wide": [2**100, -(2**100), -(2**127), 5],
            "uwide": [2**128 - 1, 0],
            "small": [65535],
            "letters": ["a", "\u00e9", "\U0001f600"],
            "unit": None,
            "unit_struct": None,
            "newtype": 7,
            "pair": (-3, "x"),
            "by_int": {1: "a", -2: "b"},
            "unknown": [1, {"x": 2}],
            "pick": ["Unit", {"Newtype": 5}],
        },
        4,
        0x10,
    ),
    ("wide-past-i128", {"wide": [2**127]}, 2, 0x00),
    ("uwide-negative", {"uwide": [-1]}, 2, 0x00),
    ("key-not-a-str", {1: 2, "narrow": [1]}, 4, 0x04),
    # Vec<Variant>: enums in every form, and what a str or a short tuple cannot be.
    (
        "enum-every-form",
        [
            "Unit",
            ("Unit",),
            ("Unit", None),
            {"Unit": None},
            ("Newtype", 5),
            {"Newtype": -1},
            ("Tuple", [1, True]),
            {"Tuple": (2, False)},
            ("Struct", {"name": "n", "bytes": None}),
            {"Struct": {"name": "x", "bytes": b"y"}},
        ],
        4,
        0x08,
    ),
    ("enum-str-as-newtype", ["Unit", "Newtype"], 3, 0x00),
    ("enum-str-as-tuple", ["Tuple"], 3, 0x00),
    ("enum-str-as-struct", ["Struct"], 3, 0x00),
    ("enum-no-value", [("Newtype",)], 2, 0x00),
    ("enum-unit-with-value", [{"Unit": 5}], 2, 0x00),
    ("enum-unknown-variant", [("Other", 1)], 2, 0x00),
    # Tagged (root): a str for a newtype or a struct variant.
    ("tagged-str-newtype", "L", 2, 0x00),
    # Vec<&str> and Vec<String> from the graph (default options).
    ("strs", ["a", "b c", "\u00e9"], 3, 0x00),
    ("tagged-str-struct", "S", 2, 0x00),
    # Loose (deserialize_any): a negative int of 128 bits that no i128 holds.
    ("any-below-i128", [-(2**128 - 1)], 4, 0x00),
    # Described objects (mode bit 0): NEWOBJ_EX with kwargs.
    ("newobj-ex-kwargs", [WithKwargs(), {"k": 1}], 4, 0x11),
    ("newobj-ex-kwargs-p5", {"obj": WithKwargs()}, 5, 0x15),
]


def main():
    for name, value, protocol, mode in SEEDS:
        data = pickle.dumps(value, protocol=protocol) + bytes([mode, 0xFF])
        with open(os.path.join(OUT, f"serde-{name}.pkl"), "wb") as f:
            f.write(data)
    print(f"wrote {len(SEEDS)} seeds to corpus/fuzz/serde-*.pkl")


if __name__ == "__main__":
    main()
