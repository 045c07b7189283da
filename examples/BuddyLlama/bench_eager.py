"""Eager-mode throughput of transformers' LlamaForCausalLM vs buddy.llm's LlamaStatic.

    python examples/BuddyLlama/bench_eager.py [--gguf PATH] [--prompt 128] [--new 128]

Both run fp32 weights dequantized from the same GGUF, greedy, batch 1. Prefill
tok/s = prompt tokens / prefill time; decode tok/s = decode steps / their time.
"""
from __future__ import annotations

import argparse
import time

import torch


def _prompt_ids(tok, n: int) -> list[int]:
    text = ("The history of France is long and varied, shaped by kings, revolutions, wars "
            "and the ideas of philosophers. ") * 40
    ids = tok.encode(text)
    if len(ids) < n:
        raise ValueError(f"bench prompt has only {len(ids)} tokens")
    return ids[:n]


def bench_transformers(path, ids: list[int], new: int) -> tuple[float, float, list[int]]:
    from transformers import AutoModelForCausalLM
    hf = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32,
                                              attn_implementation="eager").eval()
    with torch.no_grad():
        warm = hf(torch.tensor([ids[:8]]), use_cache=True)  # warm-up (allocator, kernels)
        hf(torch.tensor([[ids[8]]]), past_key_values=warm.past_key_values, use_cache=True)
        x = torch.tensor([ids])
        t0 = time.perf_counter()
        out = hf(x, use_cache=True)
        t1 = time.perf_counter()
        toks = [int(out.logits[0, -1].argmax())]
        past = out.past_key_values
        for _ in range(new - 1):
            out = hf(torch.tensor([[toks[-1]]]), past_key_values=past, use_cache=True)
            past = out.past_key_values
            toks.append(int(out.logits[0, -1].argmax()))
        t2 = time.perf_counter()
    return len(ids) / (t1 - t0), (new - 1) / (t2 - t1), toks


def bench_buddy(path, ids: list[int], new: int, max_len: int) -> tuple[float, float, list[int]]:
    from buddy.llm import LlamaStatic
    m = LlamaStatic.from_gguf(str(path), max_len=max_len)
    with torch.no_grad():
        _, wk, wv = m.prefill(torch.tensor([ids[:8]]), torch.tensor([7]))  # warm-up
        m.decode(torch.tensor([[ids[8]]]), torch.tensor([8]), wk, wv)
        t0 = time.perf_counter()
        logits, k, v = m.prefill(torch.tensor([ids]), torch.tensor([len(ids) - 1]))
        t1 = time.perf_counter()
        toks = [int(logits.argmax())]
        for i in range(new - 1):
            logits = m.decode(torch.tensor([[toks[-1]]]), torch.tensor([len(ids) + i]), k, v)
            toks.append(int(logits.argmax()))
        t2 = time.perf_counter()
    return len(ids) / (t1 - t0), (new - 1) / (t2 - t1), toks


def main() -> None:
    from buddy.llm import HFTokenizer, find_smollm2_gguf
    from pathlib import Path
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gguf", type=Path, default=None)
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--new", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    path = a.gguf or find_smollm2_gguf()
    ids = _prompt_ids(HFTokenizer(path), a.prompt)
    max_len = a.prompt + a.new
    print(f"model {path.name}, prompt {a.prompt}, new {a.new}, threads {torch.get_num_threads()}, "
          f"KV cache {max_len}")
    hp, hd, htoks = bench_transformers(path, ids, a.new)
    print(f"transformers eager: prefill {hp:8.1f} tok/s  decode {hd:6.1f} tok/s")
    bp, bd, btoks = bench_buddy(path, ids, a.new, max_len)
    print(f"buddy.llm eager:    prefill {bp:8.1f} tok/s  decode {bd:6.1f} tok/s")
    same = next((i for i, (x, y) in enumerate(zip(htoks, btoks)) if x != y), None)
    print("greedy tokens identical" if same is None else f"greedy tokens diverge at step {same}")


if __name__ == "__main__":
    main()
