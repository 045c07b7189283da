"""Load a LLaMA-architecture GGUF file into a Hugging Face-layout state dict.

The result uses the tensor names and layouts of `transformers.LlamaForCausalLM`
(``model.layers.N.self_attn.q_proj.weight`` ...), so the same model code serves
GGUF and Hugging Face checkpoints. Quantized tensors are dequantized with
vectorized NumPy to the requested compute dtype.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "GGUFError",
    "GGUFFormatError",
    "UnsupportedModelError",
    "GGUFModel",
    "load_gguf",
    "dequantize",
    "unpermute_qk",
    "SUPPORTED_QUANT_TYPES",
]


from buddy.quant import GGUF_TYPES

from .gguf_errors import GGUFError, GGUFFormatError, UnsupportedModelError
from .gguf_header import GGUFHeader, read_header

# Block-quantized types: buddy.quant.GGUF_TYPES (the one table of GGUF block layouts).
SUPPORTED_QUANT_TYPES = ("F32", "F16", "BF16", *GGUF_TYPES)


def dequantize(qtype: str, data: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Turn a GGUF tensor's stored data into a float32 array of `shape` (NumPy order).

    `data` is what `gguf.GGUFReader` exposes for the tensor (typed for F32/F16,
    raw bytes for BF16 and the block-quantized types).
    """
    n = int(np.prod(shape)) if shape else 1
    if qtype == "F32":
        out = np.asarray(data).view(np.float32).reshape(-1)
    elif qtype == "F16":
        out = np.asarray(data).view(np.float16).reshape(-1).astype(np.float32)
    elif qtype == "BF16":
        u16 = np.ascontiguousarray(data).view(np.uint16).reshape(-1).astype(np.uint32)
        out = (u16 << 16).view(np.float32)
    elif qtype in SUPPORTED_QUANT_TYPES:  # blocks: buddy.quant's planes, then d * q (+ m)
        from buddy.quant import QuantFormatError, dequantize_planes, planes_from_gguf

        rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        try:
            p = planes_from_gguf(qtype, data, (rows, int(shape[-1]) if shape else 1), name=qtype + " tensor")
        except QuantFormatError as e:
            raise GGUFFormatError(str(e)) from e
        out = dequantize_planes(torch.from_numpy(p.qweight), torch.from_numpy(p.scales),
                                None if p.mins is None else torch.from_numpy(p.mins), p.fmt).numpy().reshape(-1)
    else:
        raise UnsupportedModelError(
            f"quantization type {qtype} is not supported (supported: {', '.join(SUPPORTED_QUANT_TYPES)})")
    if out.size != n:
        raise GGUFFormatError(f"{qtype} tensor of shape {shape} holds {out.size} values, expected {n}")
    return out.reshape(shape)


