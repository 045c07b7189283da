"""Block-quantized linear layers (GGUF Q8_0, Q4_0, Q4_1, Q5_0, Q4_K, Q6_K) that Buddy compiles without dequantizing.

A quantized weight `W[N, K]` is held as *planes* (docs/quantization.md), repacked once from
GGUF's interleaved blocks of 32 weights:

* ``qweight``: int8. Q8_0: ``[N, K]``, the stored int8 q (``w = d * q``). Q4_0 / Q4_1:
  ``[N, K/2]``, GGUF's own nibble bytes (byte ``j`` of block ``g`` holds element ``32 g + j``
  in its low and ``32 g + 16 + j`` in its high nibble; ``w = d * (nibble - 8)`` for Q4_0,
  ``w = d * nibble + m`` for Q4_1);
* ``scales``: float32 ``[N, K/32]`` (GGUF's f16 ``d``, exactly widened);
* ``mins``: float32 ``[N, K/32]``, Q4_1 only.

Two more GGUF types are repacked exactly into these (`GGUF_TYPES`): Q4_K into Q4_1 planes,
and Q6_K into ``Q8_16`` planes (int8 q ``[N, K]``, one f32 scale per 16 weights ``[N, K/16]``).
`FORMATS` is the table of plane formats (block, packing, offset, mins) everything reads.

`QuantLinear` holds them as buffers named ``<module>.qweight/.scales/.mins`` and calls the
custom op ``torch.ops.buddy.quant_linear(x, qweight, scales, mins, fmt)``, whose eager kernel
is dequantize + matmul (so the eager model runs and tests compare against it). The frontend
lowers the op to one `linalg.generic` that ``buddy-opt --buddy-quant-matmul-vectorize`` turns
into Vector-dialect kernels.

`QuantEmbedding` is the lookup table in the same planes, through
``torch.ops.buddy.quant_embedding(ids, qweight, scales, mins, fmt)`` (eager and compiled:
dequantize only the rows looked up). `QuantEmbedding.tied(linear)` shares a `QuantLinear`'s
buffers, so a tied embedding and LM head are one quantized table in the weight file.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch import nn

__all__ = ["BLOCK", "FORMATS", "GGUF_TYPES", "PlaneFormat", "block_of", "QuantFormatError", "QuantPlanes", "QuantLinear", "QuantEmbedding", "packed",
           "qweight_shape", "planes_from_gguf", "unpack_quants", "dequantize_planes", "quant_linear",
           "quant_embedding"]

BLOCK = 32  # weights per scale of the 32-block plane formats (Q8_16: 16, see FORMATS)


@dataclass(frozen=True)
class PlaneFormat:
    """How a plane format holds W: `block` weights share a scale (and min); `packed`: two 4-bit
    weights per byte (GGUF's order within a block); q = stored value - `offset`; `mins`: a
    per-block additive min plane."""
    block: int
    packed: bool
    offset: int
    mins: bool


# Plane formats: what QuantLinear, the frontend and the kernels take (docs/quantization.md).
FORMATS = {"Q8_0": PlaneFormat(32, False, 0, False), "Q4_0": PlaneFormat(32, True, 8, False),
           "Q4_1": PlaneFormat(32, True, 0, True), "Q8_16": PlaneFormat(16, False, 0, False)}
# GGUF block types `planes_from_gguf` reads: (weights per block, bytes per block, plane
# format). Q4_K super-blocks (256 weights: f16 d, dmin, 12 bytes of 6-bit sub-block scales and
# mins, 128 nibble bytes) are repacked exactly into Q4_1 planes (`_q4_k_planes`); Q6_K ones
# (128 bytes of low nibbles, 64 of 2-bit highs, 16 int8 sub-block scales, f16 d) into Q8_16
# planes (`_q6_k_planes`). Q5_0 blocks (f16 d, 32 high bits, 16 nibble bytes) into Q8_0
# planes (`_q5_0_planes`): llama-quantize's Q4_K_M falls back to Q5_0 for rows whose length is
# not a multiple of 256 (all but SmolLM2's ffn_down).
GGUF_TYPES = {"Q8_0": (32, 34, "Q8_0"), "Q4_0": (32, 18, "Q4_0"), "Q4_1": (32, 20, "Q4_1"),
              "Q5_0": (32, 22, "Q8_0"), "Q4_K": (256, 144, "Q4_1"), "Q6_K": (256, 210, "Q8_16")}


class QuantFormatError(ValueError):
    """A weight cannot be held in (or read from) quantized planes: names the tensor and shape."""


@dataclass(frozen=True)
class QuantPlanes:
    fmt: str
    qweight: np.ndarray          # int8 [N, K] (Q8_0) or packed nibbles [N, K/2] (Q4_0, Q4_1)
    scales: np.ndarray           # float32 [N, K/32]
    mins: Optional[np.ndarray]   # float32 [N, K/32] (Q4_1) or None

    @property
    def shape(self) -> tuple[int, int]:
        """[N, K] of the weight."""
        return (int(self.scales.shape[0]), int(self.scales.shape[1]) * FORMATS[self.fmt].block)

    def take_rows(self, rows: np.ndarray) -> "QuantPlanes":
        """The planes of W[rows] (blocks run along K, so a row permutation keeps them whole)."""
        return QuantPlanes(self.fmt, self.qweight[rows], self.scales[rows],
                           None if self.mins is None else self.mins[rows])


def packed(fmt: str) -> bool:
    """Whether `fmt`'s qweight holds two 4-bit weights per byte ([N, K/2])."""
    return FORMATS[fmt].packed


def block_of(fmt: str) -> int:
    """Weights per scale of plane format `fmt`."""
    return FORMATS[fmt].block


def qweight_shape(fmt: str, n: int, k: int) -> tuple[int, int]:
    return (n, k // 2) if packed(fmt) else (n, k)


def _check_k(name: str, shape: tuple[int, ...], block: int = BLOCK) -> None:
    if len(shape) != 2:
        raise QuantFormatError(f"quantized weight {name!r}: shape {list(shape)} is not 2-D [N, K]")
    if shape[1] % block or shape[1] == 0:
        raise QuantFormatError(f"quantized weight {name!r}: shape {list(shape)}: K = {shape[1]} is not a "
                               f"positive multiple of the block size {block}")


def _check_fmt(fmt: str, name: str) -> None:
    if fmt not in FORMATS:
        raise QuantFormatError(f"tensor {name!r} uses quantization type {fmt}, which Buddy cannot keep "
                               f"quantized (supported: {', '.join(FORMATS)})")


def _f16(raw: np.ndarray) -> np.ndarray:
    """[..., 2] bytes as float16, widened (exactly) to float32 [...]."""
    return np.ascontiguousarray(raw).view(np.float16)[..., 0].astype(np.float32)


def _q6_k_planes(blocks: np.ndarray, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Q6_K super-blocks [N, K/256, 210] as Q8_16 planes (qweight, scales), exactly.

    A super-block holds 16 sub-blocks of 16 weights, w = (d * sc_j) * q with int8 sc_j and
    6-bit q - 32: per sub-block scale = d * sc_j (exact in float32: 11 bits times 8) and the
    int8 q. In each half of 128 weights, weight l + 32 i (l < 32, i < 4) takes its low 4 bits
    from byte l (i even) or l + 32 (i odd) of the half's 64 ql bytes, nibble i // 2, and its
    high 2 bits from bits 2 i of byte l of the half's 32 qh bytes."""
    g = k // 256
    ql = blocks[:, :, 0:128].reshape(n, g, 2, 2, 32)          # half, byte group (l, l + 32), l
    qh = blocks[:, :, 128:192].reshape(n, g, 2, 1, 32)
    lo = np.stack([ql[:, :, :, 0] & 0x0F, ql[:, :, :, 1] & 0x0F, ql[:, :, :, 0] >> 4, ql[:, :, :, 1] >> 4],
                  axis=3)                                       # [n, g, half, i, l]
    hi = (qh >> (2 * np.arange(4, dtype=np.uint8)).reshape(1, 1, 1, 4, 1)) & 0x03
    q = ((lo | (hi << 4)).astype(np.int16) - 32).astype(np.int8).reshape(n, k)
    sc = blocks[:, :, 192:208].view(np.int8).astype(np.float32)  # [n, g, 16]
    d = _f16(blocks[:, :, 208:210])
    return q, (d[..., None] * sc).reshape(n, k // 16)


def _q5_0_planes(blocks: np.ndarray, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Q5_0 blocks [N, K/32, 22] as Q8_0 planes (qweight, scales), exactly: w = d * (q - 16)
    with 5-bit q, and q - 16 in [-16, 15] is an int8. Weight j < 16 takes the low nibble of
    byte j, weight 16 + j its high nibble; weight i's fifth bit is bit i of the little-endian
    32-bit qh."""
    d = _f16(blocks[:, :, 0:2])
    qh = np.ascontiguousarray(blocks[:, :, 2:6]).view("<u4")                # [n, g, 1]
    qs = blocks[:, :, 6:22]
    lo = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.int16)     # [n, g, 32]
    hi = ((qh >> np.arange(32, dtype=np.uint32)) & 1).astype(np.int16)     # [n, g, 32]
    q = (lo | (hi << 4)) - 16
    return q.astype(np.int8).reshape(n, k), d


def _q4_k_planes(blocks: np.ndarray, n: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Q4_K super-blocks [N, K/256, 144] as Q4_1 planes (qweight, scales, mins), exactly.

    A super-block holds 8 sub-blocks of 32 weights, w = (d * sc_j) * q - dmin * m_j with 6-bit
    sc_j, m_j: per sub-block that is Q4_1's w = scale * q + min with scale = d * sc_j and
    min = -(dmin * m_j), both exact in float32 (11-bit f16 mantissa times 6 bits). The nibbles
    are regrouped: Q4_K's 32 bytes of each 64 weights hold weight l in the low and 32 + l in
    the high nibble of byte l; a Q4_1 block of 32 holds weight j in the low and 16 + j in the
    high nibble of byte j."""
    d, dmin = _f16(blocks[:, :, 0:2]), _f16(blocks[:, :, 2:4])
    sb = blocks[:, :, 4:16].reshape(n, -1, 3, 4)      # 12 scale bytes: rows a, b, c of 4
    a, b, c = sb[:, :, 0], sb[:, :, 1], sb[:, :, 2]
    sc = np.concatenate([a & 0x3F, (c & 0x0F) | ((a >> 2) & 0x30)], axis=-1).astype(np.float32)
    mn = np.concatenate([b & 0x3F, (c >> 4) | ((b >> 2) & 0x30)], axis=-1).astype(np.float32)
    scales = (d[..., None] * sc).reshape(n, k // 32)
    mins = (-(dmin[..., None] * mn)).reshape(n, k // 32)
    qs = blocks[:, :, 16:].reshape(n, -1, 4, 32)       # 4 chunks of 64 weights per super-block
    subs = np.stack([qs & 0x0F, qs >> 4], axis=3)      # [n, g, chunk, sub-block, 32 nibbles]
    q1 = subs[..., :16] | (subs[..., 16:] << 4)        # Q4_1 bytes: element j low, 16 + j high
    return q1.reshape(n, k // 2).view(np.int8), scales, mins


def planes_from_gguf(fmt: str, data: np.ndarray, shape: tuple[int, int], name: str = "weight") -> QuantPlanes:
    """Repack GGUF block data of a `shape` = [N, K] (NumPy order) tensor into planes
    (`fmt`: a GGUF_TYPES key; Q4_K becomes Q4_1 planes, Q6_K Q8_16 planes)."""
    if fmt not in GGUF_TYPES:
        raise QuantFormatError(f"tensor {name!r} uses quantization type {fmt}, which Buddy cannot keep "
                               f"quantized (supported: {', '.join(GGUF_TYPES)})")
    per, nbytes, plane_fmt = GGUF_TYPES[fmt]
    _check_k(name, tuple(shape), per)
    n, k = (int(d) for d in shape)
    g = k // per
    raw = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
    if raw.size != n * g * nbytes:
        raise QuantFormatError(f"{fmt} tensor {name!r} of shape {[n, k]} has {raw.size} bytes, "
                               f"expected {n * g * nbytes}")
    blocks = raw.reshape(n, g, nbytes)
    mins = None
    if fmt == "Q4_K":
        q, d, mins = _q4_k_planes(blocks, n, k)
    elif fmt == "Q6_K":
        q, d = _q6_k_planes(blocks, n, k)
    elif fmt == "Q5_0":
        q, d = _q5_0_planes(blocks, n, k)
    elif fmt == "Q8_0":
        d = _f16(blocks[:, :, 0:2])
        q = np.ascontiguousarray(blocks[:, :, 2:]).view(np.int8).reshape(n, k)
    else:  # Q4_0 / Q4_1: the nibble bytes as they are, 16 per block
        d = _f16(blocks[:, :, 0:2])
        start = 2 if fmt == "Q4_0" else 4
        q = np.ascontiguousarray(blocks[:, :, start:start + 16]).view(np.int8).reshape(n, k // 2)
        if fmt == "Q4_1":
            mins = _f16(blocks[:, :, 2:4])
    for what, a in (("scales", d), ("mins", mins)):
        if a is not None and not np.isfinite(a).all():
            raise QuantFormatError(f"{fmt} tensor {name!r}: {int((~np.isfinite(a)).sum())} NaN/Inf {what} "
                                   f"of {a.size}: the file is damaged")
    return QuantPlanes(plane_fmt, np.ascontiguousarray(q), np.ascontiguousarray(d),
                       None if mins is None else np.ascontiguousarray(mins))


def unpack_quants(fmt: str, qweight: torch.Tensor) -> torch.Tensor:
    """The per-weight integer q [N, K] as float32 (Q4_0's nibbles minus 8)."""
    if not packed(fmt):
        return qweight.to(torch.float32)
    n, kh = qweight.shape
    b = qweight.view(torch.uint8).to(torch.int32).reshape(n, kh // 16, 16)
    q = torch.cat([b & 0x0F, b >> 4], dim=2).reshape(n, kh * 2)
    return (q - FORMATS[fmt].offset).to(torch.float32)


def dequantize_planes(qweight: torch.Tensor, scales: torch.Tensor, mins: Optional[torch.Tensor],
                      fmt: str) -> torch.Tensor:
    """W = scales * q (+ mins), broadcast per block (of 32; Q8_16: 16) along K: float32 [N, K]."""
    n, g = scales.shape
    b = block_of(fmt)
    w = unpack_quants(fmt, qweight).reshape(n, g, b) * scales.unsqueeze(-1)
    if mins is not None:
        w = w + mins.unsqueeze(-1)
    return w.reshape(n, g * b)


def _check_planes(op: str, qweight: torch.Tensor, scales: torch.Tensor, mins: Optional[torch.Tensor],
                  fmt: str, k: int) -> int:
    """N of a `fmt` weight [N, k] held in these planes; QuantFormatError naming `op` otherwise."""
    _check_fmt(fmt, "qweight")
    n = int(qweight.shape[0]) if qweight.dim() == 2 else -1
    _check_k("qweight", (n, k), block_of(fmt))
    want_q = list(qweight_shape(fmt, n, k))
    if qweight.dim() != 2 or qweight.dtype != torch.int8 or list(qweight.shape) != want_q:
        raise QuantFormatError(f"{op}: {fmt} qweight for K = {k} must be int8 {want_q}, "
                               f"got {qweight.dtype} {list(qweight.shape)}")
    want = [n, k // block_of(fmt)]
    if (mins is not None) != FORMATS[fmt].mins:
        raise QuantFormatError(f"{op}: {fmt} {'needs' if FORMATS[fmt].mins else 'takes no'} mins")
    for what, t in (("scales", scales), ("mins", mins)):
        if t is not None and (list(t.shape) != want or t.dtype != torch.float32):
            raise QuantFormatError(f"{op}: {what} must be float32 {want} for a [{n}, {k}] weight, "
                                   f"got {t.dtype} {list(t.shape)}")
    return n


def _check_op(x: torch.Tensor, qweight: torch.Tensor, scales: torch.Tensor, mins: Optional[torch.Tensor],
              fmt: str) -> None:
    _check_fmt(fmt, "qweight")
    if x.dtype != torch.float32 or x.dim() < 1:
        raise QuantFormatError(f"quant_linear: input must be float32 [..., K], got {x.dtype} {list(x.shape)}")
    _check_planes("quant_linear", qweight, scales, mins, fmt, int(x.shape[-1]))


def _embedding_k(scales: torch.Tensor, fmt: str) -> int:
    _check_fmt(fmt, "qweight")
    b = block_of(fmt)
    if scales.dim() != 2:
        raise QuantFormatError(f"quant_embedding: scales must be float32 [N, K/{b}], got {list(scales.shape)}")
    return int(scales.shape[1]) * b


def _check_ids(ids: torch.Tensor) -> None:
    if ids.dtype not in (torch.int64, torch.int32):
        raise QuantFormatError(f"quant_embedding: indices must be int64 or int32, got {ids.dtype}")


@torch.library.custom_op("buddy::quant_linear", mutates_args=())
def quant_linear(x: torch.Tensor, qweight: torch.Tensor, scales: torch.Tensor,
                 mins: Optional[torch.Tensor], fmt: str) -> torch.Tensor:
    """x[..., K] @ W^T with W given as `fmt` planes (eager: dequantize, then matmul)."""
    _check_op(x, qweight, scales, mins, fmt)
    return torch.nn.functional.linear(x, dequantize_planes(qweight, scales, mins, fmt))


@quant_linear.register_fake
def _quant_linear_fake(x: torch.Tensor, qweight: torch.Tensor, scales: torch.Tensor,
                       mins: Optional[torch.Tensor], fmt: str) -> torch.Tensor:
    _check_op(x, qweight, scales, mins, fmt)
    return x.new_empty((*x.shape[:-1], qweight.shape[0]))


@torch.library.custom_op("buddy::quant_embedding", mutates_args=())
def quant_embedding(ids: torch.Tensor, qweight: torch.Tensor, scales: torch.Tensor,
                    mins: Optional[torch.Tensor], fmt: str) -> torch.Tensor:
    """W[ids] with W given as `fmt` planes: float32 [*ids.shape, K]; only the rows looked up are
    dequantized. An id outside [0, N) is an IndexError naming it, as for nn.Embedding."""
    _check_ids(ids)
    n = _check_planes("quant_embedding", qweight, scales, mins, fmt, _embedding_k(scales, fmt))
    flat = ids.reshape(-1).to(torch.int64)
    bad = (flat < 0) | (flat >= n)
    if bool(bad.any()):
        raise IndexError(f"quant_embedding: index {int(flat[bad][0])} is out of range for a table of {n} rows")
    w = dequantize_planes(qweight[flat], scales[flat], None if mins is None else mins[flat], fmt)
    return w.reshape(*ids.shape, w.shape[-1])


@quant_embedding.register_fake
def _quant_embedding_fake(ids: torch.Tensor, qweight: torch.Tensor, scales: torch.Tensor,
                          mins: Optional[torch.Tensor], fmt: str) -> torch.Tensor:
    _check_ids(ids)
    k = _embedding_k(scales, fmt)
    _check_planes("quant_embedding", qweight, scales, mins, fmt, k)
    return scales.new_empty((*ids.shape, k))


def _register_planes(m: nn.Module, n: int, k: int, fmt: str, device: Optional[torch.device] = None) -> None:
    """Zero buffers qweight / scales (/ mins for Q4_1) of a `fmt` weight [n, k] on module `m`."""
    g = k // block_of(fmt)
    m.register_buffer("qweight", torch.zeros(qweight_shape(fmt, n, k), dtype=torch.int8, device=device))
    m.register_buffer("scales", torch.zeros(n, g, dtype=torch.float32, device=device))
    if FORMATS[fmt].mins:
        m.register_buffer("mins", torch.zeros(n, g, dtype=torch.float32, device=device))
    else:
        m.mins = None


def _copy_planes(m: nn.Module, p: QuantPlanes) -> None:
    with torch.no_grad():
        m.qweight.copy_(torch.from_numpy(p.qweight))
        m.scales.copy_(torch.from_numpy(p.scales))
        if m.mins is not None:
            assert p.mins is not None
            m.mins.copy_(torch.from_numpy(p.mins))


class QuantLinear(nn.Module):
    """`nn.Linear(in_features, out_features, bias=False)` with a block-quantized weight."""

    def __init__(self, in_features: int, out_features: int, fmt: str, device: Optional[torch.device] = None,
                 name: str = "weight") -> None:
        super().__init__()
        _check_fmt(fmt, name)
        _check_k(name, (out_features, in_features), block_of(fmt))
        self.in_features, self.out_features, self.fmt = int(in_features), int(out_features), fmt
        self.mins: Optional[torch.Tensor]
        _register_planes(self, self.out_features, self.in_features, fmt, device)

    @classmethod
    def from_planes(cls, p: QuantPlanes, name: str = "weight") -> "QuantLinear":
        n, k = p.shape
        m = cls(k, n, p.fmt, name=name)
        m.load_planes(p)
        return m

    def load_planes(self, p: QuantPlanes) -> None:
        if p.fmt != self.fmt or p.shape != (self.out_features, self.in_features):
            raise QuantFormatError(f"planes {p.fmt} {list(p.shape)} do not fit QuantLinear {self.fmt} "
                                   f"[{self.out_features}, {self.in_features}]")
        _copy_planes(self, p)

    def dequantized_weight(self) -> torch.Tensor:
        return dequantize_planes(self.qweight, self.scales, self.mins, self.fmt)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.buddy.quant_linear(x, self.qweight, self.scales, self.mins, self.fmt)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, fmt={self.fmt}"


class QuantEmbedding(nn.Module):
    """`nn.Embedding(num_embeddings, embedding_dim)` whose table is block-quantized planes."""

    def __init__(self, num_embeddings: int, embedding_dim: int, fmt: str, name: str = "weight") -> None:
        super().__init__()
        _check_fmt(fmt, name)
        _check_k(name, (num_embeddings, embedding_dim), block_of(fmt))
        self.num_embeddings, self.embedding_dim, self.fmt = int(num_embeddings), int(embedding_dim), fmt
        self.mins: Optional[torch.Tensor]
        _register_planes(self, self.num_embeddings, self.embedding_dim, fmt)

    @classmethod
    def tied(cls, linear: QuantLinear) -> "QuantEmbedding":
        """The lookup table of `linear`'s weight [N, K] (N rows of K): the same buffer tensors, so
        the weight file (and memory) holds them once."""
        m = cls.__new__(cls)
        nn.Module.__init__(m)
        m.num_embeddings, m.embedding_dim, m.fmt = linear.out_features, linear.in_features, linear.fmt
        m.register_buffer("qweight", linear.qweight)
        m.register_buffer("scales", linear.scales)
        if linear.mins is not None:
            m.register_buffer("mins", linear.mins)
        else:
            m.mins = None
        return m

    @classmethod
    def from_planes(cls, p: QuantPlanes, name: str = "weight") -> "QuantEmbedding":
        n, k = p.shape
        m = cls(n, k, p.fmt, name=name)
        _copy_planes(m, p)
        return m

    @property
    def weight(self) -> torch.Tensor:
        """The dequantized table (float32 [N, K]), built on each access: for reference and tests."""
        return dequantize_planes(self.qweight, self.scales, self.mins, self.fmt)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.ops.buddy.quant_embedding(ids, self.qweight, self.scales, self.mins, self.fmt)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, fmt={self.fmt}"
