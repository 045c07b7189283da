"""buddy.gemmini.quantize on the host: the scales, the int32 bias, rounding half to even,
saturation, ReLU on the int8 value, agreement of run_quantized with the host Gemmini model's
reference (support/gemmini_tiling.reference), and the layers it rejects."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from buddy.gemmini.quantize import (QuantLayer, dequantize_output, quantize_input,
                                    quantize_mlp, run_layer, run_quantized)
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
