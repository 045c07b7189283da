"""A/B timing of 2-D convolutions under different `--buddy-cpu-pipeline` options, with
torch in the same process.

    OMP_NUM_THREADS=1 python bench/conv_variants.py "fill-copy-vectorize=0" "" --threads 1

Each option string is appended to `target=<--target>` ("" = the defaults). The functions are
the frontend's form (tests/python/support/conv_harness.py: padded copy + named linalg op);
the shapes are bench_conv.py's ResNet / MobileNetV2 rows. Buddy variants and torch alternate
for `--rounds` rounds of `--reps` calls; the best wall time is printed with torch/variant
(> 1: faster than torch) and whether every variant matches torch. Needs the built package on
PYTHONPATH (build/<dir>/python_packages). Run OMP_NUM_THREADS equal to --threads.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from support.conv_harness import ConvSpec, build_conv, conv_reference  # noqa: E402
from support.midend_harness import aligned_empty  # noqa: E402

import bench_common as common  # noqa: E402

SPECS: dict[str, ConvSpec] = {
    "dw32@112": ConvSpec(1, 32, 112, 112, 32, 3, 3, pad=(1, 1), groups=32),
    "dw96@112/2": ConvSpec(1, 96, 112, 112, 96, 3, 3, stride=(2, 2), pad=(1, 1), groups=96),
    "dw144@56": ConvSpec(1, 144, 56, 56, 144, 3, 3, pad=(1, 1), groups=144),
    "dw384@14": ConvSpec(1, 384, 14, 14, 384, 3, 3, pad=(1, 1), groups=384),
    "c64@56": ConvSpec(1, 64, 56, 56, 64, 3, 3, pad=(1, 1)),
    "c256@14": ConvSpec(1, 256, 14, 14, 256, 3, 3, pad=(1, 1)),
    "c128@56/2": ConvSpec(1, 128, 56, 56, 128, 3, 3, stride=(2, 2), pad=(1, 1)),
    "stem7x7/2": ConvSpec(1, 3, 224, 224, 64, 7, 7, stride=(2, 2), pad=(3, 3)),
    "pw64->256@56": ConvSpec(1, 64, 56, 56, 256, 1, 1),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("variants", nargs="+", help='pipeline options, e.g. "fill-copy-vectorize=0"')
    ap.add_argument("--specs", default=",".join(SPECS), help="comma-separated names of " + ", ".join(SPECS))
    ap.add_argument("--threads", type=int, default=1, help="torch threads (set OMP_NUM_THREADS alike)")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--target", default="avx512")
    args = ap.parse_args()
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    workdir = Path(tempfile.mkdtemp(prefix="conv_variants_"))
    rng = np.random.default_rng(0)
    for name in args.specs.split(","):
        spec = SPECS[name]
        sx, sw, so = spec.shapes()
        x = rng.standard_normal(sx, dtype=np.float32)
        w = rng.standard_normal(sw, dtype=np.float32)
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)

        def torch_call(s: ConvSpec = spec) -> object:
            return F.conv2d(tx, tw, stride=s.stride, padding=s.pad, dilation=s.dil, groups=s.groups)

        ref = conv_reference(spec, x, w)
        calls: list[tuple[str, Callable[[], object], np.ndarray]] = []
        for i, v in enumerate(args.variants):
            out = aligned_empty(so)
            kernel = build_conv(spec, workdir / f"{name.replace('/', '_')}_{i}", f"target={args.target} {v}")
            calls.append((v or "default", kernel.bind(x, w, out), out))
        best = [float("inf")] * len(calls)
        t_torch = float("inf")
        for _ in range(args.rounds):
            for i, (_v, call, _o) in enumerate(calls):
                best[i] = min(best[i], common.best_times(call, args.reps)[0])
            t_torch = min(t_torch, common.best_times(torch_call, args.reps)[0])
        ok = all(np.allclose(o, ref, rtol=1e-3, atol=1e-3) for _v, _c, o in calls)
        cols = "  ".join(f"[{v}] {t * 1e3:7.3f} ms ({t_torch / t:4.2f}x)" for (v, _c, _o), t in zip(calls, best))
        print(f"{args.threads}T {name:13s} torch {t_torch * 1e3:7.3f} ms  {cols}  matches={ok}", flush=True)


if __name__ == "__main__":
    main()
