#!/usr/bin/env python3
"""pickleproof vs CPython's pickle.loads vs serde-pickle, measured in one session.

    python3 benches/ratio.py [--runs 7] [--no-serde] [--no-rss] [--only NAME ...]
                             [--json results.json]
    python3 benches/ratio.py --cold [--runs 7] [--only NAME ...]

For each input of benches/gen_inputs.py (generated first if missing) this times

  * CPython `pickle.loads` in this process, with `gc.disable()` (CPython's best case:
    no collections triggered by the millions of containers being created);
  * pickleproof with default limits and with `Limits::unbounded()` in one long-lived
    `examples/bench_decode --serve` process, and serde-pickle (`value_from_slice`) in
    another. Separate processes, because a library's decode time depends on what the
    allocator kept after the previous decode in the same process: right after
    serde-pickle freed a 2 GB value, glibc has returned the pages, and the next decode
    faults every one of them (on the 52 MB document that made whichever pickleproof
    mode ran after serde-pickle 35% slower). Each process now holds one library, as an
    application would;

taking turns, each round in a different order (a shuffle seeded by the round number, so
runs are repeatable), so that all of them share the machine's noise and none always
follows the same contender (a rotation keeps the cyclic order: pickleproof's default
mode always ran right after CPython had freed a 320 MB document);
medians of `--runs` rounds after one untimed warm-up round. A turn is one decode, or
several for inputs that decode in a few milliseconds (the same count for everyone,
its median taken), so that one scheduler tick does not decide the ratio. Times
exclude reading the file and freeing the result, on both sides; freeing is reported
separately. Ratios are speed-ups: `CPython ms / pickleproof ms`, so 2.0 means
pickleproof takes half CPython's time.

Memory: `usage.memory_bytes` is what pickleproof's budget counted; max RSS comes from
`/usr/bin/time -v` on a fresh process that decodes once, minus the max RSS of the
same process only reading the file (the input buffer is the caller's, not the
decoder's). The same is done for CPython.

`--cold` measures the other end: every decode in a fresh process, for CPython,
pickleproof and serde-pickle alike (what a command-line scan of one file costs). In a
long-lived process the allocator may keep freed memory between decodes, so later
decodes take fewer page faults; a fresh process faults every page it touches. On
machines where a fault is expensive (VMs) the two modes can differ a lot: read both.

The state dict holds persistent ids and torch globals: CPython decodes it with stub
`torch` modules whose `_rebuild_tensor_v2` returns its arguments and a
`persistent_load` that returns the id (what torch.load costs minus building tensors);
pickleproof uses `Policy::pytorch()`; serde-pickle cannot decode BINPERSID at all.
"""

import argparse
import gc
import importlib.util
import io
import json
import os
import pickle
import random
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PYTORCH_WORKLOADS = {"state_dict"}


