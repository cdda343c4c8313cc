#!/usr/bin/env python3
"""Hand-made seeds for the `container` and `scan` fuzz targets: container shapes the
generated corpora do not write (tar variants, .npy header forms), into corpus/fuzz-files/.

    /work/venv/bin/python scripts/gen_fuzz_seeds.py      # numpy 2.x from PyPI

Every file holds only data (the pickles are of ints and strs); nothing is ever loaded.
The fuzzers add what they find next to these (seed-* are the hand-made ones).
"""
import io
import os
import pickle
import tarfile

import numpy as np  # numpy==2.4.6 when these were written

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "corpus", "fuzz-files")


def tar_bytes(fmt, members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            if fmt == tarfile.PAX_FORMAT:
                info.pax_headers = {"comment": "seed"}
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def npy_bytes(array, version=None):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, version=version, allow_pickle=True)
    return buf.getvalue()


def main():
    os.makedirs(OUT, exist_ok=True)
    pkl = pickle.dumps({"a": 1, "b": "two"}, protocol=2)
    long_name = "d" * 120 + "/" + "n" * 120 + ".pkl"
    seeds = {
        # torch's legacy tar layout (sys_info, pickle, storages, tensors) in each format
        "seed-tar-ustar.tar": tar_bytes(tarfile.USTAR_FORMAT, [("sys_info", pkl), ("pickle", pkl), ("storages", pkl), ("tensors", pkl)]),
        "seed-tar-gnu-longname.tar": tar_bytes(tarfile.GNU_FORMAT, [(long_name, pkl), ("pickle", pkl)]),
        "seed-tar-pax-longname.tar": tar_bytes(tarfile.PAX_FORMAT, [(long_name, pkl), ("pickle", pkl)]),
        "seed-tar-ustar-prefix.tar": tar_bytes(tarfile.USTAR_FORMAT, [("p" * 100 + "/" + "x.pkl", pkl)]),
        # .npy header forms
        "seed-npy-v1-structured.npy": npy_bytes(np.zeros(2, dtype=[("a", "<f4", (2, 3)), ("b", "S5"), ("c", [("d", "?"), ("e", "<i2", 4)])])),
        "seed-npy-v2.npy": npy_bytes(np.arange(6, dtype=">i8").reshape(2, 3), version=(2, 0)),
        "seed-npy-v3-utf8-field.npy": npy_bytes(np.zeros(1, dtype=[("é", "<u2")]), version=(3, 0)),
        "seed-npy-fortran.npy": npy_bytes(np.asfortranarray(np.ones((3, 2), dtype="<c16"))),
        "seed-npy-object.npy": npy_bytes(np.array([1, "two", None], dtype=object)),
        "seed-npy-scalar.npy": npy_bytes(np.array(3.5, dtype="<f2")),
        "seed-npy-void.npy": npy_bytes(np.zeros(2, dtype="V7")),
        "seed-npy-datetime.npy": npy_bytes(np.array(["2026-12-03"], dtype="datetime64[D]")),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds)} seeds to {OUT}")


if __name__ == "__main__":
    main()
