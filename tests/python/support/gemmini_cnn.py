"""The seeded LeNet-style CNN the Gemmini whole-model test quantizes
(tests/python/gemmini/test_gemmini_lenet.py), and the MACs of a quantized network's layers."""
from __future__ import annotations

import torch
from torch import nn

from buddy.gemmini.quantize import Flatten, MaxPool, QuantConv, QuantLayer, QuantModel


def make_lenet(seed: int) -> nn.Sequential:
    """1x28x28 -> conv 6@5x5 pad 2, relu, maxpool 2, conv 16@5x5, relu, maxpool 2, flatten,
    linear 120, relu, linear 84, relu, linear 10."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    ).eval()


def gemm_macs(q: QuantModel, shape: tuple[int, ...]) -> list[int]:
    """M * N * K of each Linear and Conv2d (its im2col GEMM: M = N*OH*OW, N = F, K = C*KH*KW)
    on an input of `shape`, in order."""
    out: list[int] = []
    for op in q.layers:
        if isinstance(op, QuantConv):
            f, c, kh, kw = op.weight.shape
            oh, ow = op.out_hw(shape[2], shape[3])
            out.append(shape[0] * oh * ow * f * c * kh * kw)
            shape = (shape[0], f, oh, ow)
        elif isinstance(op, QuantLayer):
            out.append(shape[0] * op.in_features * op.out_features)
            shape = (shape[0], op.out_features)
        elif isinstance(op, MaxPool):
            shape = (shape[0], shape[1], *op.out_hw(shape[2], shape[3]))
        elif isinstance(op, Flatten):
            shape = (shape[0], shape[1] * shape[2] * shape[3])
    return out
