"""Helpers shared by the Python tests: comparing two object graphs whole."""

import math
import struct


def same(test, expected, actual):
    """Asserts that `actual` is `expected` rebuilt: the same types, the same values
    (floats bit for bit), the same attributes and state, and the same sharing: two
    places hold one object in `actual` exactly when they hold one in `expected`."""
    pairs = {}  # id(expected part) -> id(actual part)
    seen = set()
    stack = [(expected, actual, "root")]
    while stack:
        e, a, path = stack.pop()
        test.assertIs(type(a), type(e), path)
        if _has_identity(e):
            if id(e) in pairs:
                test.assertEqual(pairs[id(e)], id(a), f"{path}: sharing differs")
                continue
            pairs[id(e)] = id(a)
        if id(e) in seen and not _has_identity(e):
            pass
        if isinstance(e, float):
            test.assertEqual(struct.pack("<d", e), struct.pack("<d", a), path)
        elif isinstance(e, (list, tuple)):
            test.assertEqual(len(a), len(e), path)
            stack.extend((x, y, f"{path}[{i}]") for i, (x, y) in enumerate(zip(e, a)))
        elif isinstance(e, dict):
            test.assertEqual(list(map(_key, a)), list(map(_key, e)), path)
            for (ek, ev), (ak, av) in zip(e.items(), a.items()):
                stack.append((ek, ak, f"{path} key {ek!r}"))
                stack.append((ev, av, f"{path}[{ek!r}]"))
            _attributes(test, e, a, path, stack)
        elif isinstance(e, (set, frozenset)):
            test.assertEqual(sorted(map(_key, a)), sorted(map(_key, e)), path)
        elif isinstance(e, (str, bytes, bytearray, int, type(None), complex)):
            test.assertEqual(a, e, path)
        else:
            test.assertEqual(a, e, path)
            _attributes(test, e, a, path, stack)


def _attributes(test, e, a, path, stack):
    if hasattr(e, "__dict__") and not isinstance(e, type):
        test.assertEqual(sorted(vars(a)), sorted(vars(e)), f"{path} attributes")
        for name, value in vars(e).items():
            stack.append((value, vars(a)[name], f"{path}.{name}"))


def _has_identity(value):
    return isinstance(value, (list, dict, set, bytearray)) or (
        not isinstance(value, (int, float, str, bytes, tuple, frozenset, type(None), complex))
    )


def _key(value):
    """A sortable, comparable stand-in for a key (floats by bits, NaN included)."""
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    if isinstance(value, tuple):
        return ("tuple", tuple(map(_key, value)))
    if isinstance(value, frozenset):
        return ("frozenset", tuple(sorted(map(_key, value))))
    return (type(value).__name__, repr(value))


def is_nan(value):
    return isinstance(value, float) and math.isnan(value)
