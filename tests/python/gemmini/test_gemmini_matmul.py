"""Tiled int8 matmuls through the Gemmini functional model (buddy._runtime.gemmini), bit for
bit against NumPy: odd shapes, a matrix larger than the scratchpad, both dataflows, with and
without bias (per column or per element), scaling and ReLU; instruction and byte counts."""
from __future__ import annotations

import numpy as np
import pytest

from buddy._runtime import gemmini
from support import gemmini_tiling as gt


def run(m: int, n: int, k: int, *, dataflow: int, bias: str | None, scale: float,
        relu: bool = False, tiling: gt.Tiling | None = None, seed: int = 0):
    a, b, bias_arr = gt.random_operands(m, n, k, bias, seed)
    c = np.full((m, n), 99, dtype=np.int8)
    model = gemmini.Model()
    pa, pb, pc = model.map(a), model.map(b), model.map(c)
    pbias = model.map(bias_arr) if bias_arr is not None else None
    prog = gt.tiled_matmul(pa, pb, pc, pbias, m, n, k, bias_per_row=bias == "full", scale=scale,
                           relu=relu, dataflow=dataflow, tiling=tiling)
    model.run(prog)
    ref = gt.reference(a, b, bias_arr, scale, relu)
    return c, ref, model.counters(), prog


# Scales that keep outputs mostly inside int8 for the K at hand, with exact ties possible.
CASES = [
    (1, 1, 1, 1.0),
    (17, 33, 9, 1 / 64),
    (50, 70, 40, 1 / 512),
    (16, 16, 16, 1 / 256),
    (31, 17, 130, 1 / 2048),
]


@pytest.mark.parametrize("dataflow", [gt.WS, gt.OS], ids=["ws", "os"])
@pytest.mark.parametrize("bias", [None, "row", "full"])
@pytest.mark.parametrize("m,n,k,scale", CASES)
def test_matmul_bit_exact(m, n, k, scale, bias, dataflow):
    c, ref, counters, _ = run(m, n, k, dataflow=dataflow, bias=bias, scale=scale)
    np.testing.assert_array_equal(c, ref)
    # Every C byte leaves once, every product of A @ B is one MAC; with one tile, A and B
    # enter once (bias: 4 bytes per element).
    assert counters["bytes_out"] == m * n
    assert counters["macs"] == m * n * k
    t = gt.choose_tiling(m, n, k)
    if m <= t.ti * 16 and n <= t.tj * 16 and k <= t.tk * 16:
        bias_bytes = {None: 0, "row": 4 * m * n, "full": 4 * m * n}[bias]
        assert counters["bytes_in"] == m * k + k * n + bias_bytes


@pytest.mark.parametrize("dataflow", [gt.WS, gt.OS], ids=["ws", "os"])
def test_relu_and_saturation(dataflow):
    # scale 1.0: most outputs saturate at +-127/-128 before ReLU.
    c, ref, _, _ = run(40, 24, 20, dataflow=dataflow, bias="row", scale=1.0, relu=True)
    np.testing.assert_array_equal(c, ref)
    assert (c == 127).any() and (c == 0).any() and (c >= 0).all()


@pytest.mark.parametrize("dataflow", [gt.WS, gt.OS], ids=["ws", "os"])
def test_small_tiles_remainders(dataflow):
    # Forced 1x2x3-block tiles: remainders in every dimension, K accumulated over tiles.
    c, ref, counters, _ = run(37, 50, 100, dataflow=dataflow, bias="row", scale=1 / 1024,
                              tiling=gt.Tiling(ti=1, tj=2, tk=3))
    np.testing.assert_array_equal(c, ref)
    assert counters["bytes_out"] == 37 * 50


@pytest.mark.parametrize("dataflow", [gt.WS, gt.OS], ids=["ws", "os"])
def test_larger_than_scratchpad(dataflow):
    # A alone (300 x 1000 int8 = 300 KB) exceeds the 256 KiB scratchpad; B's K (1000) spans
    # one K tile, M and N several C tiles.
    m, n, k = 300, 40, 1000
    assert m * k > 256 * 1024
    c, ref, counters, prog = run(m, n, k, dataflow=dataflow, bias="row", scale=1 / 4096)
    np.testing.assert_array_equal(c, ref)
    t = gt.choose_tiling(m, n, k)
    i_tiles = -(-m // (t.ti * 16))
    j_tiles = -(-n // (t.tj * 16))
    k_tiles = -(-k // (t.tk * 16))
    assert k_tiles == 1
    assert counters["bytes_in"] == m * k * j_tiles + k * n * i_tiles + 4 * m * n
    assert counters["instructions"] == len(prog)
    computes = counters["by_funct"][gt.COMPUTE_PRELOADED] + counters["by_funct"][gt.COMPUTE_ACCUMULATED]
    assert computes == (-(-m // 16)) * (-(-n // 16)) * (-(-k // 16))
    assert counters["by_funct"][gt.PRELOAD] == computes


def test_ws_reuses_weights():
    # WS preloads each B block once per C tile column and reuses it for every row block.
    _, _, counters, _ = run(64, 16, 16, dataflow=gt.WS, bias=None, scale=1 / 256)
    assert counters["by_funct"][gt.COMPUTE_PRELOADED] == 1
    assert counters["by_funct"][gt.COMPUTE_ACCUMULATED] == 3
    _, _, counters, _ = run(64, 16, 16, dataflow=gt.OS, bias=None, scale=1 / 256)
    assert counters["by_funct"][gt.COMPUTE_PRELOADED] == 4


def test_tiling_beyond_capacity_is_rejected():
    with pytest.raises(ValueError, match="accumulator"):
        gt.tiled_matmul(0, 0, 0, None, 512, 512, 16, tiling=gt.Tiling(ti=8, tj=9, tk=1))
    with pytest.raises(ValueError, match="scratchpad"):
        gt.tiled_matmul(0, 0, 0, None, 16, 16, 16 * 600, tiling=gt.Tiling(ti=1, tj=1, tk=600))


def test_model_rejects_unmapped_dram():
    model = gemmini.Model()
    a = np.zeros((16, 16), dtype=np.int8)
    with pytest.raises(gemmini.GemminiError, match="outside every mapped window"):
        model.run([gt.config_ld(16, 0),
                   (gt.MVIN, a.__array_interface__["data"][0], gt.fields(0, 16, 16))])


def test_ties_round_to_even():
    # The shapes above produce exact .5 products with power-of-two scales; rounding them
    # half away from zero instead of to even would give different bytes.
    c, ref, _, _ = run(50, 70, 40, dataflow=gt.WS, bias=None, scale=1 / 512)
    a, b, _ = gt.random_operands(50, 70, 40, None)  # the operands run() used
    y = (a.astype(np.int32) @ b.astype(np.int32)).astype(np.float32) * np.float32(1 / 512)
    away = np.clip(np.sign(y) * np.floor(np.abs(y) + 0.5), -128, 127).astype(np.int8)
    np.testing.assert_array_equal(c, ref)
    assert (away != c).any()
