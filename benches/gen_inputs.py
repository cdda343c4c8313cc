#!/usr/bin/env python3
"""Generate the benchmark pickles for `cargo bench --bench decode` and benches/ratio.py.

    python3 benches/gen_inputs.py            # write missing or stale inputs
    python3 benches/gen_inputs.py --force    # rewrite all of them
    python3 benches/gen_inputs.py --out DIR  # somewhere else (default target/bench-inputs)

The inputs are build products, not committed data: they are ~70 MB in total and
cheap to recreate, and committing them would freeze one CPython's pickler output.
Standard library only; deterministic (seeded `random`, no sets, no hashing of str),
so two runs write the same bytes and numbers stay comparable across machines.

Workloads, pickled the way CPython does by default (`pickle.dumps` picks protocol 4
from 3.8 to 3.13; `torch.save` picks protocol 2):

    ints.pkl        a list of 1,000,000 ints                  (protocol 4)
    str_float.pkl   a dict of 200,000 str -> float            (protocol 4)
    bytes_1k.pkl    a list of 10,000 bytes objects of 1 KiB   (protocol 4)
    json_doc.pkl    a ~50 MB JSON-like document               (protocol 4)
    state_dict.pkl  a PyTorch-style state dict, ~200 tensors  (protocol 2)

`manifest.json` lists them with their sizes and the generator version; the Rust
bench and ratio.py read it, and this script rewrites an input when the version in
the manifest differs from GENERATOR_VERSION (bump it whenever a workload changes).
"""

import argparse
import collections
import io
import json
import os
import pickle
import random
import sys
import types

GENERATOR_VERSION = 1

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(os.path.dirname(HERE), "target", "bench-inputs")

# The pickle protocol `pickle.dumps` uses when none is given (CPython 3.8-3.13). Fixed
# here rather than read from pickle.DEFAULT_PROTOCOL so that a newer interpreter (3.14
# defaults to 5) still writes the same bytes.
PY_DEFAULT_PROTOCOL = 4
# torch.serialization.DEFAULT_PROTOCOL.
TORCH_PROTOCOL = 2


# ----- (a)-(c): flat collections ---------------------------------------------------


def ints():
    """1,000,000 ints of mixed widths, as a real column of ids/counters would be.

    A plain range(N) would be almost all BININT; the mix exercises BININT1, BININT2,
    BININT and LONG1 (ints beyond 32 bits), in CPython's batches of 1000 APPENDS.
    """
    rng = random.Random(0xA)
    out = []
    for i in range(1_000_000):
        r = i % 10
        if r < 3:
            out.append(rng.randrange(256))
        elif r < 5:
            out.append(rng.randrange(65536))
        elif r < 9:
            out.append(rng.randrange(-(2**31), 2**31))
        else:
            out.append(rng.randrange(-(2**62), 2**62))
    return out


def str_float():
    """200,000 distinct short str keys (identifier-like) -> floats."""
    rng = random.Random(0xB)
    d = {}
    i = 0
    while len(d) < 200_000:
        key = "feature_%d_%s" % (i, rng.choice(("mean", "std", "min", "max", "p50")))
        d[key] = rng.gauss(0.0, 1e3)
        i += 1
    return d


def bytes_1k():
    """10,000 distinct 1 KiB bytes objects (random, so nothing dedups or compresses)."""
    rng = random.Random(0xC)
    return [rng.randbytes(1024) for _ in range(10_000)]


# ----- (d): a JSON-like document -----------------------------------------------------

WORDS = (
    "alpha beta gamma delta epsilon zeta theta lambda sigma omega river stone cloud "
    "forest ember harbor meadow summit canyon lantern orbit pixel quartz signal vector "
    "willow yonder zephyr amber cobalt "
    # A few non-ASCII words, as real documents have: names, places, units.
    "José Zoë Ærø naïve café 北京 東京 Москва µs °C"
).split()
CITIES = ["Lisbon", "Oslo", "Kraków", "São Paulo", "Nairobi", "Osaka", "Denver", "Zürich"]
TAGS = ["new", "vip", "beta", "churned", "trial", "enterprise", "edu", "legacy", "mobile"]


