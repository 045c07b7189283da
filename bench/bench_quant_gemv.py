"""Quantized decode GEMVs through `buddy.compile`: f32 activations vs int8 activations
(`int8_activations=False/True`, the `int8-dot` kernel), with torch's f32 `F.linear` on the
dequantized weights as the peer, alternated in one run.

    python bench/bench_quant_gemv.py [--formats Q8_0,Q4_0,Q4_1] [--reps 20] [--rounds 3]

Each model is a chain of SmolLM2-135M FFN projections without the activation (576 -> 1536 ->
576, `--pairs` times, distinct random weights quantized by the `gguf` package), at M = 1:
`--pairs 4` keeps the weights in the last-level cache (Q4_0: 4 MiB), `--pairs 48` streams them
from DRAM (Q4_0: 48 MiB, Q8_0: 91 MiB); both regimes run by default. Reported: best wall time
per call (bench_common.best_times) and weight GB/s. Writes bench/results/quant_gemv.json.
Needs a CPU with an int8 dot kernel (AVX-512 VNNI) for the int8 rows; elsewhere they are
skipped with the reason.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import best_times  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DIM, HIDDEN = 576, 1536


class Chain(torch.nn.Module):
    def __init__(self, layers: List[torch.nn.Module]) -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


def quantized_chain(fmt: str, pairs: int, seed: int) -> tuple[Chain, Chain, int]:
    """(chain of QuantLinear, the same chain as dequantized f32 nn.Linear, weight bytes)."""
    import gguf
    from buddy.quant import QuantLinear, planes_from_gguf

    rng = np.random.default_rng(seed)
    qt = getattr(gguf.GGMLQuantizationType, fmt)
    quant, dense, nbytes = [], [], 0
    for i in range(2 * pairs):
        n, k = (HIDDEN, DIM) if i % 2 == 0 else (DIM, HIDDEN)
        w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(np.float32)
        raw = gguf.quants.quantize(w, qt)
        nbytes += raw.nbytes
        quant.append(QuantLinear.from_planes(planes_from_gguf(fmt, raw, (n, k), name=f"w{i}")))
        lin = torch.nn.Linear(k, n, bias=False)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(gguf.quants.dequantize(raw, qt).reshape(n, k)))
        dense.append(lin)
    return Chain(quant).eval(), Chain(dense).eval(), nbytes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--formats", default="Q8_0,Q4_0,Q4_1")
    ap.add_argument("--pairs", default="4,48", help="FFN pairs per chain (comma-separated regimes)")
    ap.add_argument("--reps", type=int, default=20, help="timed calls per round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (best kept)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "quant_gemv.json")
    a = ap.parse_args()

    import buddy
    from buddy.backend.pipeline import int8_dot_kernel
    from buddy.backend.targets import detect_host

    torch.set_num_threads(os.cpu_count() or 1)
    host = detect_host()
    int8_kernel = int8_dot_kernel(host)
    if int8_kernel is None:
        print(f"int8 rows skipped: {host.description} has no int8 dot kernel (AVX-512 VNNI)", file=sys.stderr)
    x = torch.from_numpy(np.random.default_rng(1).standard_normal((1, DIM)).astype(np.float32))
    rows: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as cache:
        for fmt in a.formats.split(","):
            for pairs in (int(p) for p in a.pairs.split(",")):
                quant, dense, nbytes = quantized_chain(fmt, pairs, seed=pairs)
                engines: Dict[str, Any] = {"f32-activations": buddy.compile(
                    quant, (x,), cache_dir=cache, progress=False, int8_activations=False)}
                if int8_kernel is not None:
                    engines["int8-activations"] = buddy.compile(
                        quant, (x,), cache_dir=cache, progress=False, int8_activations=True)
                with torch.no_grad():
                    engines["torch-f32-dense"] = lambda: dense(x)
                    best: Dict[str, float] = {}
                    for _ in range(a.rounds):
                        for name, fn in engines.items():
                            call = fn if name == "torch-f32-dense" else (lambda f=fn: f(x))
                            wall, _cpu = best_times(call, a.reps)
                            best[name] = min(best.get(name, float("inf")), wall)
                dense_bytes = sum(m.weight.numel() * 4 for m in dense.layers)
                row = {"format": fmt, "pairs": pairs, "weight_mib": round(nbytes / 2**20, 2),
                       **{f"{n}_us": round(t * 1e6, 1) for n, t in best.items()},
                       **{f"{n}_gb_s": round((dense_bytes if n.startswith("torch") else nbytes) / t / 1e9, 2)
                          for n, t in best.items()}}
                if "int8-activations" in best:
                    row["int8_speedup"] = round(best["f32-activations"] / best["int8-activations"], 3)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    doc = {"what": "chains of SmolLM2 FFN projections (576x1536, 1536x576) at M = 1 through buddy.compile",
           "machine": f"{platform.machine()}, {os.cpu_count()} cores, {host.description}",
           "threads": os.cpu_count(), "reps": a.reps, "rounds": a.rounds,
           "load_average_1m_after": round(os.getloadavg()[0], 2), "rows": rows}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=2) + "\n")
    print("| format | weights MiB | f32 act. us (GB/s) | int8 act. us (GB/s) | int8 speedup | torch f32 dense us |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        i8 = (f"{r['int8-activations_us']} ({r['int8-activations_gb_s']})" if "int8-activations_us" in r else "n/a")
        print(f"| {r['format']} | {r['weight_mib']} | {r['f32-activations_us']} ({r['f32-activations_gb_s']}) | "
              f"{i8} | {r.get('int8_speedup', 'n/a')} | {r['torch-f32-dense_us']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
