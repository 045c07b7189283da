"""A/B timing of one GEMM under different `--buddy-cpu-pipeline` options.

    OMP_NUM_THREADS=1 python bench/matmul_variants.py "pack-a=0" "pack-a=1 mc=128" --sizes 1024,2048,4096

Each option string is appended to `target=avx512`; every variant is checked against NumPy,
then timed (best of `--reps` calls, wall and process-CPU GFLOP/s). Needs the built package
on PYTHONPATH (build/<dir>/python_packages). Prints one line per (variant, size).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
from support.midend_harness import MatmulSpec, aligned_empty, build_matmul  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("variants", nargs="+", help='pipeline options, e.g. "pack-a=1 mc=128"')
    ap.add_argument("--sizes", default="1024,2048,4096")
    ap.add_argument("--transposed-b", action="store_true")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--target", default="avx512")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="buddy-matmul-variants-"))
    for k, opts in enumerate(args.variants):
        for n in (int(x) for x in args.sizes.split(",")):
            spec = MatmulSpec(n, n, n, args.transposed_b)
            kernel = build_matmul(spec, work / str(k), f"target={args.target} {opts}")
            sa, sb, sc = spec.shapes()
            rng = np.random.default_rng(0)
            a = rng.standard_normal(sa, dtype=np.float32)
            b = rng.standard_normal(sb, dtype=np.float32)
            c = aligned_empty(sc)
            call = kernel.bind(a, b, c)
            call()
            ref = a @ (b.T if args.transposed_b else b)
            if not np.allclose(c, ref, rtol=1e-3, atol=1e-3 * np.sqrt(n)):
                sys.exit(f"{opts!r} n={n}: result differs from NumPy")
            wall = cpu = float("inf")
            for _ in range(args.reps):
                c0, w0 = time.process_time(), time.perf_counter()
                call()
                wall = min(wall, time.perf_counter() - w0)
                cpu = min(cpu, time.process_time() - c0)
            flops = 2.0 * n ** 3
            print(f"{opts:32s} n={n:5d}  wall {flops / wall / 1e9:7.1f} GFLOP/s  "
                  f"CPU {flops / cpu / 1e9:7.1f} GFLOP/s per CPU-second", flush=True)


if __name__ == "__main__":
    main()
