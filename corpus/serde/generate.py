#!/usr/bin/env python3
"""Expected pickles for tests/suite/serde.rs: what CPython's pickle.dumps writes.

    python3 corpus/serde/generate.py      # rewrites corpus/serde/cpython.json

Each case is a plain value that tests/suite/serde.rs also builds as a Rust value (the
comment names the Rust type). The suite checks, for every protocol 0..=5, that
pickleproof::serde::from_slice reads CPython's bytes as that Rust value, and that
pickleproof::serde::to_vec writes exactly CPython's bytes for it (so CPython reads
to_vec's output as this value: they are its own bytes). Python is not needed at test
time: the bytes are committed.

No object appears twice in a case (a str repeated in a literal would be one shared
object, which pickle writes once and then references), so the bytes depend only on
the values.
"""
import json
import os
import pickle
import sys

CASES = [
    # ((), bool, bool, i32, i8, u8, i64, i64, u64, f64, String, ByteBuf)
    ("scalars", (None, True, False, 0, -1, 255, 2**31, -2**63, 2**64 - 1, 1.5, "h\u00e9llo", b"\x00\xff")),
    # Record (a struct with nested struct, Option, tuple, bytes fields)
    ("record", {
        "id": 7,
        "name": "rec",
        "tags": ["t1", "t2"],
        "scores": [0.5, 2.0],
        "nested": {"flag": True, "note": None},
        "pair": (3, "three"),
        "blob": b"\x01\x02",
        "missing": None,
    }),
    # Vec<Animal>: unit, newtype, tuple and struct variants
    ("enums", [
        "Dog",
        {"AntHive": ["ant", "aunt"]},
        {"Frog": ["Henry", [1, 5]]},
        {"Cat": {"age": 5, "name": "Molyneux"}},
    ]),
    # BTreeMap<i64, String> (sorted, as Rust serializes it)
    ("int_keys", {-2: "minus two", 1: "one", 3000000000: "three billion"}),
    # BTreeMap<(i32, i32), String>
    ("tuple_keys", {(1, 2): "one two", (3, 4): "three four"}),
    # Vec<Vec<i64>>
    ("nested_lists", [[1, 2], [], [3]]),
    # (u128, i128, u128)
    ("wide_ints", (2**100, -2**127, 2**128 - 1)),
    # String
    ("unicode", "\u65e5\u672c\u8a9e \u2713 \U0001F600"),
    # Vec<f64>
    ("floats", [0.0, -0.0, 1e308, float("inf"), 5e-324, -2.5]),
    # (Vec<i32>, BTreeMap<String, i32>, String, ByteBuf)
    ("empties", ([], {}, "", b"")),
    # (Unit, Newtype, TupleStruct): serde-pickle's decode_struct
    ("structs", (None, 42, (43, False))),
]


def main():
    out = {"python": sys.version.split()[0], "cases": []}
    for name, value in CASES:
        pickles = {str(p): pickle.dumps(value, protocol=p).hex() for p in range(6)}
        out["cases"].append({"name": name, "repr": repr(value), "pickles": pickles})
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cpython.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1, sort_keys=False)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
