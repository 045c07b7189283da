"""1-D convolution (linalg): lowered as a 2-D convolution of height 1 (Whisper's conv stem),
plain, strided, padded, dilated, grouped and depthwise, against eager; 3-D convolution is
refused with an error naming the op and the model source line."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import buddy.frontend as bf
from buddy.frontend.errors import UnsupportedOpError

CASES = {  # (in channels, out channels, kernel, keyword arguments of nn.Conv1d)
    "plain": (4, 6, 3, {}),
    "padded": (4, 6, 3, {"padding": 1}),
    "strided": (4, 6, 3, {"stride": 2, "padding": 1}),
    "dilated_no_bias": (4, 6, 3, {"dilation": 2, "padding": 2, "bias": False}),
    "grouped": (4, 6, 3, {"groups": 2, "padding": 1}),
    "depthwise": (4, 4, 5, {"groups": 4, "padding": 2, "stride": 2}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_conv1d_matches_eager(case: str) -> None:
    cin, cout, k, kw = CASES[case]
    torch.manual_seed(0)
    m = nn.Conv1d(cin, cout, k, **kw).eval()
    x = torch.randn(2, cin, 11)
    with torch.no_grad():
        want = m(x)
    got = bf.import_model(m, (x,)).run(x)[0]
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


class Volume(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(2, 2, 3)

    def forward(self, x):
        return self.conv(x) + 1  # the 3-D convolution is on this line


def test_conv3d_error_names_the_op_and_the_source_line() -> None:
    with pytest.raises(UnsupportedOpError) as info:
        bf.import_model(Volume().eval(), (torch.randn(1, 2, 4, 4, 4),))
    msg = str(info.value)
    assert info.value.op == "aten.convolution.default"
    assert "3-D convolution (only 1-D and 2-D)" in msg
    assert "test_frontend_conv1d.py" in msg and "self.conv(x) + 1" in msg
