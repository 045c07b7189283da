"""Per-tensor symmetric int8 quantization of an MLP or a LeNet-style CNN for Gemmini, and its
bit-exact NumPy reference.

Why here (``python/buddy/gemmini``): this is target-specific post-training quantization that
feeds the Gemmini passes, not graph capture (``frontend/`` is the PyTorch importer) nor the
GGUF block formats of ``buddy.quant`` (weights only, dequantized f32 arithmetic). Each layer
here is Gemmini's own arithmetic, one ``gemmini.tile_matmul`` (docs/gemmini.md, "Rounding and
saturation"):

    y_q = relu?(sat_int8(rne(float32(x_q @ W_q^T + bias_q) * float32(scale))))

* weights: ``W_q = clip(rne(W / s_w), -127, 127)``, ``s_w = max|W| / 127`` (per tensor);
* activations: ``s_y = max|y| / 127`` over the fp32 model's outputs of the layer (after its
  ReLU, if one follows) on the calibration inputs (max-abs); the input scale ``s_x`` the same
  way on the inputs themselves;
* ``bias_q = rne(b / (s_x * s_w))`` as int32; ``scale = float32(s_x * s_w / s_y)``;
* ``rne`` is round to nearest, ties to even (``np.rint``, ``math.roundeven``), saturation to
  ``[-128, 127]``, and a following ``nn.ReLU`` is ``max(0, .)`` on that int8 value, which is
  what Gemmini's mvout does with ReLU configured.

A CNN (`quantize_cnn`) adds ``nn.Conv2d`` (bias, stride, zero padding; dilation 1, groups 1)
with the same scales, its int32 sum being the im2col GEMM of the int8 input padded with 0 (the
zero point of a symmetric quantization, so padding is exact); ``nn.MaxPool2d`` (square
kernel, no padding, floor mode) and ``nn.Flatten`` run on the int8 activations and keep their
scale (max of int8 values is exact: the scale is positive). Layouts are PyTorch's (NCHW,
filters FCHW, Flatten in (c, h, w) order).

`run_quantized` is the definition the compiled network must match bit for bit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["QuantLayer", "QuantConv", "MaxPool", "Flatten", "QuantOp", "QuantModel",
           "quantize_mlp", "quantize_cnn", "quantize_input", "run_layer", "conv_acc", "run_conv",
           "run_op", "requant",
           "run_quantized", "dequantize_output"]

QMAX = 127


@dataclass(frozen=True)
class QuantLayer:
    """One ``nn.Linear`` (+ optional ``nn.ReLU``) as Gemmini runs it: ``x_q [M, K] @ weight
    [K, N]`` (int8, the transposed ``W_q``), plus ``bias`` (int32 [N]), times ``scale``
    (float32), rounded, saturated, then ReLU if ``relu``. ``s_w``/``s_in``/``s_out``: the
    real-valued scales (``value = scale * q``) it was derived from."""
    weight: np.ndarray
    bias: np.ndarray
    scale: np.float32
    relu: bool
    s_w: float
    s_in: float
    s_out: float

    @property
    def in_features(self) -> int:
        return int(self.weight.shape[0])

    @property
    def out_features(self) -> int:
        return int(self.weight.shape[1])


@dataclass(frozen=True)
class QuantConv:
    """One ``nn.Conv2d`` (+ optional ``nn.ReLU``) as Gemmini runs it (its im2col GEMM):
    ``weight`` int8 [F, C, KH, KW], ``bias`` int32 [F], then as `QuantLayer`; ``stride`` and
    zero ``padding`` in both spatial dimensions."""
    weight: np.ndarray
    bias: np.ndarray
    scale: np.float32
    relu: bool
    stride: int
    padding: int
    s_w: float
    s_in: float
    s_out: float

    def out_hw(self, h: int, w: int) -> tuple[int, int]:
        kh, kw = self.weight.shape[2:]
        return ((h + 2 * self.padding - kh) // self.stride + 1,
                (w + 2 * self.padding - kw) // self.stride + 1)


@dataclass(frozen=True)
class MaxPool:
    """``nn.MaxPool2d(kernel, stride)`` on int8 NCHW activations (on the core)."""
    kernel: int
    stride: int

    def out_hw(self, h: int, w: int) -> tuple[int, int]:
        return (h - self.kernel) // self.stride + 1, (w - self.kernel) // self.stride + 1


@dataclass(frozen=True)
class Flatten:
    """``nn.Flatten()``: [N, C, H, W] -> [N, C*H*W] (a view)."""


QuantOp = QuantLayer | QuantConv | MaxPool | Flatten


@dataclass(frozen=True)
class QuantModel:
    """The quantized network: ``s_in`` quantizes the input (`quantize_input`), ``layers`` run
    in order, the last layer's int8 output times ``s_out`` approximates the fp32 model's
    output."""
    s_in: float
    layers: tuple[QuantOp, ...]

    @property
    def gemms(self) -> tuple[QuantLayer | QuantConv, ...]:
        """The layers Gemmini runs (Linear and Conv2d)."""
        return tuple(op for op in self.layers if isinstance(op, (QuantLayer, QuantConv)))

    @property
    def s_out(self) -> float:
        return self.gemms[-1].s_out



def _max_abs_scale(t: np.ndarray) -> float:
    m = float(np.max(np.abs(t))) if t.size else 0.0
    return m / QMAX if m > 0 else 1.0


def _quantize(t: np.ndarray, s: float) -> np.ndarray:
    return np.clip(np.rint(t.astype(np.float64) / s), -QMAX, QMAX).astype(np.int8)


def _groups(model: nn.Sequential, allowed: tuple[type, ...],
            who: str) -> list[tuple[nn.Module, bool]]:
    """(module, followed by ReLU) pairs; a ReLU only after a Linear/Conv2d, anything not in
    `allowed` is rejected."""
    mods = list(model)
    out: list[tuple[nn.Module, bool]] = []
    names = "/".join(t.__name__ for t in allowed)
    i = 0
    while i < len(mods):
        mod = mods[i]
        if not isinstance(mod, allowed):
            raise ValueError(f"{who}: expected nn.{names} at position {i}, got "
                             f"{type(mod).__name__} (only {names} [+ ReLU] layers)")
        relu = (isinstance(mod, (nn.Linear, nn.Conv2d)) and i + 1 < len(mods)
                and isinstance(mods[i + 1], nn.ReLU))
        out.append((mod, relu))
        i += 2 if relu else 1
    if not any(isinstance(m, (nn.Linear, nn.Conv2d)) for m, _ in out):
        raise ValueError(f"{who}: no Linear or Conv2d layer")
    return out


def _pair(v: int | tuple[int, ...], what: str) -> int:
    vals = (v, v) if isinstance(v, int) else tuple(v)
    if len(set(vals)) != 1:
        raise ValueError(f"quantize_cnn: {what} {v} is not the same in both dimensions")
    return int(vals[0])


def _check_conv(conv: nn.Conv2d) -> None:
    if (_pair(conv.dilation, "dilation") != 1 or conv.groups != 1
            or conv.padding_mode != "zeros" or isinstance(conv.padding, str)):
        raise ValueError("quantize_cnn: Conv2d with dilation 1, groups 1 and numeric zero "
                         "padding only")


def _max_pool(pool: nn.MaxPool2d) -> MaxPool:
    stride = pool.stride if pool.stride is not None else pool.kernel_size
    if (_pair(pool.padding, "padding") != 0 or _pair(pool.dilation, "dilation") != 1
            or pool.ceil_mode or pool.return_indices):
        raise ValueError("quantize_cnn: MaxPool2d without padding, dilation or ceil_mode only")
    return MaxPool(_pair(pool.kernel_size, "kernel_size"), _pair(stride, "stride"))


def _gemm_scales(mod: nn.Linear | nn.Conv2d, x: torch.Tensor, relu: bool,
                 s_x: float) -> tuple[np.ndarray, np.ndarray, np.float32, float, float,
                                      torch.Tensor]:
    """int8 weight, int32 bias, scale, s_w, s_y and the fp32 output of one Linear/Conv2d."""
    w = mod.weight.detach().to(torch.float32).numpy()
    b = (mod.bias.detach().to(torch.float32).numpy() if mod.bias is not None
         else np.zeros(w.shape[0], np.float32))
    y = mod(x)
    if relu:
        y = torch.relu(y)
    s_w = _max_abs_scale(w)
    s_y = _max_abs_scale(y.numpy())
    bias_q = np.rint(b.astype(np.float64) / (s_x * s_w))
    if np.any(np.abs(bias_q) > np.iinfo(np.int32).max):
        raise ValueError("quantize: a bias does not fit int32 at this scale")
    return (_quantize(w, s_w), bias_q.astype(np.int32), np.float32(s_x * s_w / s_y), s_w, s_y,
            y)


@torch.no_grad()
def _quantize_sequential(groups: list[tuple[nn.Module, bool]],
                         example: torch.Tensor) -> QuantModel:
    x = example.detach().to(torch.float32)
    s_x = _max_abs_scale(x.numpy())
    s_in = s_x
    layers: list[QuantOp] = []
    for mod, relu in groups:
        if isinstance(mod, (nn.Linear, nn.Conv2d)):
            w_q, bias_q, scale, s_w, s_y, y = _gemm_scales(mod, x, relu, s_x)
            if isinstance(mod, nn.Linear):
                layers.append(QuantLayer(weight=np.ascontiguousarray(w_q.T), bias=bias_q,
                                         scale=scale, relu=relu, s_w=s_w, s_in=s_x, s_out=s_y))
            else:
                _check_conv(mod)
                layers.append(QuantConv(weight=w_q, bias=bias_q, scale=scale, relu=relu,
                                        stride=_pair(mod.stride, "stride"),
                                        padding=_pair(mod.padding, "padding"), s_w=s_w,
                                        s_in=s_x, s_out=s_y))
            x, s_x = y, s_y
        elif isinstance(mod, nn.MaxPool2d):
            layers.append(_max_pool(mod))
            x = mod(x)
        else:
            layers.append(Flatten())
            x = mod(x)
    return QuantModel(s_in=s_in, layers=tuple(layers))


def quantize_mlp(model: nn.Sequential, example: torch.Tensor) -> QuantModel:
    """Quantize `model` (``nn.Sequential`` of ``nn.Linear`` / ``nn.ReLU``), calibrating the
    activation scales on `example` ([batch, in_features]) by max-abs."""
    return _quantize_sequential(_groups(model, (nn.Linear,), "quantize_mlp"), example)


def quantize_cnn(model: nn.Sequential, example: torch.Tensor) -> QuantModel:
    """Quantize a LeNet-style `model` (``nn.Sequential`` of ``nn.Conv2d``, ``nn.ReLU``,
    ``nn.MaxPool2d``, ``nn.Flatten``, ``nn.Linear``), calibrating on `example` ([batch, C, H,
    W]) by max-abs."""
    allowed = (nn.Conv2d, nn.MaxPool2d, nn.Flatten, nn.Linear)
    return _quantize_sequential(_groups(model, allowed, "quantize_cnn"), example)


def quantize_input(q: QuantModel, x: np.ndarray | torch.Tensor) -> np.ndarray:
    """The int8 input of the network: ``sat(rne(x / s_in))`` (saturating at +-127)."""
    arr = x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return _quantize(arr, q.s_in)


def requant(acc: np.ndarray, scale: np.float32, relu: bool) -> np.ndarray:
    """int32 -> int8 as Gemmini's mvout: float32 product, rne, saturation, then ReLU."""
    y = np.rint(acc.astype(np.float32) * scale)
    out = np.clip(y, -128, 127).astype(np.int8)
    return np.maximum(out, np.int8(0)) if relu else out


