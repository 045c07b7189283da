"""Build-time import for buddy-llama-run: compile a LLaMA's prefill + decode graphs.

    python import_llama.py --model PATH.gguf|HF_DIR|tiny --out DIR [--max-len N] [--prefill S]...
                           [--graphs llama_decode,llama_prefill_S,...]

The multi-graph program of `buddy_add_model(... GRAPHS ...)` (cmake/BuddyAddModel.cmake).
Compiles through `buddy.llm.compiled.CompiledLlama` (one shared weight file, in-place KV
cache decode; entry points `_buddy_llama_decode` and `_buddy_llama_prefill_<S>`) into the
Buddy compile cache (shared with `buddy llama`), copies each graph's object to
DIR/<entry>.o (`--graphs` must name exactly the graphs compiled), then writes DIR/llama.spec,
a line-based description the C++ runner reads:

    weights <path>                      # the shared .bwt
    tokenizer <gguf path | ->
    model <n_layers> <n_kv_heads> <max_len> <head_dim> <vocab>
    graph decode <entry> <n args> <span>  # one per decode span (buddy.llm.compiled.decode_spans)
    arg <param|input|output> <name> <dtype> <rank> <dims...>   # n times, in call order
    graph prefill <entry> <n args>      # S is the shape of its first input
    ...

`--model tiny` builds a fixed-seed random LLaMA (GQA, 3 layers; no tokenizer) and writes
DIR/tiny.expect: prompt ids and the greedy ids of the Python compiled path, for the ctest.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path


def tiny_model(max_len: int):
    import torch
    from transformers import LlamaConfig

    from buddy.llm import LlamaStatic

    cfg = LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=160, num_hidden_layers=3,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      rms_norm_eps=1e-5, tie_word_embeddings=True)
    torch.manual_seed(1234)
    m = LlamaStatic(cfg, max_len)
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0.0, 0.15)
    return m


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--max-len", type=int, default=512)
    ap.add_argument("--cache-dir", type=Path, default=None,
                    help="Buddy compile cache (default: $BUDDY_CACHE_DIR or ~/.cache/buddy, shared "
                         "with `buddy llama`)")
    ap.add_argument("--prefill", type=int, action="append", default=None,
                    help="prompt length buckets to compile (repeatable; default 32 and 128)")
    ap.add_argument("--graphs", default=None,
                    help="comma-separated entry names the caller expects (buddy_add_model GRAPHS); "
                         "an error if they differ from the graphs compiled")
    a = ap.parse_args(argv)
    import torch

    from buddy.llm import Generator, LlamaStatic, SamplingConfig
    from buddy.llm.compiled import CompiledLlama, decode_entry, decode_spans, prefill_entry

    out = a.out
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = "-"
    if a.model == "tiny":
        model = tiny_model(a.max_len)
        buckets = sorted(set(a.prefill or [8]))
    else:
        path = Path(a.model)
        if not path.exists():
            print(f"import_llama: model not found: {path}", file=sys.stderr)
            return 1
        if path.is_file():
            tokenizer = str(path.resolve())
        buckets = sorted(set(a.prefill or [32, 128]))
    spans = decode_spans(a.max_len)
    entries = [decode_entry(t, a.max_len) for t in spans] + [prefill_entry(s) for s in buckets]
    if a.graphs is not None and sorted(a.graphs.split(",")) != sorted(entries):
        print(f"import_llama: --graphs {a.graphs} does not match the graphs this import compiles "
              f"({','.join(entries)}; --prefill decides the llama_prefill_<S> buckets)", file=sys.stderr)
        return 1
    if a.model != "tiny" and Path(a.model).is_file():
        # the same cache entry as `buddy llama --model <file>`: one weight file, same graphs
        runner = CompiledLlama.from_gguf(a.model, a.max_len, buckets, cache_dir=a.cache_dir)
    else:
        if a.model != "tiny":
            model = LlamaStatic.from_hf_dir(a.model, a.max_len)
        runner = CompiledLlama(model, prefill_lengths=buckets, cache_dir=a.cache_dir)
    sp = runner.spec
    lines = [f"weights {runner.weights_path}", f"tokenizer {tokenizer}",
             f"model {sp.n_layers} {sp.n_kv} {sp.max_len} {sp.head_dim} {sp.vocab_size}"]

    def graph(kind: str, entry: str, cg, extra: str = "") -> None:
        manifest = json.loads((cg.dir / "manifest.json").read_text())
        if manifest["symbol"] != f"_buddy_{entry}":
            raise RuntimeError(f"{cg.dir}: exports {manifest['symbol']}, expected _buddy_{entry}")
        shutil.copyfile(cg.dir / manifest["object"], out / f"{entry}.o")
        lines.append(f"graph {kind} {entry} {len(cg.signature)}{extra}")
        for s in cg.signature:
            lines.append(f"arg {s.role} {s.name} {s.dtype} {len(s.shape)} {' '.join(map(str, s.shape))}".rstrip())

    runner.prepare_decode(0, sp.max_len - 1)  # every span's graph, compiled concurrently
    for t in spans:
        graph("decode", decode_entry(t, sp.max_len), runner.decode_graph_of(t), f" {t}")
    for s in buckets:
        graph("prefill", prefill_entry(s), runner.prefill_graph(s))
    (out / "llama.spec").write_text("\n".join(lines) + "\n")
    if a.model == "tiny":
        prompt = [1, 17, 5, 42, 9]
        # as many tokens as fit the cache: the decode steps cross every span boundary
        cfg = SamplingConfig(max_new_tokens=a.max_len - len(prompt), stop_at_eos=False)
        with torch.no_grad():
            res = Generator(runner, None, prefill_buckets=buckets).generate(prompt, cfg)
            ref = Generator(model, None, prefill_buckets=buckets).generate(prompt, cfg)
        if res.tokens != ref.tokens:
            print(f"import_llama: compiled tokens {res.tokens} != eager {ref.tokens}", file=sys.stderr)
            return 1
        (out / "tiny.expect").write_text(json.dumps({"prompt": prompt, "tokens": res.tokens}) + "\n")
    print(f"import_llama: wrote {out / 'llama.spec'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
