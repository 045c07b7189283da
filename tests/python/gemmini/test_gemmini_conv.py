"""int8 conv_2d on Gemmini under qemu-user (issue 15): ``buddy compile -t riscv64-gemmini`` and
``buddy run --stats`` of one conv (support/gemmini_conv.py), bit-exact vs NumPy.

Cases: NHWC/HWCF and NCHW/FCHW; channels and spatial sizes that are not multiples of 16;
stride 2 with padding 1 and stride 1 with padding 0 or 2 (the padded copy folded into the
im2col by the pass); WS and OS; the i32 sum, the
requantized i8 output with a scale only, and with bias and ReLU. ``convert-linalg-to-gemmini``
takes every conv (its im2col GEMM), so MACs on the array = N*OH*OW x F x KH*KW*C. Skipped only
without llc-22, riscv64-linux-gnu-g++ or qemu-riscv64-static.
"""
from __future__ import annotations

import pytest

from support.gemmini_conv import ConvCase, conv_case_inputs, conv_case_mlir, conv_case_reference
from support.gemmini_case import check_under_qemu, convert_linalg_to_gemmini

CASES = {
    "nhwc-s2p1-bias-relu": ConvCase(False, 2, 3, 11, 13, 20, 3, 2, 1, True, True, True),
    "nchw-s2p1-bias-relu": ConvCase(True, 2, 3, 11, 13, 20, 3, 2, 1, True, True, True),
    "nhwc-s1p0-scale": ConvCase(False, 3, 17, 9, 10, 18, 5, 1, 0, True, False, False, 1 / 512),
    "nchw-s1p2-bias": ConvCase(True, 2, 17, 9, 7, 18, 5, 1, 2, True, True, False, 1 / 512),
    "nhwc-s2p1-i32": ConvCase(False, 2, 5, 12, 9, 7, 3, 2, 1, False, False, False),
    "nchw-s1p0-i32": ConvCase(True, 1, 19, 8, 8, 33, 3, 1, 0, False, False, False),
}


def test_every_conv_becomes_one_tile_op():
    for case in CASES.values():
        out = convert_linalg_to_gemmini(conv_case_mlir(case))
        assert out.count("gemmini.tile_matmul") == 1 and "linalg.conv" not in out
        assert ("relu" in out) == case.relu
        assert "memref.subview" not in out  # the padding is folded into the im2col


@pytest.mark.parametrize("dataflow", ["ws", "os"])
@pytest.mark.parametrize("name", list(CASES))
def test_conv_under_qemu(name, dataflow, tmp_path, cache):
    case = CASES[name]
    arrays = conv_case_inputs(case, seed=len(name))
    check_under_qemu(tmp_path, conv_case_mlir(case), arrays, conv_case_reference(case, arrays),
                     case.macs, dataflow, cache)
