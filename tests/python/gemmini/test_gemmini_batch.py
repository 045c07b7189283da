"""int8 batch_matmul on Gemmini under qemu-user (issue 15): ``buddy compile -t riscv64-gemmini``
and ``buddy run --stats`` of one batch_matmul (support/gemmini_batch.py), bit-exact vs NumPy.

``convert-linalg-to-gemmini`` turns it into an scf.for over the batch of one tile op on the
batch's subviews. Cases: B=3 with M, N, K not multiples of 16; B=2 with A larger than the
scratchpad (300 x 1000 bytes per batch, 256 KiB of scratchpad) so K is tiled; WS and OS; the
requantized i8 output with bias, scale and ReLU, with a scale only, and the plain i32 sum.
MACs on the array = B*M*N*K. Skipped only without llc-22, riscv64-linux-gnu-g++ or
qemu-riscv64-static.
"""
from __future__ import annotations

import pytest

from support.gemmini_batch import (BatchCase, batch_case_inputs, batch_case_mlir,
                                   batch_case_reference)
from support.gemmini_case import check_under_qemu, convert_linalg_to_gemmini

CASES = {
    "3x33x45x70-bias-relu": BatchCase(3, 33, 45, 70, True, True, True),
    "3x33x45x70-scale": BatchCase(3, 33, 45, 70, True, False, False, 1 / 512),
    "3x33x45x70-i32": BatchCase(3, 33, 45, 70, False, False, False),
    "2x300x40x1000-bias-relu": BatchCase(2, 300, 40, 1000, True, True, True, 1 / 2048),
    "2x300x40x1000-i32": BatchCase(2, 300, 40, 1000, False, False, False),
}


def test_every_batch_matmul_becomes_one_loop_of_tile_ops():
    for case in CASES.values():
        out = convert_linalg_to_gemmini(batch_case_mlir(case))
        assert out.count("scf.for") == 1 and out.count("gemmini.tile_matmul") == 1
        assert out.count("memref.subview") == 3 and "linalg." not in out
        assert ("relu" in out) == case.relu


@pytest.mark.parametrize("dataflow", ["ws", "os"])
@pytest.mark.parametrize("name", list(CASES))
def test_batch_matmul_under_qemu(name, dataflow, tmp_path, cache):
    case = CASES[name]
    arrays = batch_case_inputs(case, seed=len(name))
    check_under_qemu(tmp_path, batch_case_mlir(case), arrays, batch_case_reference(case, arrays),
                     case.macs, dataflow, cache)
