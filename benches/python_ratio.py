#!/usr/bin/env python3
"""pickleproof.loads against pickle.loads (CPython's C unpickler), in one process.

    python benches/python_ratio.py [ROUNDS]

Run it with an interpreter where the wheel is installed (scripts/check_wheel.sh
builds one; `pip install target/wheels/...`). Each workload is pickled here from
values made here (protocol 5). Each loader then loads it ROUNDS times (default 15),
alternating, and the script prints the median time of each and their ratio
(pickle's time / pickleproof's: above 1 means pickleproof is faster).

pickleproof.loads does more than pickle.loads: it decodes the whole stream under
budgets and a policy first, then builds the objects. The ratio is the price of that
safety. With numpy installed, a numpy workload runs under policy="numpy".
"""
import pickle
import statistics
import sys
import time

import pickleproof


def workloads():
    yield "ints (1M)", list(range(-500_000, 500_000)), "strict"
    yield "floats (1M)", [i * 0.5 for i in range(1_000_000)], "strict"
    yield "short str (200k)", [f"key{i}" for i in range(200_000)], "strict"
    yield "dict str->int (200k)", {f"k{i}": i for i in range(200_000)}, "strict"
    yield "records (50k dicts)", [{"id": i, "name": f"n{i}", "score": i / 3, "tags": ["a", "b"]} for i in range(50_000)], "strict"
    yield "bytes (64 x 1 MiB)", [bytes([i]) * (1 << 20) for i in range(64)], "strict"
    try:
        import numpy as np
    except ImportError:
        return
    yield "numpy arrays (100 x 10k f64)", [np.arange(10_000, dtype=np.float64) * i for i in range(100)], "numpy"


def median_time(load, data, rounds):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        load(data)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    print(f"{'workload':32} {'pickle.loads':>12} {'pickleproof':>12} {'ratio':>6}")
    for name, value, policy in workloads():
        data = pickle.dumps(value, protocol=5)
        ours = lambda d: pickleproof.loads(d, policy=policy)  # noqa: E731
        if pickle.dumps(ours(data), protocol=5) != data and not name.startswith("numpy"):
            raise SystemExit(f"{name}: pickleproof.loads gave a different value")
        base = median_time(pickle.loads, data, rounds)
        mine = median_time(ours, data, rounds)
        print(f"{name:32} {base * 1e3:10.1f}ms {mine * 1e3:10.1f}ms {base / mine:6.2f}")


if __name__ == "__main__":
    main()
