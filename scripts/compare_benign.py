"""Loads every benign model file of corpus/benign that this environment's libraries
can read with both pickle.loads and pickleproof.loads (under the preset that
covers it), and prints how many came back the same.

"The same" means: the same type, and the same bytes when both results are pickled
again at protocol 4, which compares the whole object graph, sharing included.

A file whose results differ is loaded again by each loader alone, each in a fresh
interpreter, before it counts as differing: CPython's instance dicts share their key
objects per class, so the second load of a class in one process takes the first
load's str objects for its attribute names, and the re-pickled sharing of equal
strings then depends on which loader ran first.

corpus/benign holds only files that corpus/benign/generate.py wrote from known
values, so pickle.loads on them is safe. Never point this at files from elsewhere.

Usage (an environment with numpy, pandas, scikit-learn and the built wheel):
    python scripts/compare_benign.py
"""

import glob
import os
import pickle
import subprocess
import sys
import warnings

import pickleproof

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus", "benign")
PRESETS = [("np", "numpy"), ("std", "stdlib-data"), ("pd", "ml"), ("sk", "ml")]


FRESH = """
import hashlib, pickle, sys, warnings
warnings.simplefilter("ignore")
data = open(sys.argv[1], "rb").read()
if sys.argv[2] == "pickle":
    value = pickle.loads(data)
else:
    import pickleproof
    value = pickleproof.loads(data, policy=sys.argv[2])
print(type(value).__qualname__, hashlib.sha256(pickle.dumps(value, 4)).hexdigest())
"""


def same_in_fresh_interpreters(path, policy):
    """Each loader alone in a new interpreter: the type and re-pickled bytes' hash."""
    outputs = [
        subprocess.run([sys.executable, "-c", FRESH, path, loader], capture_output=True,
                       text=True, check=True).stdout
        for loader in ("pickle", policy)
    ]
    return outputs[0] == outputs[1]


def main():
    warnings.simplefilter("ignore")
    failed = False
    for prefix, policy in PRESETS:
        same, fresh, differ, refused, unreadable = 0, 0, [], [], 0
        for path in sorted(glob.glob(os.path.join(CORPUS, f"{prefix}_*.pkl"))):
            with open(path, "rb") as f:
                data = f.read()
            try:
                expected = pickle.loads(data)
            except Exception:
                unreadable += 1  # written by library versions not installed here
                continue
            name = os.path.basename(path)
            try:
                actual = pickleproof.loads(data, policy=policy)
            except pickle.UnpicklingError as error:
                refused.append(f"{name}: {error}")
                continue
            if type(actual) is type(expected) and pickle.dumps(actual, 4) == pickle.dumps(expected, 4):
                same += 1
            elif same_in_fresh_interpreters(path, policy):
                same += 1
                fresh += 1
            else:
                differ.append(name)
        print(f"{prefix:4} policy={policy:12} same={same} (fresh={fresh}) differ={len(differ)} "
              f"refused={len(refused)} unreadable_here={unreadable}")
        for line in differ + refused:
            print("    ", line)
        failed = failed or same == 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