def words(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def record(rng, i):
    """One API-style record: mostly short strings and numbers, a few nested objects."""
    n_friends = rng.randrange(0, 6)
    return {
        "id": 1_000_000 + i,
        "uuid": "%032x" % rng.getrandbits(128),
        "name": words(rng, 2).title(),
        "email": "user%d@example.%s" % (i, rng.choice(("com", "org", "net"))),
        "active": rng.random() < 0.7,
        "age": rng.randrange(18, 90),
        "score": round(rng.random() * 100, 3),
        "balance": rng.gauss(1000.0, 800.0),
        "created": "20%02d-%02d-%02dT%02d:%02d:%02dZ"
        % (
            rng.randrange(10, 25),
            rng.randrange(1, 13),
            rng.randrange(1, 29),
            rng.randrange(24),
            rng.randrange(60),
            rng.randrange(60),
        ),
        "parent": None if rng.random() < 0.6 else rng.randrange(1_000_000, 1_000_000 + i + 1),
        "tags": [rng.choice(TAGS) for _ in range(rng.randrange(0, 5))],
        "address": {
            "street": "%d %s St" % (rng.randrange(1, 999), words(rng, 1).title()),
            "city": rng.choice(CITIES),
            "zip": "%05d" % rng.randrange(100000),
            "geo": {"lat": rng.uniform(-90, 90), "lng": rng.uniform(-180, 180)},
        },
        "friends": [
            {"id": rng.randrange(1_000_000, 2_000_000), "name": words(rng, 2).title()}
            for _ in range(n_friends)
        ],
        "about": words(rng, rng.randrange(8, 60)),
        "metrics": [round(rng.random(), 4) for _ in range(rng.randrange(0, 8))],
        "flags": {"verified": rng.random() < 0.5, "admin": False, "deleted": None},
    }


def json_doc(target_bytes=50 * 1024 * 1024):
    """A document of ~target_bytes pickled, shaped like a paginated API dump.

    The object goes through json.dumps/json.loads, so it is exactly what a program
    would hold after reading JSON: keys of each loads() call are shared objects (the
    JSON decoder memoizes them), which the pickler writes once and then BINGETs, while
    equal *values* (cities, tags) are separate objects, pickled each time.
    """
    rng = random.Random(0xD)
    sample = [record(rng, i) for i in range(2000)]
    per_record = len(pickle.dumps(json.loads(json.dumps(sample)), PY_DEFAULT_PROTOCOL)) / 2000
    n = int(target_bytes / per_record)
    rng = random.Random(0xD)
    doc = {
        "meta": {
            "version": "2.1",
            "generated": "2024-05-01T00:00:00Z",
            "count": n,
            "source": {"name": "bench", "page": 1, "per_page": n, "next": None},
        },
        "data": [record(rng, i) for i in range(n)],
    }
    return json.loads(json.dumps(doc))


# ----- (e): a PyTorch-style state dict ------------------------------------------------
#
# torch.save(model.state_dict(), f) writes, in the zip's data.pkl, protocol 2:
#   collections.OrderedDict reduced with its items (SETITEMS) and, as state, the
#   `_metadata` attribute that Module.state_dict() sets (BUILD);
#   each tensor as Tensor.__reduce_ex__ does it (torch/_tensor.py, _reduce_ex_internal):
#     torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride,
#                                     requires_grad, backward_hooks)
#   with backward_hooks = OrderedDict() and each storage replaced by the persistent id
#   (torch/serialization.py, _save's persistent_id):
#     ("storage", torch.FloatStorage, key, location, numel), key = str(index).
# torch is not installed: fake modules in sys.modules carry objects whose
# __module__/__qualname__ make the pickler write exactly those GLOBALs.


def _fake_torch():
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # never called: only pickled by reference
        raise AssertionError("fake torch function called")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2

    class FloatStorage:
        """Stands in for torch.FloatStorage: pickled as a class reference only."""

    FloatStorage.__module__ = "torch"
    FloatStorage.__qualname__ = "FloatStorage"
    FloatStorage.__name__ = "FloatStorage"
    torch.FloatStorage = FloatStorage
    torch._utils = utils
    sys.modules.setdefault("torch", torch)
    sys.modules.setdefault("torch._utils", utils)
    return sys.modules["torch"], sys.modules["torch._utils"]


class _Storage:
    """A storage to be written as a persistent id (its bytes live outside the pickle)."""

    def __init__(self, key, numel):
        self.key = key
        self.numel = numel


class _Tensor:
    """Pickles like torch.Tensor: a call to _rebuild_tensor_v2 on a persistent storage."""

    def __init__(self, storage, size):
        self.storage = storage
        self.size = tuple(size)
        stride, acc = [], 1
        for dim in reversed(self.size):
            stride.append(acc)
            acc *= dim
        self.stride = tuple(reversed(stride))

    def __reduce_ex__(self, protocol):
        torch_utils = sys.modules["torch._utils"]
        args = (self.storage, 0, self.size, self.stride, False, collections.OrderedDict())
        return (torch_utils._rebuild_tensor_v2, args)


class _TorchPickler(pickle.Pickler):
    """torch.serialization._save's pickler: storages become persistent ids."""

    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            torch = sys.modules["torch"]
            return ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel)
        return None


