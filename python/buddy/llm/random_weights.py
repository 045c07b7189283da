"""Seeded random LLaMA weights that never exist as a whole in memory (scale checks).

* `meta_llama(config, max_len, dtype)` builds a `LlamaStatic` on the meta device: shapes
  and names only, no weight memory; its graphs are captured from meta tensors.
* `write_random_weights(model, path, seed)` makes one tensor at a time (each from its own
  generator seeded by ``(seed, name)``, so any tensor can be re-made alone), streams it into
  a Buddy weight file and drops it: peak memory is about one tensor.
* `random_weights_key(model, seed)` is the identity of those contents (config, max_len,
  dtype, seed, scheme) for `CompiledLlama(weight_file=..., weights_key=...)`: nothing has to
  be read back and hashed.
* `materialize_model(model, seed)` gives an eager `LlamaStatic` with the same values (for
  small configurations: the reference of the tests).

Values: linear and embedding weights ~ N(0, 0.02) (Hugging Face's LLaMA initializer range),
RMSNorm weights 1, RoPE tables as `LlamaStatic` computes them.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Tuple

import torch

from .model import LlamaStatic, rope_tables

__all__ = ["meta_llama", "random_tensor", "random_weights_key", "write_random_weights",
           "materialize_model", "SCHEME"]

# Bump when the values change: part of the cache key.
SCHEME = "normal0.02-norm1-v1"
STD = 0.02


def meta_llama(config: Any, max_len: int, dtype: torch.dtype = torch.bfloat16) -> LlamaStatic:
    """A `LlamaStatic` whose parameters and buffers are all on the meta device."""
    with torch.device("meta"):
        return LlamaStatic(config, max_len, dtype)


def _tensors(model: LlamaStatic) -> Iterator[Tuple[str, torch.Tensor]]:
    """(name, tensor) of every parameter and buffer, as `CompiledLlama` names them."""
    yield from model.named_parameters()
    yield from model.named_buffers()


def _generator(seed: int, name: str) -> torch.Generator:
    h = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(h[:8], "little") & (2**63 - 1))


def random_tensor(model: LlamaStatic, name: str, like: torch.Tensor, seed: int) -> torch.Tensor:
    """The CPU value of parameter/buffer `name` (shape/dtype of `like`, which may be meta)."""
    shape, dtype = tuple(like.shape), like.dtype
    if name in ("rope_cos", "rope_sin"):
        with torch.device("cpu"):
            cos, sin = rope_tables(model.config, model.max_len, model.head_dim)
        t = cos if name == "rope_cos" else sin
        return t.to(dtype)
    if name.endswith("layernorm.weight") or name == "model.norm.weight":
        return torch.ones(shape, dtype=dtype)
    if not name.endswith(".weight"):
        raise ValueError(f"random_tensor: no rule for {name!r} {dtype}{list(shape)}")
    t = torch.empty(shape, dtype=torch.float32)
    t.normal_(0.0, STD, generator=_generator(seed, name))
    return t.to(dtype)


def random_weights_key(model: LlamaStatic, seed: int) -> str:
    cfg = model.config.to_dict() if hasattr(model.config, "to_dict") else dict(vars(model.config))
    src = json.dumps({"config": cfg, "max_len": model.max_len, "dtype": str(model.lm_head.weight.dtype),
                      "seed": seed, "scheme": SCHEME}, sort_keys=True, default=str)
    return hashlib.sha256(src.encode()).hexdigest()


def write_random_weights(model: LlamaStatic, path: Path, seed: int,
                         progress: Optional[Callable[[str], None]] = None) -> int:
    """Stream every tensor of `model` (values from `random_tensor`) into the weight file
    `path` (written to `path.partial` and renamed). Returns the bytes of tensor data."""
    from buddy.runtime import WeightFileWriter, to_numpy  # type: ignore[attr-defined]

    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    total, t0 = 0, time.perf_counter()
    items = list(_tensors(model))
    with WeightFileWriter(str(tmp)) as w:
        for i, (name, like) in enumerate(items):
            t = random_tensor(model, name, like, seed)
            array, dtype = to_numpy(t)
            w.add(name, array, dtype)
            total += t.numel() * t.element_size()
            del array, t
            if progress and (i + 1) % 32 == 0:
                progress(f"weights: {i + 1}/{len(items)} tensors, {total / 2**30:.2f} GiB, "
                         f"{time.perf_counter() - t0:.0f}s")
    tmp.replace(path)
    return total


def materialize_model(model: LlamaStatic, seed: int) -> LlamaStatic:
    """An eager CPU `LlamaStatic` holding the values `write_random_weights` writes."""
    eager = LlamaStatic(model.config, model.max_len, model.lm_head.weight.dtype)
    values = dict(_tensors(model))
    with torch.no_grad():
        for name, t in _tensors(eager):
            t.copy_(random_tensor(model, name, values[name], seed))
    return eager
