"""A LLaMA decoder written for clean graph capture (Dynamo / torch.export -> Core ATen).

Two entry points share one set of weights:

* ``prefill(tokens[1, S], last[1]) -> (logits[1, V], k_cache, v_cache)`` runs a
  (padded) prompt of S tokens at positions 0..S-1 and returns the logits of
  position ``last`` plus fresh KV caches of shape
  ``[layers, kv_heads, max_len, head_dim]`` holding positions 0..S-1 (the rest zero).
  Padding after ``last`` is harmless: the causal mask keeps it out of the
  earlier positions, and decode overwrites it before it is ever attended to.
* ``decode(token[1, 1], pos[1], k_cache, v_cache) -> logits[1, V]`` runs one
  token at position ``pos``, writes its K/V into the static caches in place
  (``index_copy_`` at ``pos``) and attends to positions ``<= pos``.

Shapes are static for a given (S, max_len); there is no data-dependent Python
control flow, masks are built from position tensors. Semantics follow
``transformers.LlamaForCausalLM`` (eager attention): RMSNorm in float32, RoPE
(rotate-half), GQA, SwiGLU, softmax in float32.

`PrefillGraph` / `DecodeGraph` are thin ``nn.Module`` views whose ``forward``
is one entry point, for ``torch.export``; they register the *same* parameter
objects under the same (Hugging Face) names.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LlamaStatic", "PrefillGraph", "DecodeGraph", "KVCacheOverflowError", "rope_tables"]


class KVCacheOverflowError(ValueError):
    """A prompt or generation does not fit the static KV cache."""


class _RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float, dtype: torch.dtype) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim, dtype=dtype), requires_grad=False)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = _cast(x, torch.float32)
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * _cast(xf, x.dtype)


def _linear(i: int, o: int, dtype: torch.dtype) -> nn.Linear:
    lin = nn.Linear(i, o, bias=False, dtype=dtype)
    lin.weight.requires_grad_(False)
    return lin


class _Attention(nn.Module):
    def __init__(self, hidden: int, n_head: int, n_kv: int, head_dim: int, dtype: torch.dtype) -> None:
        super().__init__()
        self.q_proj = _linear(hidden, n_head * head_dim, dtype)
        self.k_proj = _linear(hidden, n_kv * head_dim, dtype)
        self.v_proj = _linear(hidden, n_kv * head_dim, dtype)
        self.o_proj = _linear(n_head * head_dim, hidden, dtype)


class _MLP(nn.Module):
    def __init__(self, hidden: int, inter: int, dtype: torch.dtype) -> None:
        super().__init__()
        self.gate_proj = _linear(hidden, inter, dtype)
        self.up_proj = _linear(hidden, inter, dtype)
        self.down_proj = _linear(inter, hidden, dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class _Layer(nn.Module):
    def __init__(self, cfg: Any, head_dim: int, dtype: torch.dtype) -> None:
        super().__init__()
        h = cfg.hidden_size
        self.input_layernorm = _RMSNorm(h, cfg.rms_norm_eps, dtype)
        self.self_attn = _Attention(h, cfg.num_attention_heads, cfg.num_key_value_heads, head_dim, dtype)
        self.post_attention_layernorm = _RMSNorm(h, cfg.rms_norm_eps, dtype)
        self.mlp = _MLP(h, cfg.intermediate_size, dtype)


class _Decoder(nn.Module):
    def __init__(self, cfg: Any, head_dim: int, dtype: torch.dtype) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size, dtype=dtype)
        self.embed_tokens.weight.requires_grad_(False)
        self.layers = nn.ModuleList(_Layer(cfg, head_dim, dtype) for _ in range(cfg.num_hidden_layers))
        self.norm = _RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, dtype)


def _rope_theta(cfg: Any) -> float:
    rp = getattr(cfg, "rope_parameters", None)
    if isinstance(rp, dict):
        rtype = rp.get("rope_type", "default")
        if rtype != "default":
            raise NotImplementedError(f"RoPE type {rtype!r} is not supported (only 'default')")
        if "rope_theta" in rp:
            return float(rp["rope_theta"])
    rs = getattr(cfg, "rope_scaling", None)
    if isinstance(rs, dict) and rs.get("rope_type", rs.get("type", "default")) != "default":
        raise NotImplementedError(f"RoPE scaling {rs!r} is not supported")
    return float(getattr(cfg, "rope_theta", 10000.0))


def rope_tables(cfg: Any, max_len: int, head_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """RoPE cos/sin tables [max_len, head_dim] (float32, rotate-half layout) on the current
    default device (a model built under ``torch.device("meta")`` materializes them from here)."""
    theta = _rope_theta(cfg)
    d = head_dim
    inv_freq = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float) / d))
    freqs = torch.arange(max_len, dtype=torch.float)[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)                    # [max_len, D]
    return emb.cos(), emb.sin()


def _cast(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """`x.to(dtype)`, leaving no op in the captured graph when it is already `dtype`."""
    return x if x.dtype == dtype else x.to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class _Compute(nn.Module):
    """The math of prefill and decode; subclasses provide the weights."""

    model: _Decoder
    lm_head: nn.Linear
    rope_cos: torch.Tensor
    rope_sin: torch.Tensor

    def _init_dims(self, cfg: Any, max_len: int) -> None:
        self.n_layers = int(cfg.num_hidden_layers)
        self.n_head = int(cfg.num_attention_heads)
        self.n_kv = int(cfg.num_key_value_heads)
        self.head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads)
        self.max_len = int(max_len)
        self.vocab_size = int(cfg.vocab_size)
        self.scale = self.head_dim ** -0.5
        if self.n_head % self.n_kv:
            raise ValueError(f"num_attention_heads={self.n_head} is not a multiple of "
                             f"num_key_value_heads={self.n_kv}")

    # -- building blocks ---------------------------------------------------------
    def _qkv(self, attn: _Attention, h: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        s = h.shape[1]
        q = attn.q_proj(h).view(s, self.n_head, self.head_dim).transpose(0, 1)   # [H, S, D]
        k = attn.k_proj(h).view(s, self.n_kv, self.head_dim).transpose(0, 1)     # [KVH, S, D]
        v = attn.v_proj(h).view(s, self.n_kv, self.head_dim).transpose(0, 1)     # [KVH, S, D]
        cos = _cast(cos, q.dtype)
        sin = _cast(sin, q.dtype)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        return q, k, v

    def _attend(self, attn: _Attention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """q [H, S, D], k/v [KVH, T, D], mask [S, T] additive -> [1, S, H*D] projected."""
        s, t = q.shape[1], k.shape[1]
        g = self.n_head // self.n_kv
        # The G query heads of a KV head are stacked as rows ([KVH, G*S, D]), so K/V are used
        # as they are: no GQA-expanded copy of the (static, max_len-long) cache.
        qg = q.reshape(self.n_kv, g * s, self.head_dim)
        scores = torch.matmul(qg, k.transpose(1, 2)) * self.scale                # [KVH, G*S, T]
        scores = _cast(scores.reshape(self.n_kv, g, s, t), torch.float32) + mask
        probs = _cast(torch.softmax(scores, dim=-1), q.dtype)
        out = torch.matmul(probs.reshape(self.n_kv, g * s, t), v)               # [KVH, G*S, D]
        out = out.reshape(self.n_head, s, self.head_dim).transpose(0, 1).reshape(1, s, -1)
        return attn.o_proj(out)

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        return self.lm_head(self.model.norm(h)).reshape(1, self.vocab_size)

    def _mask(self, qpos: torch.Tensor, kpos: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        allowed = kpos.unsqueeze(0) <= qpos.unsqueeze(1)
        zero = torch.zeros((), dtype=dtype, device=qpos.device)
        return torch.where(allowed, zero, torch.full((), torch.finfo(dtype).min, dtype=dtype, device=qpos.device))

    # -- entry points ------------------------------------------------------------
    def prefill(self, tokens: torch.Tensor, last: torch.Tensor):
        """tokens int64 [1, S] (S <= max_len), last int64 [1] -> (logits [1, V], k_cache, v_cache)."""
        s = tokens.shape[1]
        if s > self.max_len:
            raise KVCacheOverflowError(f"prefill of {s} tokens does not fit the KV cache of {self.max_len}")
        x = self.model.embed_tokens(tokens)                       # [1, S, E]
        cos = self.rope_cos[:s]
        sin = self.rope_sin[:s]
        pos = torch.arange(s, dtype=torch.int64, device=tokens.device)  # meta for a meta-built model
        mask = self._mask(pos, pos, torch.float32)
        ks, vs = [], []
        for layer in self.model.layers:
            q, k, v = self._qkv(layer.self_attn, layer.input_layernorm(x), cos, sin)
            ks.append(k)
            vs.append(v)
            x = x + self._attend(layer.self_attn, q, k, v, mask)
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        pad = (0, 0, 0, self.max_len - s)
        k_cache = F.pad(torch.stack(ks), pad)                     # [L, KVH, max_len, D]
        v_cache = F.pad(torch.stack(vs), pad)
        logits = self._logits(x.index_select(1, last))
        return logits, k_cache, v_cache

    def decode(self, token: torch.Tensor, pos: torch.Tensor, k_cache: torch.Tensor,
               v_cache: torch.Tensor, span: int | None = None) -> torch.Tensor:
        """token int64 [1, 1], pos int64 [1] -> logits [1, V]; writes K/V at `pos` in place.

        `span` (default max_len): attend to cache positions [0, span) only, so a decode graph
        for a short context reads a short prefix of the static cache. The caller guarantees
        pos < span (a compiled graph cannot check it: later positions would be ignored)."""
        span = self.max_len if span is None else int(span)
        if not 1 <= span <= self.max_len:
            raise ValueError(f"decode: span {span} is outside [1, {self.max_len}]")
        want = (self.n_layers, self.n_kv, self.max_len, self.head_dim)
        for name, c in (("k_cache", k_cache), ("v_cache", v_cache)):
            if tuple(c.shape) != want or not c.is_contiguous():
                raise ValueError(f"decode: {name} must be a contiguous tensor of shape {list(want)}, "
                                 f"got {list(c.shape)}{'' if c.is_contiguous() else ' (non-contiguous)'}")
        x = self.model.embed_tokens(token)                        # [1, 1, E]
        cos = self.rope_cos.index_select(0, pos)                  # [1, D]
        sin = self.rope_sin.index_select(0, pos)
        kpos = torch.arange(span, dtype=torch.int64, device=pos.device)
        mask = self._mask(pos, kpos, torch.float32)               # [1, span]
        # One index_put per cache and layer, `cache[layer, :, pos] = kv` on the whole cache
        # (not a per-layer select): the frontend turns it into one strided insert_slice that
        # bufferizes in place (a per-head row update would make KVH inserts per layer,
        # which one-shot bufferization does not scale to at 7B: 2048 inserts).
        for i, layer in enumerate(self.model.layers):
            q, k, v = self._qkv(layer.self_attn, layer.input_layernorm(x), cos, sin)
            li = torch.full((1,), i, dtype=torch.int64, device=pos.device)
            k_cache[li, :, pos] = k.reshape(self.n_kv, self.head_dim)
            v_cache[li, :, pos] = v.reshape(self.n_kv, self.head_dim)
            x = x + self._attend(layer.self_attn, q, k_cache[i, :, :span], v_cache[i, :, :span], mask)
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        return self._logits(x)

    def new_cache(self) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (self.n_layers, self.n_kv, self.max_len, self.head_dim)
        w = self.model.norm.weight  # float even when the linear layers and the embedding are quantized
        return (torch.zeros(shape, dtype=w.dtype, device=w.device),
                torch.zeros(shape, dtype=w.dtype, device=w.device))


class LlamaStatic(_Compute):
    """LLaMA with a static KV cache of `max_len` positions; weights in HF naming."""

    def __init__(self, config: Any, max_len: int, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self._init_dims(config, max_len)
        self.config = config
        self.model = _Decoder(config, self.head_dim, dtype)
        self.lm_head = _linear(config.hidden_size, config.vocab_size, dtype)
        if getattr(config, "tie_word_embeddings", False):
            self.lm_head.weight = self.model.embed_tokens.weight
        cos, sin = rope_tables(config, self.max_len, self.head_dim)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.eval()

    @classmethod
    def from_state_dict(cls, config: Any, state: Mapping[str, torch.Tensor], max_len: int,
                        dtype: torch.dtype = torch.float32,
                        quantized: Mapping[str, Any] | None = None) -> "LlamaStatic":
        """Build from a HF-named state dict (as returned by either loader). `quantized` maps
        linear module names (``model.layers.0.mlp.up_proj``, ``lm_head``) and, optionally,
        ``model.embed_tokens`` to block-quantized planes (`buddy.quant.QuantPlanes`): those
        modules become `buddy.quant.QuantLinear` (float32 activations only) or
        `buddy.quant.QuantEmbedding` and take no ``.weight`` from `state`. When the LM head's
        planes are the embedding's (a tied table), both modules share one set of buffers.
        The model is built on the meta device and takes `state`'s tensors themselves (converted
        to `dtype`, so not copied when they have it already): no float copy of a quantized
        layer is ever allocated."""
        with torch.device("meta"):  # no float copy of the weights: a 7B Q4_0 file would need 27 GB
            m = cls(config, max_len, dtype)
        if quantized:
            if dtype != torch.float32:
                raise ValueError(f"quantized linear layers compute in float32, not {dtype}: "
                                 f"dequantize the weights to use {dtype}")
            m._quantize(quantized)
        # the quantized layers' planes are loaded already (_quantize)
        own = {k: t for k, t in m.state_dict().items() if k.rpartition(".")[0] not in (quantized or {})}
        missing = [k for k in own if k not in state]
        if missing:
            raise KeyError(f"weights missing from the checkpoint: {missing[:5]}"
                           f"{' ...' if len(missing) > 5 else ''}")
        for name, t in own.items():
            src = state[name]
            if tuple(src.shape) != tuple(t.shape):
                raise ValueError(f"weight {name}: checkpoint shape {tuple(src.shape)} "
                                 f"!= model shape {tuple(t.shape)}")
        m.load_state_dict({k: state[k].detach().to(dtype) for k in own}, strict=False, assign=True)
        m._materialize(config)
        return m

    def _materialize(self, config: Any) -> None:
        """After a meta-device build and `load_state_dict(assign=True)`: tie the LM head to the
        embedding again (assign replaced both parameters) and compute the RoPE tables."""
        if getattr(config, "tie_word_embeddings", False) and isinstance(self.lm_head, nn.Linear) \
                and isinstance(self.model.embed_tokens, nn.Embedding):
            self.lm_head.weight = self.model.embed_tokens.weight
        self.rope_cos, self.rope_sin = rope_tables(config, self.max_len, self.head_dim)
        left = [n for n, t in [*self.named_parameters(), *self.named_buffers()] if t.is_meta]
        if left:
            raise RuntimeError(f"LlamaStatic: {left[:3]} still on the meta device after loading")

    def _quantize(self, planes: Mapping[str, Any]) -> None:
        from buddy.quant import QuantEmbedding, QuantLinear

        emb = planes.get("model.embed_tokens")
        for name, p in planes.items():
            if name == "model.embed_tokens":
                continue
            parent_name, _, child = name.rpartition(".")
            parent = self.get_submodule(parent_name) if parent_name else self
            old = getattr(parent, child, None)
            if not isinstance(old, nn.Linear) or (old.out_features, old.in_features) != tuple(p.shape):
                raise ValueError(f"quantized weight {name!r} {p.fmt} {list(p.shape)} does not fit the "
                                 f"model's layer {old!r}")
            setattr(parent, child, QuantLinear.from_planes(p, name=f"{name}.weight"))
        if emb is not None:
            old = self.model.embed_tokens
            if not isinstance(old, nn.Embedding) or (old.num_embeddings, old.embedding_dim) != tuple(emb.shape):
                raise ValueError(f"quantized embedding {emb.fmt} {list(emb.shape)} does not fit the model's "
                                 f"table {old!r}")
            if planes.get("lm_head") is emb and isinstance(self.lm_head, QuantLinear):
                self.model.embed_tokens = QuantEmbedding.tied(self.lm_head)  # one table in memory and on disk
            else:
                self.model.embed_tokens = QuantEmbedding.from_planes(emb, name="model.embed_tokens.weight")

    @classmethod
    def from_gguf(cls, path: str, max_len: int, dtype: torch.dtype | None = None) -> "LlamaStatic":
        """`dtype` None (default): linear weights and the embedding stored in a block type of buddy.quant.GGUF_TYPES stay
        block-quantized (`buddy.quant.QuantLinear`/`QuantEmbedding`, float32 activations),
        everything else float32; a dtype
        (float32, bfloat16) dequantizes every weight to it."""
        from .gguf_loader import load_gguf
        quantized = dtype is None
        dtype = torch.float32 if dtype is None else dtype
        g = load_gguf(path, dtype, quantized=quantized)
        return cls.from_state_dict(g.config, g.state_dict, max_len, dtype, quantized=g.quantized)

    @classmethod
    def from_hf_dir(cls, path: str, max_len: int, dtype: torch.dtype = torch.float32) -> "LlamaStatic":
        from .hf_loader import load_hf_dir
        h = load_hf_dir(path, dtype)
        return cls.from_state_dict(h.config, h.state_dict, max_len, dtype)

    def forward(self, tokens: torch.Tensor, last: torch.Tensor):  # pragma: no cover - alias
        return self.prefill(tokens, last)


class _View(_Compute):
    """Shares `llm`'s parameters and buffers under the same names."""

    def __init__(self, llm: LlamaStatic) -> None:
        super().__init__()
        self._init_dims(llm.config, llm.max_len)
        self.model = llm.model
        self.lm_head = llm.lm_head
        self.register_buffer("rope_cos", llm.rope_cos, persistent=False)
        self.register_buffer("rope_sin", llm.rope_sin, persistent=False)
        self.eval()


class PrefillGraph(_View):
    def forward(self, tokens: torch.Tensor, last: torch.Tensor):
        return self.prefill(tokens, last)


class DecodeGraph(_View):
    """One decode step attending to the first `span` cache positions (default: all)."""

    def __init__(self, llm: LlamaStatic, span: int | None = None) -> None:
        super().__init__(llm)
        self.span = self.max_len if span is None else int(span)

    def forward(self, token: torch.Tensor, pos: torch.Tensor, k_cache: torch.Tensor,
                v_cache: torch.Tensor) -> torch.Tensor:
        return self.decode(token, pos, k_cache, v_cache, self.span)
