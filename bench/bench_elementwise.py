"""Elementwise ops and reductions through `buddy.compile` vs PyTorch eager, same process.

    python bench/bench_elementwise.py [--reps 20] [--shape 197,3072]

Needs the built package on PYTHONPATH (e.g. build/dev/python_packages). Each case is one
torch module on one activation (ViT-B/16's MLP width by default), compiled with the public
`buddy.compile` defaults (the host target, kernels on: these ops go through
`--buddy-elementwise-vectorize` and `--buddy-math-approximation`). The time is the best of
`--reps` calls after a pause and a warm-up (bench_common.best_times), NumPy in and out, so it includes the ~10 us call overhead and the page
faults of a fresh output buffer; the error is the max |buddy - eager| over max |eager|.
Results: bench/results/elementwise.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Callable, List, Tuple

import torch

import buddy
from bench_common import best_times

ROOT = Path(__file__).resolve().parent


class Fn(torch.nn.Module):
    def __init__(self, f: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.f = f

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.f(x)


def cases(width: int) -> List[Tuple[str, torch.nn.Module]]:
    return [
        ("gelu", torch.nn.GELU()),
        ("gelu (tanh)", torch.nn.GELU(approximate="tanh")),
        ("layernorm", torch.nn.LayerNorm(width)),
        ("exp", Fn(torch.exp)),
        ("sigmoid", Fn(torch.sigmoid)),
        ("silu", Fn(torch.nn.functional.silu)),
        ("x + bias", Fn(lambda x: x + torch.arange(x.shape[-1], dtype=x.dtype))),
        ("where(x > 0, x, 0.1x)", Fn(lambda x: torch.where(x > 0, x, 0.1 * x))),
        ("sum(-1)", Fn(lambda x: x.sum(-1))),
        ("amax(-1)", Fn(lambda x: x.amax(-1))),
        ("mean(0)", Fn(lambda x: x.mean(0))),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--shape", default="197,3072")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "elementwise.json")
    a = ap.parse_args()
    shape = [int(s) for s in a.shape.split(",")]
    torch.manual_seed(0)
    x = torch.randn(*shape) * 3
    rows = []
    print("| case | buddy ms | eager ms | eager/buddy | max error |")
    print("| --- | --- | --- | --- | --- |")
    for name, m in cases(shape[-1]):
        m = m.eval()
        c = buddy.compile(m, (x,), progress=False)
        xn = x.numpy()
        with torch.no_grad():
            ref = m(x)
            got = torch.as_tensor(c(xn))
            err = ((got - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item()
            tb = best_times(lambda: c(xn), a.reps)[0] * 1e3
            te = best_times(lambda: m(x), a.reps)[0] * 1e3
        rows.append({"case": name, "buddy_ms": round(tb, 4), "eager_ms": round(te, 4),
                     "speedup_vs_eager": round(te / tb, 3), "max_scaled_error": err})
        print(f"| {name} | {tb:.3f} | {te:.3f} | {te / tb:.2f} | {err:.1e} |", flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"shape": shape, "torch": torch.__version__, "threads": torch.get_num_threads(),
                                 "machine": platform.processor() or platform.machine(),
                                 "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                 "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