def _check_int8(x_q: np.ndarray) -> None:
    if x_q.dtype != np.int8:
        raise TypeError(f"run_layer: int8 input expected, got {x_q.dtype}")


def run_layer(layer: QuantLayer, x_q: np.ndarray) -> np.ndarray:
    """One layer, bit-exact: int32 matmul + bias, float32 scale (IEEE nearest-even), rne,
    saturation to int8, then ReLU."""
    _check_int8(x_q)
    acc = x_q.astype(np.int32) @ layer.weight.astype(np.int32) + layer.bias
    return requant(acc, layer.scale, layer.relu)


def _windows(x: np.ndarray, k: tuple[int, int], stride: int) -> np.ndarray:
    """[N, C, OH, OW, KH, KW] windows of NCHW `x`."""
    v = np.lib.stride_tricks.sliding_window_view(x, k, axis=(2, 3))
    return v[:, :, ::stride, ::stride]


def conv_acc(x_q: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int,
             padding: int) -> np.ndarray:
    """The exact int32 conv of int8 NCHW `x_q` (padded with 0) and FCHW `weight`, + bias [F]."""
    _check_int8(x_q)
    p = padding
    xp = np.pad(x_q, ((0, 0), (0, 0), (p, p), (p, p)))
    win = _windows(xp.astype(np.int32), weight.shape[2:], stride)
    acc = np.tensordot(win, weight.astype(np.int32), axes=([1, 4, 5], [1, 2, 3]))
    return acc.transpose(0, 3, 1, 2) + bias.astype(np.int32)[None, :, None, None]


def run_conv(layer: QuantConv, x_q: np.ndarray) -> np.ndarray:
    """One conv, bit-exact: `conv_acc`, then requantized as `run_layer`."""
    acc = conv_acc(x_q, layer.weight, layer.bias, layer.stride, layer.padding)
    return requant(acc, layer.scale, layer.relu)


def run_op(op: QuantOp, x_q: np.ndarray) -> np.ndarray:
    """One layer of any kind on int8 activations."""
    if isinstance(op, QuantLayer):
        return run_layer(op, x_q)
    if isinstance(op, QuantConv):
        return run_conv(op, x_q)
    if isinstance(op, MaxPool):
        return _windows(x_q, (op.kernel, op.kernel), op.stride).max(axis=(-2, -1))
    return x_q.reshape(x_q.shape[0], -1)


def run_quantized(q: QuantModel, x_q: np.ndarray) -> np.ndarray:
    """The int8 network on int8 inputs ([batch, in_features] or [batch, C, H, W]) -> int8
    [batch, out_features]."""
    for op in q.layers:
        x_q = run_op(op, x_q)
    return x_q


def dequantize_output(q: QuantModel, y_q: np.ndarray) -> np.ndarray:
    return y_q.astype(np.float32) * np.float32(q.s_out)
