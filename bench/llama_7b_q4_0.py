#!/usr/bin/env python3
"""Issue 12's scale row: a LLaMA-2-7B-shaped Q4_0 GGUF with random weights (about 3.6 GiB),
decoded by Buddy (`CompiledLlama.from_gguf`, what `buddy llama` runs) and by llama.cpp's
`llama-bench` on the same file, alternated in one run.

    python bench/llama_7b_q4_0.py [--gguf /tmp/buddy-7b/llama7b-q4_0.gguf] [--reps 2]

The file is written once (seeded): every matrix, the token embedding and the output head
are Q4_0 blocks of random nibbles with f16 scales near 1/(4 sqrt(K)) (so activations keep
their size through 32 layers); the norms are ones. Its tokenizer is the LLaMA-2 SPM vocabulary
of llama.cpp's `ggml-vocab-llama-spm.gguf` (`tests/python/support/tokenizer_refs.py` finds it).
Buddy's engine is bench_llama.py's `--engine buddy-gguf` in its own process (KV cache 512,
prompt `--prompt-tokens`, `--new-tokens` greedy steps); llama.cpp is `llama-bench -p P -n N
-t <cores>`, built by bench/llamacpp.py. Writes bench/results/llama_7b_q4_0.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "python"))

DIM, FFN, LAYERS, HEADS, VOCAB = 4096, 11008, 32, 32, 32000
Q4_0_BYTES = 18  # f16 d + 16 nibble bytes per 32 weights


def q4_0_blocks(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Random Q4_0 data for an [n, k] matrix: uint8 [n, k / 32 * 18]."""
    blocks = rng.integers(0, 256, size=(n, k // 32, Q4_0_BYTES), dtype=np.uint8)
    d = (rng.uniform(0.5, 1.5, size=(n, k // 32, 1)) / (4.6 * np.sqrt(k))).astype(np.float16)
    blocks[:, :, 0:2] = d.view(np.uint8).reshape(n, k // 32, 2)
    return blocks.reshape(n, -1)


def write_gguf(path: Path, seed: int, layers: int, log: Any) -> None:
    import gguf
    from support.tokenizer_refs import data_file

    vocab = gguf.GGUFReader(str(data_file("llama.cpp-vocab/ggml-vocab-llama-spm.gguf")))
    tmp = path.with_suffix(".partial")
    w = gguf.GGUFWriter(str(tmp), "llama")
    w.add_name("random LLaMA-2-7B-shaped Q4_0 (Buddy bench)")
    w.add_block_count(layers)
    w.add_context_length(4096)
    w.add_embedding_length(DIM)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(HEADS)
    w.add_rope_dimension_count(DIM // HEADS)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(VOCAB)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0)
    for key, field in vocab.fields.items():
        if key.startswith("tokenizer."):
            sub = field.types[1] if len(field.types) > 1 else None
            w.add_key_value(key, field.contents(), field.types[0], sub)
    rng = np.random.default_rng(seed)
    q4 = gguf.GGMLQuantizationType.Q4_0

    def mat(name: str, n: int, k: int) -> None:
        w.add_tensor(name, q4_0_blocks(rng, n, k), raw_dtype=q4)  # the byte shape [n, k / 32 * 18]

    ones = np.ones(DIM, dtype=np.float32)
    mat("token_embd.weight", VOCAB, DIM)
    for i in range(layers):
        for t in ("attn_q", "attn_k", "attn_v", "attn_output"):
            mat(f"blk.{i}.{t}.weight", DIM, DIM)
        mat(f"blk.{i}.ffn_gate.weight", FFN, DIM)
        mat(f"blk.{i}.ffn_up.weight", FFN, DIM)
        mat(f"blk.{i}.ffn_down.weight", DIM, FFN)
        w.add_tensor(f"blk.{i}.attn_norm.weight", ones)
        w.add_tensor(f"blk.{i}.ffn_norm.weight", ones)
        log(f"layer {i + 1}/{layers} generated")
    w.add_tensor("output_norm.weight", ones)
    mat("output.weight", VOCAB, DIM)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file(progress=False)
    w.close()
    os.replace(tmp, path)


def _failure(p: "subprocess.CompletedProcess[str]") -> str:
    """Why a Buddy run gave no result: a signal (the OOM killer sends SIGKILL), or its last stderr line."""
    if p.returncode < 0:
        sig = signal.Signals(-p.returncode).name
        hint = " (out of memory? the kernel's OOM killer sends SIGKILL)" if sig == "SIGKILL" else ""
        return f"killed by {sig}{hint}"
    last = (p.stderr.strip().splitlines() or ["no output on stderr"])[-1]
    return f"exit code {p.returncode}: {last}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gguf", type=Path, default=Path("/tmp/buddy-7b/llama7b-q4_0.gguf"),
                    help="the file (written when missing)")
    ap.add_argument("--layers", type=int, default=LAYERS, help="fewer for a dry run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prompt-tokens", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=16)
    ap.add_argument("--reps", type=int, default=2, help="runs per engine, alternated (best kept)")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "bench" / "results" / "llama_7b_q4_0.json")
    a = ap.parse_args()

    def log(msg: str) -> None:
        print(f"[llama_7b_q4_0] {msg}", file=sys.stderr, flush=True)

    from bench_llama import llamacpp_bench, read_bandwidth_gbs, roofline
    from llamacpp import build as build_llamacpp

    if not a.gguf.is_file():
        a.gguf.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        write_gguf(a.gguf, a.seed, a.layers, log)
        log(f"wrote {a.gguf} ({a.gguf.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - t0:.0f}s")
    bindir = build_llamacpp()
    bw = read_bandwidth_gbs()
    log(f"read bandwidth {bw:.1f} GB/s")
    runs: Dict[str, List[Dict[str, Any]]] = {"buddy": [], "llamacpp": []}
    for rep in range(a.reps):
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_llama.py"), "--engine", "buddy-gguf",
                            "--gguf", str(a.gguf), "--prompt-tokens", str(a.prompt_tokens),
                            "--new-tokens", str(a.new_tokens)],
                           capture_output=True, text=True, check=False, timeout=a.timeout)
        line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
        r = json.loads(line[-1][len("RESULT "):]) if p.returncode == 0 and line else {"error": _failure(p)}
        r["wall_s"] = round(time.perf_counter() - t0, 1)  # the first run includes the cold start
        runs["buddy"].append(r)
        log(f"buddy run {rep + 1}: {r}")
        runs["llamacpp"].append(llamacpp_bench(bindir, a.gguf, a.prompt_tokens, a.new_tokens, 1))
        log(f"llama.cpp run {rep + 1}: {runs['llamacpp'][-1]}")
    best: Dict[str, Any] = {}
    for name, rs in runs.items():
        ok = [r for r in rs if "error" not in r]
        best[name] = dict(max(ok, key=lambda r: r["decode_tok_s"])) if ok else rs[-1]
        if ok:
            best[name]["roofline"] = roofline(best[name]["decode_tok_s"], a.gguf.stat().st_size, bw)
    doc = {"model": f"LLaMA-2-7B-shaped ({a.layers} layers, dim {DIM}, ffn {FFN}, vocab {VOCAB}), random Q4_0, "
                    f"seed {a.seed}", "file_gib": round(a.gguf.stat().st_size / 2**30, 2),
           "prompt_tokens": a.prompt_tokens, "new_tokens": a.new_tokens, "reps": a.reps,
           "machine": f"{platform.machine()}, {os.cpu_count()} cores", "read_bandwidth_gbs": round(bw, 1),
           "load_average_1m_after": round(os.getloadavg()[0], 2), "best": best, "runs": runs,
           "command": "python bench/llama_7b_q4_0.py " + " ".join(sys.argv[1:])}
    if "error" not in best["buddy"]:
        doc["decode_ratio"] = best["buddy"]["decode_tok_s"] / best["llamacpp"]["decode_tok_s"]
        doc["prefill_ratio"] = best["buddy"]["prefill_tok_s"] / best["llamacpp"]["prefill_tok_s"]
    a.output.parent.mkdir(parents=True, exist_ok=True)
    a.output.write_text(json.dumps(doc, indent=2) + "\n")
    b, ll = best["buddy"], best["llamacpp"]
    print("| engine | prefill tok/s | decode tok/s | roofline | peak RSS MiB |\n| --- | --- | --- | --- | --- |")
    if "error" in b:
        print(f"| Buddy | error: {b['error'][:80]} | | | |")
    else:
        print(f"| Buddy | {b['prefill_tok_s']:.1f} | {b['decode_tok_s']:.2f} | {b['roofline']:.2f} | "
              f"{min(r['peak_rss_mib'] for r in runs['buddy'] if 'error' not in r):.0f} |")
    print(f"| llama.cpp | {ll['prefill_tok_s']:.1f} | {ll['decode_tok_s']:.2f} | {ll['roofline']:.2f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
