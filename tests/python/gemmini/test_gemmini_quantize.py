"""buddy.gemmini.quantize on the host: the scales, the int32 bias, rounding half to even,
saturation, ReLU on the int8 value, agreement of run_quantized with the host Gemmini model's
reference (support/gemmini_tiling.reference), and the layers it rejects; for CNNs the conv
as the im2col GEMM on that reference, the layer kinds and scales, and what it rejects."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from buddy.gemmini.quantize import (Flatten, MaxPool, QuantConv, QuantLayer, dequantize_output,
                                    quantize_cnn, quantize_input, quantize_mlp, run_conv,
                                    run_layer, run_quantized)
from support import gemmini_tiling as gt


def test_scales_and_bias():
    lin = nn.Linear(3, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.27, -0.5, 0.0], [0.2, 0.3, -0.635]]))
        lin.bias.copy_(torch.tensor([0.1, -0.2]))
    x = torch.tensor([[2.54, -1.0, 0.5], [0.0, 1.0, -2.0]])
    q = quantize_mlp(nn.Sequential(lin), x)
    (layer,) = q.layers
    assert q.s_in == pytest.approx(2.54 / 127)
    assert layer.s_w == pytest.approx(1.27 / 127)
    assert layer.weight.dtype == np.int8 and layer.weight.shape == (3, 2)  # W_q^T
    np.testing.assert_array_equal(layer.weight[:, 0], [127, -50, 0])
    expected_bias = np.rint(np.array([0.1, -0.2]) / (q.s_in * layer.s_w))
    np.testing.assert_array_equal(layer.bias, expected_bias.astype(np.int32))
    y = lin(x).detach().numpy()
    assert layer.s_out == pytest.approx(np.abs(y).max() / 127)
    assert layer.scale == np.float32(q.s_in * layer.s_w / layer.s_out)
    # int8 output approximates the fp32 one within a couple of output steps
    out = dequantize_output(q, run_quantized(q, quantize_input(q, x)))
    assert np.abs(out - y).max() < 3 * layer.s_out


def test_round_half_to_even_saturate_relu():
    # acc * 0.5 hits exact ties: 1 -> 0.5 -> 0, 3 -> 1.5 -> 2, -3 -> -1.5 -> -2; 600 -> 300 -> 127
    w = np.eye(4, dtype=np.int8)
    x = np.array([[1, 3, -3, 127]], dtype=np.int8)
    bias = np.array([0, 0, 0, 473], dtype=np.int32)
    layer = QuantLayer(w, bias, np.float32(0.5), False, 1.0, 1.0, 1.0)
    np.testing.assert_array_equal(run_layer(layer, x), [[0, 2, -2, 127]])
    relu = QuantLayer(w, bias, np.float32(0.5), True, 1.0, 1.0, 1.0)
    np.testing.assert_array_equal(run_layer(relu, x), [[0, 2, 0, 127]])
    sat = QuantLayer(w, -bias * 2, np.float32(0.5), False, 1.0, 1.0, 1.0)
    assert run_layer(sat, x)[0, 3] == -128


@pytest.mark.parametrize("relu", [False, True])
def test_layer_equals_gemmini_reference(relu):
    a, b, bias = gt.random_operands(33, 45, 70, "row", seed=5)
    layer = QuantLayer(b, bias, np.float32(1 / 1024), relu, 1.0, 1.0, 1.0)
    np.testing.assert_array_equal(run_layer(layer, a), gt.reference(a, b, bias, 1 / 1024, relu))


def test_relu_layers_are_grouped():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 5), nn.ReLU(), nn.Linear(5, 3))
    q = quantize_mlp(model, torch.randn(4, 8))
    assert [layer.relu for layer in q.layers] == [True, False]
    assert [layer.weight.shape for layer in q.layers] == [(8, 5), (5, 3)]
    assert q.layers[1].s_in == q.layers[0].s_out


def test_rejects_other_layers():
    with pytest.raises(ValueError, match="expected nn.Linear"):
        quantize_mlp(nn.Sequential(nn.Linear(4, 4), nn.Tanh()), torch.randn(2, 4))
    with pytest.raises(TypeError, match="int8 input"):
        run_layer(QuantLayer(np.eye(2, dtype=np.int8), np.zeros(2, np.int32), np.float32(1),
                             False, 1.0, 1.0, 1.0), np.zeros((1, 2), np.float32))


# ----------------------------------------------------------------------------- CNNs

def _im2col(x: np.ndarray, k: int, stride: int, padding: int) -> np.ndarray:
    """[N*OH*OW, C*K*K] rows of NCHW `x` zero-padded, in (c, kh, kw) order (test's own loop)."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    rows = [xp[i, :, y * stride:y * stride + k, z * stride:z * stride + k].reshape(-1)
            for i in range(n) for y in range(oh) for z in range(ow)]
    return np.stack(rows)


@pytest.mark.parametrize("stride,padding,relu", [(1, 0, False), (2, 1, True), (1, 2, True)])
def test_conv_equals_the_im2col_gemm_on_the_gemmini_reference(stride, padding, relu):
    rng = np.random.default_rng(stride * 10 + padding)
    x = rng.integers(-128, 128, (2, 3, 9, 11), dtype=np.int8)
    w = rng.integers(-127, 128, (5, 3, 3, 3), dtype=np.int8)
    bias = rng.integers(-2000, 2000, 5, dtype=np.int32)
    conv = QuantConv(w, bias, np.float32(1 / 256), relu, stride, padding, 1.0, 1.0, 1.0)
    got = run_conv(conv, x)
    cols = _im2col(x, 3, stride, padding)
    want = gt.reference(cols, np.ascontiguousarray(w.reshape(5, -1).T), bias, 1 / 256, relu)
    n, f, oh, ow = got.shape
    np.testing.assert_array_equal(got, want.reshape(n, oh, ow, f).transpose(0, 3, 1, 2))


def test_cnn_layers_and_scales():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(16, 3))
    x = torch.randn(5, 2, 9, 9)
    q = quantize_cnn(model, x)
    conv, pool, flat, lin = q.layers
    assert isinstance(conv, QuantConv) and conv.relu and (conv.stride, conv.padding) == (2, 1)
    assert conv.weight.shape == (4, 2, 3, 3) and conv.bias.dtype == np.int32
    assert pool == MaxPool(2, 2) and isinstance(flat, Flatten)
    assert lin.s_in == conv.s_out  # max pool and flatten keep the scale
    y = model(x).detach().numpy()
    out = dequantize_output(q, run_quantized(q, quantize_input(q, x)))
    assert out.shape == (5, 3) and np.abs(out - y).max() < 4 * q.s_out


@pytest.mark.parametrize("module,message", [
    (nn.Conv2d(2, 2, 3, dilation=2), "dilation 1"),
    (nn.MaxPool2d(2, padding=1), "MaxPool2d without padding"),
    (nn.Tanh(), "expected nn.Conv2d/MaxPool2d/Flatten/Linear"),
])
def test_cnn_rejects(module, message):
    with pytest.raises(ValueError, match=message):
        quantize_cnn(nn.Sequential(nn.Conv2d(2, 2, 1), module), torch.randn(1, 2, 8, 8))
