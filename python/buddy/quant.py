"""Block-quantized linear layers (GGUF Q8_0, Q4_0, Q4_1) that Buddy compiles without dequantizing.

A quantized weight `W[N, K]` is held as *planes* (docs/quantization.md), repacked once from
GGUF's interleaved blocks of 32 weights:

* ``qweight``: int8 ``[N, K]``, one byte per weight: Q8_0 the stored int8, Q4_0 the nibble
  minus 8 (so ``w = d * q`` for both), Q4_1 the nibble in ``[0, 15]``;
* ``scales``: float32 ``[N, K/32]`` (GGUF's f16 ``d``, exactly widened);
* ``mins``: float32 ``[N, K/32]``, Q4_1 only (``w = d * q + m``).

`QuantLinear` holds them as buffers named ``<module>.qweight/.scales/.mins`` (the names, with
the int8/f32 dtypes, are the format in the weight file) and calls the custom op
``torch.ops.buddy.quant_linear``, whose eager kernel is dequantize + matmul (so the eager model
runs and tests compare against it). The frontend lowers the op to one `linalg.generic` that
``buddy-opt --buddy-quant-matmul-vectorize`` turns into Vector-dialect kernels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch import nn

__all__ = ["BLOCK", "FORMATS", "QuantFormatError", "QuantPlanes", "QuantLinear",
           "planes_from_gguf", "dequantize_planes", "quant_linear"]

BLOCK = 32
# GGUF block layouts this module repacks: bytes per block of 32 weights.
FORMATS = {"Q8_0": 34, "Q4_0": 18, "Q4_1": 20}


class QuantFormatError(ValueError):
    """A weight cannot be held in (or read from) quantized planes: names the tensor and shape."""


@dataclass(frozen=True)
class QuantPlanes:
    fmt: str
    qweight: np.ndarray          # int8 [N, K]
    scales: np.ndarray           # float32 [N, K/32]
    mins: Optional[np.ndarray]   # float32 [N, K/32] (Q4_1) or None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.qweight.shape)  # type: ignore[return-value]

    def take_rows(self, rows: np.ndarray) -> "QuantPlanes":
        """The planes of W[rows] (blocks run along K, so a row permutation keeps them whole)."""
        return QuantPlanes(self.fmt, self.qweight[rows], self.scales[rows],
                           None if self.mins is None else self.mins[rows])


def _check_k(name: str, shape: tuple[int, ...]) -> None:
    if len(shape) != 2:
        raise QuantFormatError(f"quantized weight {name!r}: shape {list(shape)} is not 2-D [N, K]")
    if shape[1] % BLOCK or shape[1] == 0:
        raise QuantFormatError(f"quantized weight {name!r}: shape {list(shape)}: K = {shape[1]} is not a "
                               f"positive multiple of the block size {BLOCK}")


def planes_from_gguf(fmt: str, data: np.ndarray, shape: tuple[int, int], name: str = "weight") -> QuantPlanes:
    """Repack GGUF block data of a `shape` = [N, K] (NumPy order) tensor into planes."""
    if fmt not in FORMATS:
        raise QuantFormatError(f"tensor {name!r} uses quantization type {fmt}, which Buddy cannot keep "
                               f"quantized (supported: {', '.join(FORMATS)})")
    _check_k(name, tuple(shape))
    n, k = (int(d) for d in shape)
    g = k // BLOCK
    nbytes = FORMATS[fmt]
    raw = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
    if raw.size != n * g * nbytes:
        raise QuantFormatError(f"{fmt} tensor {name!r} of shape {[n, k]} has {raw.size} bytes, "
                               f"expected {n * g * nbytes}")
    blocks = raw.reshape(n, g, nbytes)
    d = np.ascontiguousarray(blocks[:, :, 0:2]).view(np.float16)[..., 0].astype(np.float32)
    mins = None
    if fmt == "Q8_0":
        q = np.ascontiguousarray(blocks[:, :, 2:]).view(np.int8)
    else:
        start = 2 if fmt == "Q4_0" else 4
        qs = blocks[:, :, start:start + 16]
        # element j < 16 of a block is the low nibble of byte j, element j + 16 the high one
        nib = np.concatenate([qs & 0x0F, qs >> 4], axis=2).astype(np.int8)
        q = nib - np.int8(8) if fmt == "Q4_0" else nib
        if fmt == "Q4_1":
            mins = np.ascontiguousarray(blocks[:, :, 2:4]).view(np.float16)[..., 0].astype(np.float32)
    for what, a in (("scales", d), ("mins", mins)):
        if a is not None and not np.isfinite(a).all():
            raise QuantFormatError(f"{fmt} tensor {name!r}: {int((~np.isfinite(a)).sum())} NaN/Inf {what} "
                                   f"of {a.size}: the file is damaged")
    return QuantPlanes(fmt, np.ascontiguousarray(q.reshape(n, k)), np.ascontiguousarray(d),
                       None if mins is None else np.ascontiguousarray(mins))


def dequantize_planes(qweight: torch.Tensor, scales: torch.Tensor, mins: Optional[torch.Tensor]) -> torch.Tensor:
    """W = scales * qweight (+ mins), broadcast per block of 32 along K: float32 [N, K]."""
    n, k = qweight.shape
    w = qweight.to(torch.float32).reshape(n, k // BLOCK, BLOCK) * scales.unsqueeze(-1)
    if mins is not None:
        w = w + mins.unsqueeze(-1)
    return w.reshape(n, k)


def _check_op(x: torch.Tensor, qweight: torch.Tensor, scales: torch.Tensor, mins: Optional[torch.Tensor]) -> None:
    if qweight.dim() != 2 or qweight.dtype != torch.int8:
        raise QuantFormatError(f"quant_linear: qweight must be int8 [N, K], got {qweight.dtype} {list(qweight.shape)}")
    n, k = qweight.shape
    _check_k("qweight", (n, k))
    want = [n, k // BLOCK]
    for what, t in (("scales", scales), ("mins", mins)):
        if t is not None and (list(t.shape) != want or t.dtype != torch.float32):
            raise QuantFormatError(f"quant_linear: {what} must be float32 {want} for qweight {[n, k]}, "
                                   f"got {t.dtype} {list(t.shape)}")
    if x.dtype != torch.float32 or x.dim() < 1 or x.shape[-1] != k:
        raise QuantFormatError(f"quant_linear: input must be float32 [..., {k}], got {x.dtype} {list(x.shape)}")


@torch.library.custom_op("buddy::quant_linear", mutates_args=())
def quant_linear(x: torch.Tensor, qweight: torch.Tensor, scales: torch.Tensor,
                 mins: Optional[torch.Tensor] = None) -> torch.Tensor:
    """x[..., K] @ W^T with W given as quantized planes (eager: dequantize, then matmul)."""
    _check_op(x, qweight, scales, mins)
    return torch.nn.functional.linear(x, dequantize_planes(qweight, scales, mins))


@quant_linear.register_fake
def _quant_linear_fake(x: torch.Tensor, qweight: torch.Tensor, scales: torch.Tensor,
                       mins: Optional[torch.Tensor] = None) -> torch.Tensor:
    _check_op(x, qweight, scales, mins)
    return x.new_empty((*x.shape[:-1], qweight.shape[0]))


class QuantLinear(nn.Module):
    """`nn.Linear(in_features, out_features, bias=False)` with a block-quantized weight."""

    def __init__(self, in_features: int, out_features: int, fmt: str, device: Optional[torch.device] = None,
                 name: str = "weight") -> None:
        super().__init__()
        if fmt not in FORMATS:
            raise QuantFormatError(f"{name!r}: quantization type {fmt} is not supported "
                                   f"(supported: {', '.join(FORMATS)})")
        _check_k(name, (out_features, in_features))
        self.in_features, self.out_features, self.fmt = int(in_features), int(out_features), fmt
        g = in_features // BLOCK
        self.register_buffer("qweight", torch.zeros(out_features, in_features, dtype=torch.int8, device=device))
        self.register_buffer("scales", torch.zeros(out_features, g, dtype=torch.float32, device=device))
        self.mins: Optional[torch.Tensor]
        if fmt == "Q4_1":
            self.register_buffer("mins", torch.zeros(out_features, g, dtype=torch.float32, device=device))
        else:
            self.mins = None

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
        with torch.no_grad():
            self.qweight.copy_(torch.from_numpy(p.qweight))
            self.scales.copy_(torch.from_numpy(p.scales))
            if self.mins is not None:
                assert p.mins is not None
                self.mins.copy_(torch.from_numpy(p.mins))

    def dequantized_weight(self) -> torch.Tensor:
        return dequantize_planes(self.qweight, self.scales, self.mins)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.buddy.quant_linear(x, self.qweight, self.scales, self.mins)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, fmt={self.fmt}"
