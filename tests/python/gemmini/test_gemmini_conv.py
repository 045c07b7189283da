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

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from support.gemmini_conv import ConvCase, conv_case_inputs, conv_case_mlir, conv_case_reference
from buddy.toolchain import buddy_opt_path
from support.user_cli import require_target, run_buddy, user_dir

TARGET = "riscv64-gemmini"

CASES = {
    "nhwc-s2p1-bias-relu": ConvCase(False, 2, 3, 11, 13, 20, 3, 2, 1, True, True, True),
    "nchw-s2p1-bias-relu": ConvCase(True, 2, 3, 11, 13, 20, 3, 2, 1, True, True, True),
    "nhwc-s1p0-scale": ConvCase(False, 3, 17, 9, 10, 18, 5, 1, 0, True, False, False, 1 / 512),
    "nchw-s1p2-bias": ConvCase(True, 2, 17, 9, 7, 18, 5, 1, 2, True, True, False, 1 / 512),
    "nhwc-s2p1-i32": ConvCase(False, 2, 5, 12, 9, 7, 3, 2, 1, False, False, False),
    "nchw-s1p0-i32": ConvCase(True, 1, 19, 8, 8, 33, 3, 1, 0, False, False, False),
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("buddy-cache")


def test_every_conv_becomes_one_tile_op():
    for case in CASES.values():
        out = subprocess.run([str(buddy_opt_path()), "--buddy-convert-linalg-to-gemmini"],
                             input=conv_case_mlir(case), capture_output=True, text=True,
                             check=True).stdout
        assert out.count("gemmini.tile_matmul") == 1 and "linalg.conv" not in out
        assert ("relu" in out) == case.relu
        assert "memref.subview" not in out  # the padding is folded into the im2col


@pytest.mark.parametrize("dataflow", ["ws", "os"])
@pytest.mark.parametrize("name", list(CASES))
def test_conv_under_qemu(name, dataflow, tmp_path, cache):
    require_target(TARGET)
    case = CASES[name]
    work = user_dir(tmp_path)
    (work / "conv.mlir").write_text(conv_case_mlir(case))
    arrays = conv_case_inputs(case, seed=len(name))
    files = []
    for i, a in enumerate(arrays):
        np.save(work / f"in{i}.npy", a)
        files.append(f"in{i}.npy")
    r = run_buddy(work, "compile", "conv.mlir", "-o", "out", "-t", TARGET, "--dataflow",
                  dataflow, cache=cache)
    assert r.returncode == 0, r.stderr
    r = run_buddy(work, "run", "out", "-i", *files, "--save", "res", "--stats", cache=cache)
    assert r.returncode == 0, r.stderr
    want = conv_case_reference(case, arrays)
    got = np.load(work / "res" / "out0.npy")
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    assert len(np.unique(got)) > 10
    stats = json.loads((work / "res" / "stats.json").read_text())
    assert stats["macs"] == case.macs
    assert stats["traps"] == stats["instructions"] > 0
