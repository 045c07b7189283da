"""Weight-file I/O: streaming write, mmap open, first touch, data checksum.

    python bench/weightfile_io.py [--gib 2] [--tensors 64] [--out DIR]

Prints one JSON object (also written to bench/results/weightfile_io.json).
Open time is header + table validation only (no data pages read); the file
was just written, so it is in the page cache (a warm open).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from buddy.runtime import WeightFile, WeightFileWriter


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=float, default=2.0)
    ap.add_argument("--tensors", type=int, default=64)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    per = int(args.gib * 2**30 / args.tensors) // 4
    chunk = np.arange(per, dtype=np.float32)
    with tempfile.TemporaryDirectory(dir=args.out) as d:
        path = os.path.join(d, "big.bwt")
        t0 = time.perf_counter()
        with WeightFileWriter(path) as w:
            for i in range(args.tensors):
                w.add(f"layers.{i}.weight", chunk)
        t_write = time.perf_counter() - t0
        size = os.path.getsize(path)

        t0 = time.perf_counter()
        wf = WeightFile(path)
        t_open = time.perf_counter() - t0
        t0 = time.perf_counter()
        arrays = [wf[n] for n in wf.names()]
        t_views = time.perf_counter() - t0
        t0 = time.perf_counter()
        total = sum(float(a[:: 1024].sum()) for a in arrays)  # touch every page
        t_touch = time.perf_counter() - t0
        t0 = time.perf_counter()
        wf.verify_data()
        t_verify = time.perf_counter() - t0
        assert total > 0
    gib = size / 2**30
    res = {
        "file_gib": round(gib, 3), "tensors": args.tensors,
        "write_s": round(t_write, 3), "write_gib_per_s": round(gib / t_write, 2),
        "open_ms": round(t_open * 1e3, 3), "views_ms": round(t_views * 1e3, 3),
        "touch_all_pages_s": round(t_touch, 3),
        "verify_data_s": round(t_verify, 3), "verify_gib_per_s": round(gib / t_verify, 2),
    }
    print(json.dumps(res))
    out = Path(__file__).parent / "results" / "weightfile_io.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
