"""Buddy through its public API only, against what a user would pick instead, in one run.

Every Buddy number comes from `buddy.compile(model, inputs)` or
`torch.compile(model, backend="buddy")` with their defaults on the host target: no internal
harness, no pipeline options. The peers are torch eager and inductor (`torch.compile()`), timed in
the same process right after Buddy. Results go to bench/results/api.json; the README quotes them.

    python bench/bench_api.py            # all cases
    python bench/bench_api.py --quick    # fewer repetitions
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "python"))
from bench_common import best_times  # noqa: E402

import buddy  # noqa: E402

RESULTS = HERE / "results" / "api.json"


class MatMul(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a @ b


class Add(nn.Module):
    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return a + 1.0


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(256, 1024), nn.GELU(), nn.Linear(1024, 256))


def cases() -> List[Tuple[str, Callable[[], nn.Module], Tuple[torch.Tensor, ...], Dict[str, float]]]:
    """(name, model factory, inputs, goals as minimum speedups over the named peer)."""
    from support import model_zoo
    torch.manual_seed(0)
    out: List[Tuple[str, Callable[[], nn.Module], Tuple[torch.Tensor, ...], Dict[str, float]]] = [
        ("matmul 1024^3", MatMul, (torch.randn(1024, 1024), torch.randn(1024, 1024)), {"eager": 0.95}),
        ("matmul 2048^3", MatMul, (torch.randn(2048, 2048), torch.randn(2048, 2048)), {"eager": 0.95}),
        ("nn.Linear 1x4096->11008", lambda: nn.Linear(4096, 11008, bias=False),
         (torch.randn(1, 4096),), {"eager": 1.1}),
        ("nn.Linear 1x576->1536", lambda: nn.Linear(576, 1536, bias=False),
         (torch.randn(1, 576),), {"eager": 1.0}),
        ("nn.Linear 128x576->1536", lambda: nn.Linear(576, 1536, bias=False),
         (torch.randn(128, 576),), {"eager": 1.0}),
        ("MLP 32x256-1024-256", mlp, (torch.randn(32, 256),), {"eager": 1.0, "inductor": 1.0}),
        ("SmallCNN (model zoo)", model_zoo.small_cnn, (torch.randn(2, 3, 16, 16),),
         {"eager": 1.0, "inductor": 1.0}),
        ("TinyBert (model zoo)", model_zoo.TinyBert, model_zoo.bert_inputs(),
         {"eager": 1.0, "inductor": 1.0}),
        ("trivial add 16 (per-call overhead)", Add, (torch.randn(16),), {}),
    ]
    return out


def _reps(seconds_per_call: float, budget: float) -> int:
    return max(3, min(2000, int(budget / max(seconds_per_call, 1e-7))))


def measure(name: str, make: Callable[[], nn.Module], inputs: Tuple[torch.Tensor, ...],
            budget: float) -> Dict[str, Any]:
    model = make().eval()
    row: Dict[str, Any] = {"case": name, "shapes": [list(x.shape) for x in inputs]}
    with torch.no_grad():
        want = model(*inputs)
        t0 = time.perf_counter()
        compiled = buddy.compile(model, inputs, use_cache=False, progress=False)
        row["buddy_compile_s"] = round(time.perf_counter() - t0, 2)
        arrays = [x.numpy() for x in inputs]
        got = compiled(*arrays)
        got = got[0] if isinstance(got, tuple) else got
        torch.testing.assert_close(torch.from_numpy(got), want if isinstance(want, torch.Tensor) else want[0],
                                   rtol=2e-3, atol=2e-3)
        dyn = torch.compile(model, backend="buddy")
        dyn(*inputs)
        ind = torch.compile(model)
        ind(*inputs)
        t_eager, _ = best_times(lambda: model(*inputs), 1)
        reps = _reps(t_eager, budget)
        timings = {
            "buddy.compile": best_times(lambda: compiled(*arrays), reps)[0],
            "buddy.compile (torch in/out)": best_times(lambda: compiled(*inputs), reps)[0],
            "torch.compile(buddy)": best_times(lambda: dyn(*inputs), reps)[0],
            "eager": best_times(lambda: model(*inputs), reps)[0],
            "inductor": best_times(lambda: ind(*inputs), reps)[0],
        }
    row["seconds"] = {k: v for k, v in timings.items()}
    row["us"] = {k: round(v * 1e6, 1) for k, v in timings.items()}
    row["speedup_vs_eager"] = round(timings["eager"] / timings["buddy.compile"], 3)
    row["speedup_vs_inductor"] = round(timings["inductor"] / timings["buddy.compile"], 3)
    row["dynamo_speedup_vs_eager"] = round(timings["eager"] / timings["torch.compile(buddy)"], 3)
    return row


def host() -> Dict[str, Any]:
    from buddy.backend.targets import detect_host

    t = detect_host()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "target": t.description, "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "torch": torch.__version__, "date": time.strftime("%Y-%m-%d")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="about 0.3 s of timing per engine and case")
    ap.add_argument("--only", default=None, help="run the cases whose name contains this text")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    budget = 0.3 if args.quick else 2.0
    rows = []
    for name, make, inputs, goals in cases():
        if args.only and args.only not in name:
            continue
        row = measure(name, make, inputs, budget)
        row["goals"] = goals
        row["met"] = all(row[f"speedup_vs_{peer}"] >= g for peer, g in goals.items())
        rows.append(row)
        us = row["us"]
        print(f"{name:<36} buddy {us['buddy.compile']:>10.1f} us  dynamo {us['torch.compile(buddy)']:>10.1f}  "
              f"eager {us['eager']:>10.1f}  inductor {us['inductor']:>10.1f}  "
              f"x{row['speedup_vs_eager']:.2f} eager  x{row['speedup_vs_inductor']:.2f} inductor"
              f"{'' if not goals else ('  goal met' if row['met'] else '  GOAL MISSED')}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"host": host(), "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
