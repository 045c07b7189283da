"""Padded 2-D convolutions through `buddy.compile` (host target, kernels on) against eager:
the frontend's zero-padded input (fill + interior copy, vectorized by
buddy-fill-copy-vectorize) and the conv kernel starting from zero where the output's zero fill
is dropped (first input-channel block peeled when C > c-block = 32)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn as nn

import buddy
import buddy.frontend as bf

CASES = {  # (in channels, out channels, kernel, height, width, keyword arguments of nn.Conv2d)
    "dense_s1_odd_w": (5, 7, 3, 9, 19, {"padding": 1}),
    "dense_s2_odd_w": (6, 9, 3, 11, 23, {"padding": 1, "stride": 2}),
    "dense_two_channel_blocks": (48, 8, 3, 7, 17, {"padding": 1, "bias": False}),
    "dense_7x7_s2": (3, 8, 7, 21, 29, {"padding": 3, "stride": 2}),
    "depthwise_s1": (16, 16, 3, 13, 37, {"padding": 1, "groups": 16}),
    "depthwise_s2": (12, 12, 3, 15, 21, {"padding": 1, "stride": 2, "groups": 12, "bias": False}),
    "grouped": (8, 12, 3, 9, 11, {"padding": 1, "groups": 4}),
    "pointwise": (16, 24, 1, 7, 33, {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_conv2d_compiled_matches_eager(case: str, tmp_path: Path) -> None:
    cin, cout, k, h, w, kw = CASES[case]
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(cin, cout, k, **kw), nn.ReLU()).eval()
    x = torch.randn(2, cin, h, w)
    with torch.no_grad():
        want = m(x)
    compiled = buddy.compile(bf.import_model(m, (x,)), cache_dir=tmp_path, progress=False)
    got = compiled(x.numpy())
    got = torch.from_numpy(got[0] if isinstance(got, tuple) else got)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
