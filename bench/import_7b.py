#!/usr/bin/env python3
"""Peak memory of importing a LLaMA-2-7B-shaped model with lazily materialized weights.

The model is built on the meta device (no weight memory), captured and lowered to MLIR from
meta tensors, then `write_params(..., materialize=...)` makes one random bf16 parameter at a
time, streams it into the weight file and frees it. Reports the process's peak RSS
(`resource.getrusage(RUSAGE_SELF).ru_maxrss`) against the weight bytes, and the phase times.

    PYTHONPATH=build/<dir>/python_packages python bench/import_7b.py [--layers 32] [--out-dir /tmp/x]

With `--layers N < 32` the weight bytes and the ratio are also extrapolated to 32 layers
(labelled `extrapolated` in the JSON). Writes bench/results/import_7b.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def rss_peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def rss_now_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--seq", type=int, default=16, help="sequence length of the captured forward")
    ap.add_argument("--out-dir", default=None, help="where the weight file goes (deleted afterwards)")
    ap.add_argument("--keep", action="store_true", help="keep the weight file")
    ap.add_argument("-o", "--output", default=str(ROOT / "bench" / "results" / "import_7b.json"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import buddy.frontend as bf
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=args.layers,
                      num_attention_heads=32, num_key_value_heads=32, vocab_size=32000,
                      max_position_embeddings=4096, torch_dtype=torch.bfloat16)
    base_rss = rss_now_bytes()
    t0 = time.perf_counter()
    with torch.device("meta"):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16).eval()

    class Logits(torch.nn.Module):
        def __init__(self, m: torch.nn.Module) -> None:
            super().__init__()
            self.m = m

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.m(input_ids=ids, use_cache=False).logits

    ids = torch.zeros(1, args.seq, dtype=torch.int64, device="meta")
    g = bf.import_model(Logits(model), (ids,))
    t_import = time.perf_counter() - t0
    rss_after_import = rss_now_bytes()
    weight_bytes = sum(torch.Size(p.shape).numel() * p.torch_dtype.itemsize for p in g.params)
    per_layer = sum(torch.Size(p.shape).numel() * p.torch_dtype.itemsize for p in g.params
                    if ".layers.0." in p.name)
    mlir_chars = len(g.module.mlir_text)

    live, peak_live, count = [0], [0], [0]

    def materialize(spec: bf.ParamSpec) -> torch.Tensor:
        if spec.name.endswith("rotary_emb.inv_freq"):  # a real buffer, not a weight: compute it
            from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding
            t = LlamaRotaryEmbedding(cfg).inv_freq.to(spec.torch_dtype)
        else:
            t = torch.empty(spec.shape, dtype=spec.torch_dtype).normal_(0.0, 0.02)
        count[0] += 1
        live[0] += 1
        peak_live[0] = max(peak_live[0], live[0])
        import weakref
        weakref.finalize(t, lambda: live.__setitem__(0, live[0] - 1))
        return t

    out_dir = Path(args.out_dir or tempfile.mkdtemp(prefix="buddy_import_7b_"))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "llama7b_random.bwt"
    t1 = time.perf_counter()
    g.write_params(path, materialize=materialize)
    t_write = time.perf_counter() - t1
    file_bytes = path.stat().st_size
    if not args.keep:
        path.unlink()
    peak = rss_peak_bytes()

    res = {
        "config": {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": args.layers,
                   "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32000,
                   "dtype": "bf16", "seq": args.seq},
        "params": len(g.params),
        "weight_bytes": weight_bytes,
        "weight_file_bytes": file_bytes,
        "peak_rss_bytes": peak,
        "rss_before_model_bytes": base_rss,
        "rss_after_import_bytes": rss_after_import,
        "peak_rss_over_weight_bytes": round(peak / weight_bytes, 4),
        "max_live_materialized_params": peak_live[0],
        "materialized_params": count[0],
        "mlir_chars": mlir_chars,
        "time_capture_and_lower_s": round(t_import, 1),
        "time_materialize_and_write_s": round(t_write, 1),
        "torch": torch.__version__, "machine": platform.machine(), "cpus": os.cpu_count(),
        "command": "python bench/import_7b.py " + " ".join(sys.argv[1:]),
    }
    if args.layers != 32:
        full = weight_bytes + (32 - args.layers) * per_layer
        res["extrapolated_32_layers"] = {
            "note": f"measured with {args.layers} of 32 layers; weight bytes scale by layer, peak RSS does not "
                    "(one parameter alive at a time), so the measured peak is reused",
            "weight_bytes": full,
            "peak_rss_over_weight_bytes": round(peak / full, 4),
        }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