def unpermute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """Undo llama.cpp's q/k row permutation (interleaved rotary halves -> HF layout).

    llama.cpp's converter regroups each head's rows from [2, head_dim/2] (HF's
    rotate-half layout) to [head_dim/2, 2]; this swaps them back.
    """
    rows = w.shape[0]
    if rows % (2 * n_head):
        raise GGUFFormatError(f"q/k weight with {rows} rows cannot be split into {n_head} heads")
    return (w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


@dataclass
class GGUFModel:
    """What `load_gguf` returns: HF config, HF-named weights, and tokenizer metadata.

    With `load_gguf(..., quantized=True)`, `quantized` maps the HF module name of every linear
    layer whose GGUF weight is a type of buddy.quant.GGUF_TYPES (Q4_K as Q4_1 planes, Q5_0 as Q8_0, Q6_K as Q8_16) (``model.layers.0.self_attn.q_proj``, ``lm_head``),
    and ``model.embed_tokens`` when the table is, to its planes (`buddy.quant.QuantPlanes`);
    its ``.weight`` is then not in `state_dict`. A tied LM head maps to the embedding's very
    planes object."""
    path: Path
    config: Any  # transformers.LlamaConfig
    state_dict: dict[str, torch.Tensor]
    metadata: dict[str, Any] = field(default_factory=dict)
    quantized: dict[str, Any] = field(default_factory=dict)

    @property
    def chat_template(self) -> str | None:
        return self.metadata.get("tokenizer.chat_template")


_LAYER_MAP = {
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_TOP_MAP = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}


def _hf_name(name: str) -> str | None:
    if name in _TOP_MAP:
        return _TOP_MAP[name]
    parts = name.split(".")
    if len(parts) == 4 and parts[0] == "blk" and parts[2] in _LAYER_MAP:
        return f"model.layers.{int(parts[1])}.{_LAYER_MAP[parts[2]]}.{parts[3]}"
    return None


def _meta(meta: dict[str, Any], key: str, path: Path, default: Any = None) -> Any:
    if key in meta:
        return meta[key]
    if default is not None:
        return default
    raise GGUFFormatError(f"{path}: GGUF metadata key {key!r} is missing")


def _make_config(meta: dict[str, Any], path: Path, n_vocab: int, tied: bool) -> Any:
    from transformers import LlamaConfig

    a = "llama"
    n_embd = int(_meta(meta, f"{a}.embedding_length", path))
    n_head = int(_meta(meta, f"{a}.attention.head_count", path))
    n_kv = int(_meta(meta, f"{a}.attention.head_count_kv", path, n_head))
    head_dim = int(meta.get(f"{a}.attention.key_length", n_embd // n_head))
    rope_dim = int(meta.get(f"{a}.rope.dimension_count", head_dim))
    if rope_dim != head_dim:
        raise UnsupportedModelError(f"{path}: partial rotary embedding ({rope_dim} of {head_dim}) is not supported")
    if f"{a}.rope.scaling.type" in meta and meta[f"{a}.rope.scaling.type"] not in ("none", ""):
        raise UnsupportedModelError(
            f"{path}: rope scaling {meta[f'{a}.rope.scaling.type']!r} is not supported")
    kwargs: dict[str, Any] = dict(
        vocab_size=int(meta.get(f"{a}.vocab_size", n_vocab)),
        hidden_size=n_embd,
        intermediate_size=int(_meta(meta, f"{a}.feed_forward_length", path)),
        num_hidden_layers=int(_meta(meta, f"{a}.block_count", path)),
        num_attention_heads=n_head,
        num_key_value_heads=n_kv,
        head_dim=head_dim,
        max_position_embeddings=int(meta.get(f"{a}.context_length", 2048)),
        rms_norm_eps=float(meta.get(f"{a}.attention.layer_norm_rms_epsilon", 1e-5)),
        rope_theta=float(meta.get(f"{a}.rope.freq_base", 10000.0)),
        tie_word_embeddings=tied,
        attention_bias=False,
        mlp_bias=False,
        hidden_act="silu",
    )
    for key, name in (("bos_token_id", "bos_token_id"), ("eos_token_id", "eos_token_id"),
                      ("padding_token_id", "pad_token_id")):
        if f"tokenizer.ggml.{key}" in meta:
            kwargs[name] = int(meta[f"tokenizer.ggml.{key}"])
    cfg = LlamaConfig(**kwargs)
    # transformers 5 keeps rope_theta under rope_parameters; make sure it is there.
    rp = getattr(cfg, "rope_parameters", None)
    if isinstance(rp, dict):
        rp["rope_theta"] = kwargs["rope_theta"]
        rp.setdefault("rope_type", "default")
    return cfg


# GGUF block types a linear layer keeps quantized (as buddy.quant planes): all of them.
KEEP_QUANTIZED_TYPES = tuple(GGUF_TYPES)


def _quant_planes(path: Path, gguf_name: str, data: np.ndarray, qtype: str, shape: tuple[int, ...],
                  name: str, n_head: int, n_kv: int) -> Any:
    """The planes of a block-quantized linear weight from its raw GGUF bytes `data` (q/k rows
    unpermuted, like the floats)."""
    from buddy.quant import QuantFormatError, planes_from_gguf

    try:
        p = planes_from_gguf(qtype, data, shape, name=gguf_name)  # type: ignore[arg-type]
    except QuantFormatError as e:
        raise GGUFFormatError(f"{path}: {e}") from e
    if name.endswith("self_attn.q_proj.weight") or name.endswith("self_attn.k_proj.weight"):
        heads = n_head if "q_proj" in name else n_kv
        rows = unpermute_qk(np.arange(shape[0]), heads)
        p = p.take_rows(rows)
    return p


def load_gguf(path: str | os.PathLike[str], dtype: torch.dtype = torch.float32,
              quantized: bool = False) -> GGUFModel:
    """Read a LLaMA GGUF into (LlamaConfig, HF-named state dict in `dtype`).

    `quantized`: linear weights stored in a type of buddy.quant.GGUF_TYPES are not dequantized but repacked
    into planes (`GGUFModel.quantized`, `buddy.quant`); the LM head too when its weight (or
    the tied embedding) is one of these types, and the embedding itself."""
    path = Path(path)
    header = read_header(path)  # the C++ reader: no Python walk of the vocabulary
    meta = header.values
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise UnsupportedModelError(
            f"{path}: unsupported architecture {arch!r} (general.architecture must be 'llama')")
    n_head = int(_meta(meta, "llama.attention.head_count", path))
    n_kv = int(meta.get("llama.attention.head_count_kv", n_head))

    state: dict[str, torch.Tensor] = {}
    planes: dict[str, Any] = {}
    for t in header.tensors:
        name = _hf_name(t.name)
        if name is None:
            if t.name == "rope_freqs.weight":
                raise UnsupportedModelError(f"{path}: tensor rope_freqs.weight (scaled RoPE) is not supported")
            continue  # e.g. rope tables that the model recomputes
        qtype = t.type_name
        if qtype not in SUPPORTED_QUANT_TYPES:
            raise UnsupportedModelError(
                f"{path}: tensor {t.name} uses quantization type {qtype}, which is not supported "
                f"(supported: {', '.join(SUPPORTED_QUANT_TYPES)})")
        shape = t.shape
        linear = name.endswith("_proj.weight") or name in ("lm_head.weight", "model.embed_tokens.weight")
        if quantized and linear and qtype in KEEP_QUANTIZED_TYPES:
            planes[name[:-len(".weight")]] = _quant_planes(path, t.name, header.tensor_bytes(t), qtype, shape,
                                                           name, n_head, n_kv)
            continue
        try:
            w = dequantize(qtype, header.tensor_bytes(t), shape)
        except GGUFFormatError as e:
            raise GGUFFormatError(f"{path}: tensor {t.name}: {e}") from e
        finite = np.isfinite(w)
        if not finite.all():  # garbage weights never reach the output
            raise GGUFFormatError(f"{path}: tensor {t.name} holds {int(w.size - finite.sum())} NaN/Inf "
                                  f"values of {w.size}: the file is damaged")
        if name.endswith("self_attn.q_proj.weight"):
            w = unpermute_qk(w, n_head)
        elif name.endswith("self_attn.k_proj.weight"):
            w = unpermute_qk(w, n_kv)
        if not w.flags.writeable:  # F32 data is a read-only view of the memory map
            w = np.array(w)
        state[name] = torch.from_numpy(np.ascontiguousarray(w)).to(dtype)

    emb_planes = planes.get("model.embed_tokens")
    if "model.embed_tokens.weight" not in state and emb_planes is None:
        raise GGUFFormatError(f"{path}: tensor token_embd.weight is missing")
    tied = "lm_head.weight" not in state and "lm_head" not in planes
    if tied:
        if emb_planes is not None:
            planes["lm_head"] = emb_planes  # the same object: one table (QuantEmbedding.tied)
        else:
            state["lm_head.weight"] = state["model.embed_tokens.weight"]
    n_vocab = emb_planes.shape[0] if emb_planes is not None else state["model.embed_tokens.weight"].shape[0]
    n_tokens = header.array_lengths.get("tokenizer.ggml.tokens")
    if n_tokens is not None and n_tokens > n_vocab:  # ids past the table would read garbage
        raise GGUFFormatError(f"{path}: the tokenizer has {n_tokens} tokens but token_embd.weight "
                              f"has {n_vocab} rows: token ids >= {n_vocab} have no embedding")
    config = _make_config(meta, path, n_vocab, tied)
    for i in range(config.num_hidden_layers):
        for suffix in _LAYER_MAP.values():
            if f"model.layers.{i}.{suffix}.weight" not in state and f"model.layers.{i}.{suffix}" not in planes:
                raise GGUFFormatError(f"{path}: layer {i} has no {suffix} weight")
    return GGUFModel(path=path, config=config, state_dict=state, metadata=meta, quantized=planes)
