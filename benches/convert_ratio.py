#!/usr/bin/env python3
"""Convert throughput: pickleproof's checkpoint -> safetensors conversion against `cp`.

    python3 benches/convert_ratio.py [SIZE_MB] [--legacy]

Writes a ~1 GB checkpoint (default 1024 MB: four float32 tensors, torch's ZIP layout
through corpus/benign/torch_layout.py, or with --legacy the layout of torch.save before
1.6, whose storages follow its pickles) under target/convert-bench/, builds
`examples/convert.rs` in release, then times the conversion and `cp` of the same file (under GNU time for the RSS),
three runs each, and prints the medians, the ratio (conversion speed / cp speed;
the target is at least 0.5) and the conversion's peak RSS (the tensors are copied
file to file, never held). The page cache is warm for both (one untimed cp first).
"""
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "corpus", "benign"))
import torch_layout as tl  # noqa: E402


def main():
    args = [a for a in sys.argv[1:] if a != "--legacy"]
    legacy = "--legacy" in sys.argv[1:]
    size_mb = int(args[0]) if args else 1024
    work = os.path.join(ROOT, "target", "convert-bench")
    os.makedirs(work, exist_ok=True)
    src = os.path.join(work, "big-legacy.pt" if legacy else "big.pt")
    if not os.path.exists(src) or os.path.getsize(src) < size_mb * (1 << 20) * 0.99:
        per = size_mb * (1 << 20) // 4
        sd = {f"layer{i}.weight": tl.Tensor(tl.Storage("float32", os.urandom(per)), (per // 4096, 1024))
              for i in range(4)}
        if legacy:
            tl.write_legacy_checkpoint(src, sd)
        else:
            tl.write_zip_checkpoint(src, sd, archive_name="big")
    subprocess.run(["cargo", "build", "--release", "-q", "--example", "convert", "--features", "torch"],
                   cwd=ROOT, check=True)
    exe = os.path.join(ROOT, "target", "release", "examples", "convert")
    out = os.path.join(work, "big.safetensors")
    copy = os.path.join(work, "big.copy")
    rss_file = os.path.join(work, "rss.txt")
    subprocess.run(["cp", src, copy], check=True)

    def timed(cmd):
        """Median wall time of three runs, and the largest peak RSS (MiB) among them."""
        runs, peak = [], 0.0
        for _ in range(3):
            for f in (out, copy):
                if os.path.exists(f):
                    os.remove(f)
            t = time.perf_counter()
            # GNU time's %M (KiB), not the rusage of a forked child: Linux carries
            # this process's high-water mark (the generator's 1 GB) across exec.
            subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file] + cmd, check=True)
            runs.append(time.perf_counter() - t)
            with open(rss_file) as f:
                peak = max(peak, int(f.read().split()[-1]) / 1024)
        return statistics.median(runs), peak

    conv, rss = timed([exe, src, out])
    cp, _ = timed(["cp", src, copy])
    mb = os.path.getsize(src) / (1 << 20)
    print(f"{'legacy' if legacy else 'zip'} file {mb:.0f} MiB; convert median {conv:.3f} s "
          f"({mb / conv:.0f} MiB/s, peak RSS {rss:.0f} MiB); cp median {cp:.3f} s ({mb / cp:.0f} MiB/s); "
          f"ratio (convert speed / cp speed) {cp / conv:.2f}")
    for f in (out, copy):
        if os.path.exists(f):
            os.remove(f)


if __name__ == "__main__":
    main()
