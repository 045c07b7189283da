"""--buddy-lower-gemmini end to end: the instruction sequence the C++ pass emits for a
gemmini.tile_matmul is the reference sequence of support/gemmini_tiling.py, and replayed
through the functional model it computes C bit for bit like NumPy (odd shapes, both
dataflows, with/without bias, i8 scaled and i32 full-width outputs, forced small tiles)."""
from __future__ import annotations

import numpy as np
import pytest

from buddy._runtime import gemmini
from support import gemmini_replay as gr
from support import gemmini_tiling as gt


def tile_matmul_mlir(a, b, c, bias, *, scale: float, dataflow: str, relu: bool) -> str:
    args = [a, b, c] + ([bias] if bias is not None else [])
    sig = ", ".join(f"%a{i}: {gr.memref_type(x)}" for i, x in enumerate(args))
    bias_part = f" bias %a3 : {gr.memref_type(bias)}" if bias is not None else ""
    attrs = [f"scale = {np.float32(scale)!r} : f32".replace("np.float32(", "").replace(")", ""),
             f'dataflow = "{dataflow}"'] + (["relu"] if relu else [])
    return (f"func.func @f({sig}) {{\n"
            f"  gemmini.tile_matmul %a0, %a1 -> %a2{bias_part} {{{', '.join(attrs)}}} : "
            f"{gr.memref_type(a)}, {gr.memref_type(b)}, {gr.memref_type(c)}\n"
            f"  return\n}}\n")


def run_lowered(m, n, k, *, dataflow, bias, scale, relu=False, out="i8", tiles=(0, 0, 0)):
    a, b, bias_arr = gt.random_operands(m, n, k, bias, seed=7)
    c = np.full((m, n), 99, dtype=np.int8 if out == "i8" else np.int32)
    text = tile_matmul_mlir(a, b, c, bias_arr, scale=scale, dataflow=dataflow, relu=relu)
    opts = [f"tile-i={tiles[0]} tile-j={tiles[1]} tile-k={tiles[2]}"] if any(tiles) else []
    lowered = gr.lower(text, *opts)
    model = gemmini.Model()
    addrs = [model.map(x) for x in (a, b, c) + ((bias_arr,) if bias_arr is not None else ())]
    prog = gr.program(lowered, addrs)
    model.run(prog)
    if out == "i8":
        ref = gt.reference(a, b, bias_arr, scale, relu)
    else:
        ref = a.astype(np.int32) @ b.astype(np.int32) + (0 if bias_arr is None else bias_arr)
    return c, ref, prog, addrs, bias_arr


@pytest.mark.parametrize("dataflow", ["ws", "os"])
@pytest.mark.parametrize("bias", [None, "row", "full"])
@pytest.mark.parametrize("m,n,k,scale", [(1, 1, 1, 1.0), (17, 33, 9, 1 / 64), (50, 70, 40, 1 / 512)])
def test_lowered_matches_numpy_and_reference(m, n, k, scale, bias, dataflow):
    c, ref, prog, addrs, bias_arr = run_lowered(m, n, k, dataflow=dataflow, bias=bias, scale=scale)
    np.testing.assert_array_equal(c, ref)
    df = gt.WS if dataflow == "ws" else gt.OS
    expected = gt.tiled_matmul(addrs[0], addrs[1], addrs[2], addrs[3] if bias else None, m, n, k,
                               bias_per_row=bias == "full", scale=scale, dataflow=df)
    assert prog == expected


@pytest.mark.parametrize("dataflow", ["ws", "os"])
def test_lowered_small_tiles_and_relu(dataflow):
    c, ref, _, _, _ = run_lowered(37, 50, 100, dataflow=dataflow, bias="row", scale=1 / 1024,
                                  relu=True, tiles=(1, 2, 3))
    np.testing.assert_array_equal(c, ref)
    assert (c == 0).any()


@pytest.mark.parametrize("dataflow", ["ws", "os"])
def test_lowered_full_width_i32(dataflow):
    c, ref, _, _, _ = run_lowered(20, 18, 70, dataflow=dataflow, bias="full", scale=1.0, out="i32")
    np.testing.assert_array_equal(c, ref)


@pytest.mark.parametrize("dataflow", ["ws", "os"])
def test_lowered_larger_than_scratchpad(dataflow):
    # A (300 x 1000 int8) alone exceeds the 256 KiB scratchpad.
    c, ref, prog, _, _ = run_lowered(300, 40, 1000, dataflow=dataflow, bias="row", scale=1 / 4096)
    np.testing.assert_array_equal(c, ref)
    assert len(prog) > 1000


