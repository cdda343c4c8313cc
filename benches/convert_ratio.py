#!/usr/bin/env python3
"""Convert throughput: pickleproof's checkpoint -> safetensors conversion against `cp`.

    python3 benches/convert_ratio.py [SIZE_MB]

Writes a ~1 GB checkpoint (default 1024 MB: four float32 tensors, torch's ZIP layout
through corpus/benign/torch_layout.py) under target/convert-bench/, builds
`examples/convert.rs` in release, then times the conversion and `cp` of the same file,
three runs each, and prints the medians and the ratio (conversion speed / cp speed;
the target is at least 0.5). The page cache is warm for both (one untimed cp first).
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
    size_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    work = os.path.join(ROOT, "target", "convert-bench")
    os.makedirs(work, exist_ok=True)
    src = os.path.join(work, "big.pt")
    if not os.path.exists(src) or os.path.getsize(src) < size_mb * (1 << 20) * 0.99:
        per = size_mb * (1 << 20) // 4
        sd = {f"layer{i}.weight": tl.Tensor(tl.Storage("float32", os.urandom(per)), (per // 4096, 1024))
              for i in range(4)}
        tl.write_zip_checkpoint(src, sd, archive_name="big")
    subprocess.run(["cargo", "build", "--release", "-q", "--example", "convert", "--features", "torch"],
                   cwd=ROOT, check=True)
    exe = os.path.join(ROOT, "target", "release", "examples", "convert")
    out = os.path.join(work, "big.safetensors")
    copy = os.path.join(work, "big.copy")
    subprocess.run(["cp", src, copy], check=True)

    def timed(cmd):
        runs = []
        for _ in range(3):
            for f in (out, copy):
                if os.path.exists(f):
                    os.remove(f)
            t = time.perf_counter()
            subprocess.run(cmd, check=True)
            runs.append(time.perf_counter() - t)
        return statistics.median(runs)

    conv = timed([exe, src, out])
    cp = timed(["cp", src, copy])
    mb = os.path.getsize(src) / (1 << 20)
    print(f"file {mb:.0f} MiB; convert median {conv:.3f} s ({mb / conv:.0f} MiB/s); "
          f"cp median {cp:.3f} s ({mb / cp:.0f} MiB/s); ratio (convert speed / cp speed) {cp / conv:.2f}")
    for f in (out, copy):
        if os.path.exists(f):
            os.remove(f)


if __name__ == "__main__":
    main()
