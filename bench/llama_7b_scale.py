#!/usr/bin/env python3
"""Scale check: a LLaMA-2-7B-shaped model with random bf16 weights, compiled and decoded.

The model is built on the meta device (`buddy.llm.random_weights.meta_llama`): no weight
memory. Seeded random bf16 weights are generated one tensor at a time straight into a
weight file (`write_random_weights`), the prefill and decode graphs are captured from meta
tensors and compiled by `CompiledLlama(weight_file=..., weights_key=...)`, which maps the
file and keys its cache on seed + config (nothing is hashed or copied). Then a short prompt
is prefilled and >= 8 tokens are greedy-decoded.

    BUDDY_CACHE_DIR=/tmp/buddy-cache-7b PYTHONPATH=build/<dir>/python_packages \\
        python bench/llama_7b_scale.py --weights /tmp/buddy-7b/llama7b-seed0.bwt

Reports compile time per graph, peak RSS (`ru_maxrss`, which counts the resident pages of
the memory-mapped weight file, and the anonymous part separately from /proc/self/status),
prompt tok/s and decode tok/s; writes bench/results/llama_7b.json. `--layers N` builds a
smaller model of the same width (a dry run).

Known limit (2026-11-24): model.py's decode updates the cache with one guarded row insert per
(layer, KV head) -- 2048 for this shape -- and one-shot bufferization of that graph grows
super-linearly (2 layers 6.3 s, 4 layers 34.9 s; 32 layers > 1 h). The recorded run used a
per-layer strided update instead, which compiles in minutes but was not bufferized in place
(see the notes in results/llama_7b.json).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Dict

import torch

ROOT = Path(__file__).resolve().parent.parent


def proc_status() -> Dict[str, int]:
    """VmHWM/VmRSS/RssAnon/RssFile of this process in bytes."""
    out: Dict[str, int] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, val = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"):
            out[key] = int(val.split()[0]) * 1024
    return out


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def gib(n: float) -> float:
    return round(n / 2**30, 2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--max-len", type=int, default=64, help="KV-cache positions")
    ap.add_argument("--prompt-len", type=int, default=4,
                    help="prompt tokens (<= 4: the prefill matmuls use the GEMV kernel too)")
    ap.add_argument("--new-tokens", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights", default="/tmp/buddy-7b/llama7b-seed0.bwt",
                    help="weight file (generated when missing)")
    ap.add_argument("--opt-level", type=int, default=1,
                    help="LLVM -O level of the compiled graphs (the recorded run: 1, other ops as sequential loops)")
    ap.add_argument("--delete-weights", action="store_true", help="delete the weight file at the end")
    ap.add_argument("-o", "--output", default=str(ROOT / "bench" / "results" / "llama_7b.json"))
    args = ap.parse_args()

    from transformers import LlamaConfig

    from buddy.llm.compiled import CompiledLlama
    from buddy.llm.random_weights import meta_llama, random_weights_key, write_random_weights

    def log(msg: str) -> None:
        print(f"[llama_7b] {msg}", file=sys.stderr, flush=True)

    cfg = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=args.layers,
                      num_attention_heads=32, num_key_value_heads=32, vocab_size=32000,
                      max_position_embeddings=4096, rms_norm_eps=1e-5, rope_theta=10000.0,
                      tie_word_embeddings=False)
    avail0 = mem_available()
    log(f"MemAvailable {gib(avail0)} GiB")
    model = meta_llama(cfg, args.max_len, torch.bfloat16)
    n_params = sum(p.numel() for p in model.parameters())
    key = random_weights_key(model, args.seed)

    wpath = Path(args.weights)
    t_weights = None
    if not wpath.is_file():
        wpath.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        nbytes = write_random_weights(model, wpath, args.seed, progress=log)
        t_weights = time.perf_counter() - t0
        log(f"wrote {gib(nbytes)} GiB of weights in {t_weights:.0f}s -> {wpath}")
    st_weights = proc_status()

    # Decode graph: imported + compiled in the constructor (the weight file is only mapped).
    t0 = time.perf_counter()
    llm = CompiledLlama(model, (), weight_file=wpath, weights_key=key, opt_level=args.opt_level,
                        parallel_loops=False)
    t_decode_graph = time.perf_counter() - t0
    st_decode = proc_status()
    prompt = torch.randint(3, cfg.vocab_size, (1, args.prompt_len),
                           generator=torch.Generator().manual_seed(args.seed))
    last = torch.tensor([args.prompt_len - 1])
    t0 = time.perf_counter()
    # First prefill call: imports + compiles the prefill graph, then runs it (cold weights).
    logits, k, v = llm.prefill(prompt, last)
    t_prefill_first = time.perf_counter() - t0
    st_prefill = proc_status()
    # Steady prefill (graph compiled, weights mapped).
    t0 = time.perf_counter()
    logits, k, v = llm.prefill(prompt, last)
    t_prefill = time.perf_counter() - t0
    tokens = [int(torch.argmax(logits.float()))]
    finite = bool(torch.isfinite(logits.float()).all())
    step_times = []
    for i in range(args.new_tokens - 1):
        pos = args.prompt_len + i
        t0 = time.perf_counter()
        logits = llm.decode(torch.tensor([[tokens[-1]]]), torch.tensor([pos]), k, v)
        step_times.append(time.perf_counter() - t0)
        finite = finite and bool(torch.isfinite(logits.float()).all())
        tokens.append(int(torch.argmax(logits.float())))
        log(f"decode step {i + 1}: token {tokens[-1]} in {step_times[-1]:.2f}s")
    st_end = proc_status()
    ru_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    ru_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    decode_s = sum(step_times)
    steady = step_times[1:] if len(step_times) > 1 else step_times

    res = {
        "config": {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": args.layers,
                   "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32000,
                   "dtype": "bf16", "kv_cache_dtype": "bf16", "max_len": args.max_len, "seed": args.seed,
                   "opt_level": args.opt_level, "parallel_loops": False},
        "params": n_params,
        "weight_file_bytes": wpath.stat().st_size,
        "prompt_tokens": args.prompt_len,
        "generated_tokens": len(tokens),
        "tokens": tokens,
        "logits_finite": finite,
        "time_write_weights_s": None if t_weights is None else round(t_weights, 1),
        "compile_s": {
            "decode_graph_import_and_compile": round(t_decode_graph, 1),
            "prefill_graph_import_compile_and_first_run": round(t_prefill_first, 1),
            "prefill_graph_import_and_compile": round(t_prefill_first - t_prefill, 1),
        },
        "prefill_s": round(t_prefill, 3),
        "prompt_tok_per_s": round(args.prompt_len / t_prefill, 3),
        "decode_step_s": [round(t, 3) for t in step_times],
        "decode_tok_per_s": round(len(step_times) / decode_s, 3),
        "decode_tok_per_s_after_first_step": round(len(steady) / sum(steady), 3),
        "peak_rss_bytes": ru_self,
        "peak_rss_gib": gib(ru_self),
        "peak_rss_children_bytes": ru_children,
        "rss_at_end": {k: gib(v) for k, v in st_end.items()},
        "rss_after_weights": {k: gib(v) for k, v in st_weights.items()},
        "rss_after_decode_compile": {k: gib(v) for k, v in st_decode.items()},
        "rss_after_prefill": {k: gib(v) for k, v in st_prefill.items()},
        "rss_note": "ru_maxrss (= VmHWM) counts the resident pages of the memory-mapped weight file "
                    "(RssFile: page cache, shared and reclaimable); RssAnon is the process's own memory. "
                    "peak_rss_children_bytes is the largest compile subprocess (buddy-opt/llc/cc).",
        "mem_available_at_start_gib": gib(avail0),
        "torch": torch.__version__, "machine": platform.machine(), "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
        "command": "python bench/llama_7b_scale.py " + " ".join(sys.argv[1:]),
    }
    if args.delete_weights:
        wpath.unlink()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    return 0 if finite and len(tokens) >= args.new_tokens else 1


if __name__ == "__main__":
    sys.exit(main())