def _resnet_like_shapes():
    """(name, shape) of a ResNet-50-style state dict: convs, batch norms, one fc.

    ~200 float tensors (num_batches_tracked, a LongStorage scalar, is left out so
    that every tensor has the FloatStorage layout the workload specifies).
    """
    shapes = [("conv1.weight", (64, 3, 7, 7))]

    def bn(prefix, c):
        for suffix in ("weight", "bias", "running_mean", "running_var"):
            shapes.append(("%s.%s" % (prefix, suffix), (c,)))

    bn("bn1", 64)
    inplanes = 64
    for layer, (planes, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3)), 1):
        for b in range(blocks):
            p = "layer%d.%d" % (layer, b)
            shapes.append((p + ".conv1.weight", (planes, inplanes, 1, 1)))
            bn(p + ".bn1", planes)
            shapes.append((p + ".conv2.weight", (planes, planes, 3, 3)))
            bn(p + ".bn2", planes)
            shapes.append((p + ".conv3.weight", (planes * 4, planes, 1, 1)))
            bn(p + ".bn3", planes * 4)
            if b == 0:
                shapes.append((p + ".downsample.0.weight", (planes * 4, inplanes, 1, 1)))
                bn(p + ".downsample.1", planes * 4)
            inplanes = planes * 4
    shapes.append(("fc.weight", (1000, 2048)))
    shapes.append(("fc.bias", (1000,)))
    return shapes


def state_dict_pickle():
    _fake_torch()
    state = collections.OrderedDict()
    for index, (name, shape) in enumerate(_resnet_like_shapes()):
        numel = 1
        for dim in shape:
            numel *= dim
        state[name] = _Tensor(_Storage(str(index), numel), shape)
    # Module.state_dict() attaches the per-module versions as an attribute, which the
    # OrderedDict's __reduce__ pickles as state (a BUILD after the SETITEMS).
    modules = sorted({name.rsplit(".", 1)[0] for name in state} | {""})
    state._metadata = collections.OrderedDict((m, {"version": 1}) for m in modules)
    buf = io.BytesIO()
    _TorchPickler(buf, protocol=TORCH_PROTOCOL).dump(state)
    return buf.getvalue()


# ----- driver ---------------------------------------------------------------------------

WORKLOADS = [
    ("ints", "a list of 1,000,000 ints", lambda: pickle.dumps(ints(), PY_DEFAULT_PROTOCOL)),
    (
        "str_float",
        "a dict of 200,000 str -> float",
        lambda: pickle.dumps(str_float(), PY_DEFAULT_PROTOCOL),
    ),
    (
        "bytes_1k",
        "a list of 10,000 bytes of 1 KiB",
        lambda: pickle.dumps(bytes_1k(), PY_DEFAULT_PROTOCOL),
    ),
    (
        "json_doc",
        "a ~50 MB JSON-like document",
        lambda: pickle.dumps(json_doc(), PY_DEFAULT_PROTOCOL),
    ),
    ("state_dict", "a PyTorch-style state dict (protocol 2)", state_dict_pickle),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    ap.add_argument("--force", action="store_true", help="rewrite inputs that are up to date")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    manifest_path = os.path.join(args.out, "manifest.json")
    try:
        with open(manifest_path) as f:
            old = json.load(f)
    except (OSError, ValueError):
        old = {}
    fresh = old.get("generator_version") == GENERATOR_VERSION and not args.force
    entries = []
    for name, what, make in WORKLOADS:
        path = os.path.join(args.out, name + ".pkl")
        if fresh and os.path.exists(path):
            data = None
            size = os.path.getsize(path)
            print("up to date  %-11s %10d bytes" % (name, size), file=sys.stderr)
        else:
            data = make()
            # Write then rename, so an interrupted run never leaves a truncated input
            # that a bench would time as an error.
            tmp = path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
            size = len(data)
            print("wrote       %-11s %10d bytes" % (name, size), file=sys.stderr)
        protocol = TORCH_PROTOCOL if name == "state_dict" else PY_DEFAULT_PROTOCOL
        entries.append(
            {"name": name, "file": name + ".pkl", "bytes": size, "protocol": protocol, "what": what}
        )
    with open(manifest_path + ".tmp", "w") as f:
        json.dump({"generator_version": GENERATOR_VERSION, "workloads": entries}, f, indent=1)
    os.replace(manifest_path + ".tmp", manifest_path)


if __name__ == "__main__":
    main()
