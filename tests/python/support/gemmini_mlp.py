"""The seeded fp32 MLPs the Gemmini whole-model tests quantize (test_gemmini_mlp.py,
test_gemmini_target.py): ``nn.Sequential`` of Linear layers with a ReLU between them."""
from __future__ import annotations

import torch
from torch import nn


def make_mlp(widths: tuple[int, ...], seed: int) -> nn.Sequential:
    """Linear(widths[i], widths[i + 1]) layers, ReLU after each but the last."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (k, n) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Linear(k, n))
        if i + 2 < len(widths):
            layers.append(nn.ReLU())
    return nn.Sequential(*layers).eval()