def load_gen_inputs():
    spec = importlib.util.spec_from_file_location("gen_inputs", os.path.join(HERE, "gen_inputs.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class StubTorchUnpickler(pickle.Unpickler):
    """torch.load's unpickler without torch: storages stay their persistent ids."""

    def persistent_load(self, pid):
        return pid


def install_torch_stubs(gen):
    """Fake torch modules whose functions are cheap stand-ins, so CPython can load (e)."""
    _, utils = gen._fake_torch()
    utils._rebuild_tensor_v2 = lambda *args: args


def cpython_loader(name):
    if name in PYTORCH_WORKLOADS:
        return lambda data: StubTorchUnpickler(io.BytesIO(data)).load()
    return pickle.loads


# ----- the Rust side -------------------------------------------------------------------


def build_example():
    """Builds examples/bench_decode in release mode; returns the executable's path."""
    cmd = [
        "cargo",
        "build",
        "--release",
        "--example",
        "bench_decode",
        "--message-format=json-render-diagnostics",
    ]
    out = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, check=True, text=True).stdout
    for line in out.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == "bench_decode":
            if msg.get("executable"):
                return msg["executable"]
    raise SystemExit("cargo did not report the bench_decode executable")


class Server:
    """A long-lived `bench_decode --serve`: one JSON request line in, one answer out."""

    def __init__(self, exe):
        self.proc = subprocess.Popen(
            [exe, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def run(self, path, mode, policy, runs=1):
        req = {"file": path, "mode": mode, "policy": policy, "runs": runs}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("bench_decode --serve exited")
        return json.loads(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


# ----- max RSS -------------------------------------------------------------------------


def max_rss_kib(cmd):
    """Max RSS of `cmd` in KiB, from GNU time's -v report; None if unavailable."""
    if not os.path.exists("/usr/bin/time"):
        return None
    proc = subprocess.run(
        ["/usr/bin/time", "-v"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    if proc.returncode != 0:
        return None
    for line in proc.stderr.splitlines():
        if "Maximum resident set size" in line:
            return int(line.rsplit(":", 1)[1])
    return None


def rss_child(path, name, read_only):
    """Entry point of the CPython max-RSS child: read, and decode unless read_only."""
    gc.disable()
    with open(path, "rb") as f:
        data = f.read()
    if read_only:
        return
    if name in PYTORCH_WORKLOADS:
        install_torch_stubs(load_gen_inputs())
    obj = cpython_loader(name)(data)
    assert obj is not None


def time_child(path, name):
    """Entry point of a cold CPython timing child: read, decode once, print the ns."""
    gc.disable()
    with open(path, "rb") as f:
        data = f.read()
    if name in PYTORCH_WORKLOADS:
        install_torch_stubs(load_gen_inputs())
    loads = cpython_loader(name)
    t0 = time.perf_counter_ns()
    obj = loads(data)
    t1 = time.perf_counter_ns()
    assert obj is not None
    print(t1 - t0)


def measure_cold(name, path, exe, runs, with_serde):
    """`runs` rounds of one fresh-process decode each for CPython, pickleproof and
    serde-pickle, taking turns; medians in ms and the spread (MAD, %)."""
    policy = "pytorch" if name in PYTORCH_WORKLOADS else "strict"
    me = os.path.abspath(__file__)
    times = {"cpython": [], "pp": [], "serde": []}

    def cpython():
        out = subprocess.run(
            [sys.executable, me, "--time-child", path, "--rss-name", name],
            check=True, stdout=subprocess.PIPE, text=True,
        ).stdout
        times["cpython"].append(int(out.strip().splitlines()[-1]))

    def bench_decode(mode, key):
        out = subprocess.run(
            [exe, "--runs", "1", "--mode", mode, "--policy", policy, path],
            check=True, stdout=subprocess.PIPE, text=True,
        ).stdout
        answer = json.loads(out)
        if answer.get("ok"):
            times[key].append(answer["decode_ns"][0])
        elif key == "pp":
            raise SystemExit("%s: %s" % (name, answer.get("error")))
        # serde-pickle refusing (BINPERSID) leaves its column empty.

    def pp():
        bench_decode("default", "pp")

    def serde():
        if with_serde:
            bench_decode("serde", "serde")

    order = [cpython, pp, serde]
    for r in range(runs):
        for f in (order if r % 2 == 0 else order[::-1]):
            f()
    result = {"name": name}
    for c, ts in times.items():
        if not ts:
            result[c + "_ms"] = None
            result[c + "_noise_pct"] = 0.0
            continue
        med = statistics.median(ts)
        result[c + "_ms"] = med / 1e6
        result[c + "_noise_pct"] = 100 * statistics.median(abs(t - med) for t in ts) / med
    return result


def print_cold(results):
    rows = []
    for r in results:
        rows.append([
            r["name"], fmt(r["cpython_ms"]), fmt(r["pp_ms"]), fmt(r["serde_ms"]),
            fmt(ratio(r["cpython_ms"], r["pp_ms"]), "%.2fx"),
            fmt(ratio(r["serde_ms"], r["pp_ms"]), "%.2fx"),
            fmt(max(r["cpython_noise_pct"], r["pp_noise_pct"], r["serde_noise_pct"]), "±%.1f%%"),
        ])
    print_table(["workload", "CPython ms (cold)", "pp ms (cold)", "serde ms (cold)",
                 "CPy/pp", "serde/pp", "noise"], rows)
    print("  cold: each decode in a fresh process, on both sides (CPython GC off).")


def rss_delta_mib(decode_cmd, read_cmd):
    decode, read = max_rss_kib(decode_cmd), max_rss_kib(read_cmd)
    if decode is None or read is None:
        return None
    return max(decode - read, 0) / 1024


# ----- measuring -----------------------------------------------------------------------


def median_ms(ns):
    return statistics.median(ns) / 1e6 if ns else None


def measure(name, path, server, peer, runs, with_serde):
    data = open(path, "rb").read()
    loads = cpython_loader(name)
    policy = "pytorch" if name in PYTORCH_WORKLOADS else "strict"
    contenders = ["cpython", "default", "unbounded"] + (["serde"] if with_serde else [])
    times = {c: [] for c in contenders}
    drops = {c: [] for c in contenders}
    info = {}

    inner = 1

    def one(contender, record):
        """One turn of `contender`: the median of `inner` back-to-back decodes."""
        if contender == "cpython":
            decode_ns, drop_ns = [], []
            for _ in range(inner):
                t0 = time.perf_counter_ns()
                obj = loads(data)
                t1 = time.perf_counter_ns()
                del obj
                t2 = time.perf_counter_ns()
                decode_ns.append(t1 - t0)
                drop_ns.append(t2 - t1)
        else:
            if contender in info and not info[contender].get("ok"):
                return  # failed once (refused, unsupported): no point repeating
            process = peer if contender == "serde" else server
            answer = process.run(path, contender, policy, runs=inner)
            if not answer.get("ok") or contender not in info:
                info[contender] = answer
            if not answer.get("ok"):
                return
            decode_ns, drop_ns = answer["decode_ns"], answer["drop_ns"]
        if record:
            times[contender].append(statistics.median(decode_ns))
            drops[contender].append(statistics.median(drop_ns))

    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for c in contenders:  # warm-up round: page cache, allocator, branch predictors
            one(c, record=False)
        # A turn of a few milliseconds is at the mercy of one scheduler tick: small
        # inputs decode several times per turn (the same count for every contender).
        warm_up = time.perf_counter() - t0
        inner = max(1, min(50, int(0.05 * len(contenders) / max(warm_up, 1e-6))))
        for r in range(runs):
            order = list(contenders)
            random.Random(r).shuffle(order)
            for c in order:
                one(c, record=True)
    finally:
        gc.enable()
    result = {"name": name, "bytes": len(data), "decodes_per_turn": inner}
    for c in contenders:
        result[c + "_ms"] = median_ms(times[c])
        result[c + "_drop_ms"] = median_ms(drops[c])
        result[c + "_runs_ms"] = [t / 1e6 for t in times[c]]
        if len(times[c]) > 1:
            med = statistics.median(times[c])
            mad = statistics.median(abs(t - med) for t in times[c])
            result[c + "_noise_pct"] = 100 * mad / med
        if c != "cpython" and not info.get(c, {}).get("ok", False):
            result[c + "_error"] = info.get(c, {}).get("error", "not run")
    usage = next((info[c].get("usage") for c in ("default", "unbounded") if info.get(c, {}).get("ok")), None)
    result["usage"] = usage or {}
    return result


def measure_rss(name, path, exe):
    policy = "pytorch" if name in PYTORCH_WORKLOADS else "strict"
    me = os.path.abspath(__file__)
    pp = rss_delta_mib(
        [exe, "--mode", "default", "--policy", policy, path], [exe, "--mode", "read", path]
    )
    py = rss_delta_mib(
        [sys.executable, me, "--rss-child", path, "--rss-name", name],
        [sys.executable, me, "--rss-child", path, "--rss-name", name, "--rss-read-only"],
    )
    return pp, py


# ----- report --------------------------------------------------------------------------


def fmt(x, spec="%.1f", none="—"):
    return none if x is None else spec % x


def ratio(a, b):
    return a / b if a is not None and b else None


def print_tables(results):
    print()
    head = (
        "workload", "MB", "CPython ms", "pp ms (default / unbounded)", "serde ms",
        "CPy/pp", "serde/pp", "limits cost", "noise",
    )
    rows = []
    for r in results:
        default = r.get("default_ms")
        unbounded = r.get("unbounded_ms")
        pp_text = "%s / %s" % (
            fmt(default) if default is not None else "refused",
            fmt(unbounded) if unbounded is not None else "refused",
        )
        serde = r.get("serde_ms")
        serde_text = fmt(serde) if serde is not None else ("n/a" if "serde_error" in r else "—")
        pp = default if default is not None else unbounded
        overhead = ratio(default, unbounded)
        rows.append((
            r["name"],
            "%.1f" % (r["bytes"] / 1e6),
            fmt(r.get("cpython_ms")),
            pp_text,
            serde_text,
            fmt(ratio(r.get("cpython_ms"), pp), "%.2fx"),
            fmt(ratio(serde, pp), "%.2fx"),
            fmt(None if overhead is None else (overhead - 1) * 100, "%+.1f%%"),
            fmt(noise(r), "±%.1f%%"),
        ))
    print_table(head, rows)
    print("  CPy/pp and serde/pp are speed-ups of pickleproof (default limits): >1 = faster.")
    print("  limits cost = default / unbounded - 1: both run the same checks, so this shows")
    print("  what the limit *values* cost, not metering; below the noise it means nothing.")
    print("  noise = largest median absolute deviation of the four contenders' turns.")
    for r in results:
        for c in ("default", "unbounded", "serde"):
            if r.get(c + "_error"):
                print("  %s, %s: %s" % (r["name"], c, r[c + "_error"]))

    # Noise on a shared VM only ever adds time, and pickleproof's turns on big inputs
    # are bimodal (fresh pages or reused ones): the spread of the ratios is part of
    # the result, so print the fastest turns' ratios and each side's range too.
    print()
    rows = []
    for r in results:
        cpy, pp, serde = (r.get(c + "_runs_ms") or [] for c in ("cpython", "default", "serde"))
        rows.append((
            r["name"],
            "%s–%s" % (fmt(min(cpy)), fmt(max(cpy))) if cpy else "—",
            "%s–%s" % (fmt(min(pp)), fmt(max(pp))) if pp else "—",
            fmt(ratio(min(cpy), min(pp)) if cpy and pp else None, "%.2fx"),
            fmt(ratio(min(serde), min(pp)) if serde and pp else None, "%.2fx"),
        ))
    print_table(("workload", "CPython range ms", "pp range ms", "best CPy/pp", "best serde/pp"), rows)
    print("  best = fastest turn against fastest turn; the medians above are the headline.")

    print()
    head = (
        "workload", "MB", "nodes", "budget MB", "budget/input", "pp RSS MB", "CPy RSS MB",
        "free: CPy / pp ms",
    )
    rows = []
    for r in results:
        u = r.get("usage", {})
        mem = u.get("memory_bytes")
        rows.append((
            r["name"],
            "%.1f" % (r["bytes"] / 1e6),
            fmt(u.get("nodes"), "%d"),
            fmt(None if mem is None else mem / 2**20),
            fmt(ratio(mem, r["bytes"]), "%.1fx"),
            fmt(r.get("pp_rss_mib")),
            fmt(r.get("cpython_rss_mib")),
            "%s / %s" % (fmt(r.get("cpython_drop_ms")), fmt(r.get("default_drop_ms"))),
        ))
    print_table(head, rows)
    print("  budget = usage.memory_bytes (what Limits::max_memory_bytes is checked against);")
    print("  RSS = max RSS of one decode minus max RSS of only reading the input (/usr/bin/time -v).")


def noise(r):
    """The spread to read the ratios against: the worst contender's MAD, in %."""
    spreads = [r[k] for k in r if k.endswith("_noise_pct")]
    return max(spreads) if spreads else None


def print_table(head, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    line = lambda cells: "  ".join(
        str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
    )
    print(line(head))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7, help="timed rounds per workload (default 7)")
    ap.add_argument("--no-serde", action="store_true", help="skip serde-pickle (slow on json_doc)")
    ap.add_argument("--no-rss", action="store_true", help="skip the max-RSS measurements")
    ap.add_argument("--only", nargs="*", help="workload names to run (default: all)")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--inputs", default=os.path.join(ROOT, "target", "bench-inputs"))
    ap.add_argument("--cold", action="store_true",
                    help="every decode in a fresh process, for every contender")
    # Internal: the child process of a cold CPython timing.
    ap.add_argument("--time-child", help=argparse.SUPPRESS)
    # Internal: the child process of the CPython max-RSS measurement.
    ap.add_argument("--rss-child", help=argparse.SUPPRESS)
    ap.add_argument("--rss-name", help=argparse.SUPPRESS)
    ap.add_argument("--rss-read-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        rss_child(args.rss_child, args.rss_name, args.rss_read_only)
        return
    if args.time_child:
        time_child(args.time_child, args.rss_name)
        return

    gen = load_gen_inputs()
    subprocess.run([sys.executable, os.path.join(HERE, "gen_inputs.py"), "--out", args.inputs], check=True)
    install_torch_stubs(gen)
    exe = build_example()
    with open(os.path.join(args.inputs, "manifest.json")) as f:
        workloads = [w["name"] for w in json.load(f)["workloads"]]
    if args.only:
        workloads = [w for w in workloads if w in args.only]

    if args.cold:
        cold = []
        for name in workloads:
            print("measuring %s (cold) ..." % name, file=sys.stderr, flush=True)
            cold.append(measure_cold(name, os.path.join(args.inputs, name + ".pkl"), exe, args.runs, not args.no_serde))
        print_cold(cold)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(cold, f, indent=1)
        return

    server = Server(exe)
    peer = Server(exe)
    results = []
    try:
        for name in workloads:
            path = os.path.join(args.inputs, name + ".pkl")
            print("measuring %s ..." % name, file=sys.stderr, flush=True)
            r = measure(name, path, server, peer, args.runs, not args.no_serde)
            if not args.no_rss:
                r["pp_rss_mib"], r["cpython_rss_mib"] = measure_rss(name, path, exe)
            results.append(r)
    finally:
        server.close()
        peer.close()
    print_tables(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
