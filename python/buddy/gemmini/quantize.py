"""Per-tensor symmetric int8 quantization of an MLP for Gemmini, and its bit-exact NumPy
reference.

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

`run_quantized` is the definition the compiled network must match bit for bit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["QuantLayer", "QuantMLP", "quantize_mlp", "quantize_input", "run_quantized",
           "dequantize_output"]

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
class QuantMLP:
    """The quantized network: ``s_in`` quantizes the input (`quantize_input`), ``layers`` run
    in order, the last layer's int8 output times ``layers[-1].s_out`` approximates the fp32
    model's output."""
    s_in: float
    layers: tuple[QuantLayer, ...]


def _max_abs_scale(t: np.ndarray) -> float:
    m = float(np.max(np.abs(t))) if t.size else 0.0
    return m / QMAX if m > 0 else 1.0


def _quantize(t: np.ndarray, s: float) -> np.ndarray:
    return np.clip(np.rint(t.astype(np.float64) / s), -QMAX, QMAX).astype(np.int8)


def _groups(model: nn.Sequential) -> list[tuple[nn.Linear, bool]]:
    """(Linear, followed by ReLU) pairs; anything else is rejected."""
    mods = list(model)
    out: list[tuple[nn.Linear, bool]] = []
    i = 0
    while i < len(mods):
        lin = mods[i]
        if not isinstance(lin, nn.Linear):
            raise ValueError(f"quantize_mlp: expected nn.Linear at position {i}, got "
                             f"{type(lin).__name__} (only Linear [+ ReLU] layers)")
        relu = i + 1 < len(mods) and isinstance(mods[i + 1], nn.ReLU)
        out.append((lin, relu))
        i += 2 if relu else 1
    if not out:
        raise ValueError("quantize_mlp: empty model")
    return out


@torch.no_grad()
def quantize_mlp(model: nn.Sequential, example: torch.Tensor) -> QuantMLP:
    """Quantize `model` (``nn.Sequential`` of ``nn.Linear`` / ``nn.ReLU``), calibrating the
    activation scales on `example` ([batch, in_features]) by max-abs."""
    groups = _groups(model)
    x = example.detach().to(torch.float32)
    s_x = _max_abs_scale(x.numpy())
    s_in = s_x
    layers = []
    for lin, relu in groups:
        w = lin.weight.detach().to(torch.float32).numpy()          # [N, K]
        b = (lin.bias.detach().to(torch.float32).numpy() if lin.bias is not None
             else np.zeros(w.shape[0], np.float32))
        y = lin(x)
        if relu:
            y = torch.relu(y)
        s_w = _max_abs_scale(w)
        s_y = _max_abs_scale(y.numpy())
        w_q = _quantize(w, s_w)
        bias_q = np.rint(b.astype(np.float64) / (s_x * s_w))
        if np.any(np.abs(bias_q) > np.iinfo(np.int32).max):
            raise ValueError("quantize_mlp: a bias does not fit int32 at this scale")
        layers.append(QuantLayer(weight=np.ascontiguousarray(w_q.T), bias=bias_q.astype(np.int32),
                                 scale=np.float32(s_x * s_w / s_y), relu=relu, s_w=s_w,
                                 s_in=s_x, s_out=s_y))
        x, s_x = y, s_y
    return QuantMLP(s_in=s_in, layers=tuple(layers))


def quantize_input(q: QuantMLP, x: np.ndarray | torch.Tensor) -> np.ndarray:
    """The int8 input of the network: ``sat(rne(x / s_in))`` (saturating at +-127)."""
    arr = x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return _quantize(arr, q.s_in)


def run_layer(layer: QuantLayer, x_q: np.ndarray) -> np.ndarray:
    """One layer, bit-exact: int32 matmul + bias, float32 scale (IEEE nearest-even), rne,
    saturation to int8, then ReLU."""
    if x_q.dtype != np.int8:
        raise TypeError(f"run_layer: int8 input expected, got {x_q.dtype}")
    acc = x_q.astype(np.int32) @ layer.weight.astype(np.int32) + layer.bias
    y = np.rint(acc.astype(np.float32) * layer.scale)
    out = np.clip(y, -128, 127).astype(np.int8)
    return np.maximum(out, np.int8(0)) if layer.relu else out


def run_quantized(q: QuantMLP, x_q: np.ndarray) -> np.ndarray:
    """The int8 network on int8 inputs [batch, in_features] -> int8 [batch, out_features]."""
    for layer in q.layers:
        x_q = run_layer(layer, x_q)
    return x_q


def dequantize_output(q: QuantMLP, y_q: np.ndarray) -> np.ndarray:
    return y_q.astype(np.float32) * np.float32(q.layers[-1].s_out)