@pytest.mark.parametrize("dataflow", ["ws", "os"])
@pytest.mark.parametrize("m,n,k,bias,tiles", [
    # forced 2x2x8 tiles: 4 full I and J tiles + a remainder (22 rows / cols), 8 full K
    # tiles + a remainder (76); with bias, so the K loop includes the first tile.
    (150, 150, 1100, "row", (2, 2, 8)),
    # chosen 4x4x128 tiles: I 3 + 1 (40 rows), J 3 + 1 (8), K 2048 (overwrite) + 52.
    (232, 200, 2100, None, (0, 0, 0)),
], ids=["forced", "chosen"])
def test_lowered_loops_run_every_iteration(m, n, k, bias, tiles, dataflow):
    # A and B together exceed the 256 KiB scratchpad: the tile loops (scf.for) really run,
    # and the executed sequence is the reference's, instruction for instruction.
    assert m * k + k * n > 256 * 1024
    c, ref, prog, addrs, _ = run_lowered(m, n, k, dataflow=dataflow, bias=bias, scale=1 / 4096,
                                         tiles=tiles)
    np.testing.assert_array_equal(c, ref)
    df = gt.WS if dataflow == "ws" else gt.OS
    tiling = gt.Tiling(*tiles) if any(tiles) else None
    expected = gt.tiled_matmul(addrs[0], addrs[1], addrs[2], addrs[3] if bias else None, m, n, k,
                               scale=1 / 4096, dataflow=df, tiling=tiling)
    assert prog == expected
    a, b, bias_arr = gt.random_operands(m, n, k, bias, seed=7)
    lowered = gr.lower(tile_matmul_mlir(a, b, c, bias_arr, scale=1 / 4096, dataflow=dataflow,
                                        relu=False),
                       *([f"tile-i={tiles[0]} tile-j={tiles[1]} tile-k={tiles[2]}"]
                         if any(tiles) else []))
    static = sum(line.lstrip().startswith('"gemmini.') for line in lowered.splitlines())
    assert lowered.count('"scf.for"') >= 6 and 0 < static < 200 < len(prog) // 50


@pytest.mark.parametrize("dataflow", ["ws", "os"])
@pytest.mark.parametrize("zero_init", [True, False], ids=["fill0", "accumulate"])
def test_linalg_matmul_end_to_end(dataflow, zero_init):
    # linalg.matmul (C += A @ B, i8 x i8 -> i32) -> tile_matmul -> instructions -> model.
    m, n, k = 45, 37, 70
    rng = np.random.default_rng(11)
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    b = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
    c0 = rng.integers(-10**6, 10**6, size=(m, n), dtype=np.int32)
    c = c0.copy()
    ta, tb, tc = gr.memref_type(a), gr.memref_type(b), gr.memref_type(c)
    fill = f"  %z = arith.constant 0 : i32\n  linalg.fill ins(%z : i32) outs(%c : {tc})\n"
    text = (f"func.func @f(%a: {ta}, %b: {tb}, %c: {tc}) {{\n" + (fill if zero_init else "") +
            f"  linalg.matmul ins(%a, %b : {ta}, {tb}) outs(%c : {tc})\n  return\n}}\n")
    lowered = gr.lower(text, before=(f"--buddy-convert-linalg-to-gemmini=dataflow={dataflow}",))
    model = gemmini.Model()
    prog = gr.program(lowered, [model.map(a), model.map(b), model.map(c)])
    model.run(prog)
    ref = a.astype(np.int32) @ b.astype(np.int32) + (0 if zero_init else c0)
    np.testing.assert_array_equal(c, ref)


@pytest.mark.parametrize("dataflow", ["ws", "os"])
@pytest.mark.parametrize("bias", [None, "row", "full"])
def test_requantized_linalg_end_to_end(dataflow, bias):
    # matmul + bias + requant generic -> one tile_matmul with scale and bias -> model.
    m, n, k, scale = 33, 45, 70, 1 / 1024
    rng = np.random.default_rng(5)
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    b = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
    bias_arr = {None: None, "row": rng.integers(-50000, 50000, size=(n,), dtype=np.int32),
                "full": rng.integers(-50000, 50000, size=(m, n), dtype=np.int32)}[bias]
    out = np.full((m, n), 99, dtype=np.int8)
    lowered = gr.lower(gr.requant_mlir(m, n, k, bias, scale),
                       before=(f"--buddy-convert-linalg-to-gemmini=dataflow={dataflow}",))
    assert "linalg" not in lowered
    model = gemmini.Model()
    args = [model.map(a), model.map(b), model.map(out)] + ([model.map(bias_arr)] if bias else [])
    prog = gr.program(lowered, args)
    model.run(prog)
    np.testing.assert_array_equal(out, gt.reference(a, b, bias_arr, scale, relu=False))
