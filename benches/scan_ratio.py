#!/usr/bin/env python3
"""Scanning throughput: `pickleproof scan DIR` vs `picklescan -p DIR`, in one run.

    python3 benches/scan_ratio.py [--runs 5] [--dir DIR] [--picklescan PATH]

Both tools scan the same directory of model files in turns (a seeded shuffle of the
order each round, so both share the machine's noise); each turn is a whole command,
process start included, as a user or a CI job runs it. Reported: the median wall time
of each tool, its files/s and MB/s (bytes of the files on disk), and the ratio
picklescan / pickleproof (so 10.0 means pickleproof scanned the directory ten times as
fast).

The default directory is built under target/scan-bench/ from the committed model files
(corpus/benign and corpus/containers, every file several times under distinct names:
what real libraries write, in every container) plus a long pickled list, so that the
per-file cost and the per-byte cost both show. The hostile corpus is left out: its
decompression bombs (a 512 MiB bzip2 stream takes pickleproof seconds to inflate up to
its output budget; picklescan does not open bzip2 at all) measure something else. picklescan is
taken from PATH or /work/venv/bin (install it with `pip install picklescan==1.0.5`).

picklescan and pickleproof do not do the same work: picklescan walks the opcodes and
collects global names; pickleproof runs the whole pickle VM under budgets, judges
every call's arguments and every container layer. The comparison is of what a user
waits for.
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIES = 8


def build_dir(target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    sources = []
    for sub in ("benign", "containers"):
        base = ROOT / "corpus" / sub
        if base.is_dir():
            sources += [
                p
                for p in sorted(base.rglob("*"))
                if p.is_file()
                and p.suffix not in (".py", ".json", ".md", ".txt")
                and "bomb" not in p.name  # decompression bombs: not model files
            ]
    for i in range(COPIES):
        d = target / f"copy{i}"
        d.mkdir()
        for src in sources:
            rel = src.relative_to(ROOT / "corpus").as_posix().replace("/", "__")
            shutil.copyfile(src, d / rel)
    # A bigger pickle: a long list of floats and strings (per-byte cost).
    import pickle
    big = [float(i) * 0.5 for i in range(300_000)] + [f"s{i}" for i in range(100_000)]
    (target / "big_list.pkl").write_bytes(pickle.dumps(big, protocol=4))
    # A bigger model-like file: records of named parameters (a JSON-like document).
    records = [
        {"name": f"layer{i}.weight", "shape": (i % 7 + 1, 3), "values": [i * 0.25, -i * 0.5, 1.0], "trainable": i % 2 == 0}
        for i in range(60_000)
    ]
    (target / "big_records.pkl").write_bytes(pickle.dumps(records, protocol=2))


def run_turn(cmd) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", type=Path)
    ap.add_argument("--picklescan")
    ap.add_argument("--policy", default="ml")
    args = ap.parse_args()

    picklescan = args.picklescan or shutil.which("picklescan") or "/work/venv/bin/picklescan"
    if not Path(picklescan).exists() and not shutil.which(picklescan):
        print("picklescan not found: pip install picklescan==1.0.5", file=sys.stderr)
        return 1
    subprocess.run(["cargo", "build", "--release", "--features", "cli", "-q"], cwd=ROOT, check=True)
    pickleproof = str(ROOT / "target" / "release" / "pickleproof")

    directory = args.dir or ROOT / "target" / "scan-bench"
    if args.dir is None:
        build_dir(directory)
    files = [p for p in directory.rglob("*") if p.is_file()]
    total_bytes = sum(p.stat().st_size for p in files)
    print(f"directory {directory}: {len(files)} files, {total_bytes / 1e6:.1f} MB")

    contenders = {
        "pickleproof": [pickleproof, "scan", "--policy", args.policy, "--quiet", str(directory)],
        "picklescan": [picklescan, "-p", str(directory), "-l", "CRITICAL"],
    }
    for cmd in contenders.values():  # warm-up: page cache, Python's bytecode cache
        run_turn(cmd)
    times = {name: [] for name in contenders}
    for rnd in range(args.runs):
        order = list(contenders)
        random.Random(rnd).shuffle(order)
        for name in order:
            times[name].append(run_turn(contenders[name]))
    print(f"{'tool':<12} {'median s':>9} {'min s':>7} {'max s':>7} {'files/s':>9} {'MB/s':>8}")
    med = {}
    for name, ts in times.items():
        med[name] = statistics.median(ts)
        print(
            f"{name:<12} {med[name]:>9.3f} {min(ts):>7.3f} {max(ts):>7.3f} "
            f"{len(files) / med[name]:>9.0f} {total_bytes / 1e6 / med[name]:>8.1f}"
        )
    print(f"speed-up (picklescan / pickleproof, medians of {args.runs}): {med['picklescan'] / med['pickleproof']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
