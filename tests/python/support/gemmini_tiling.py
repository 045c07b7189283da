"""The tiled int8 matmul instruction sequence for Gemmini: the reference for what Buddy's
Gemmini lowering must emit (docs/gemmini.md), driven through the functional model
(`buddy._runtime.gemmini`, runtime/gemmini) by tests/python/gemmini.

C[M, N] int8 = sat8(rne(float32(A @ B + bias) * scale)) [relu], A int8 MxK, B int8 KxN, bias
int32 (N,) or (M, N). Layout in Gemmini's memories (rows of DIM elements):
  scratchpad:  A tile at row 0 ((i, k) block at (i * tk + k) * DIM), B tile after it
               ((k, j) block at a_rows + (k * tj + j) * DIM);
  accumulator: the C tile ((i, j) block at (i * tj + j) * DIM), int32.
Every DIM-long K block is written into the accumulator (overwrite for the first block
without bias, accumulate otherwise), in both dataflows: the accumulator is 32 bits wide,
the array's output only 20, so accumulating K inside the array (OS) could clip.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

CONFIG, MVIN2, MVIN, MVOUT, COMPUTE_PRELOADED, COMPUTE_ACCUMULATED, PRELOAD, FLUSH = range(8)
MVIN3 = 14
GARBAGE = 0xFFFFFFFF
ACC_BIT, ACCUMULATE_BIT, READ_FULL_BIT = 1 << 31, 1 << 30, 1 << 29
OS, WS = 0, 1

Instr = tuple[int, int, int]


@dataclass(frozen=True)
class Hardware:
    dim: int = 16
    sp_rows: int = 16384
    acc_rows: int = 1024
    dma_max_bytes: int = 64


def fields(addr: int, cols: int, rows: int) -> int:
    """rs2 of mvin/mvout, rs1/rs2 of preload/compute: addr[31:0] | cols[47:32] | rows[63:48]."""
    return (rows << 48) | (cols << 32) | addr


def f32_bits(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def config_ex(dataflow: int, scale: float, relu: bool, shift: int = 0, a_stride: int = 1) -> Instr:
    rs1 = (f32_bits(scale) << 32) | (a_stride << 16) | (int(relu) << 3) | (dataflow << 2)
    return (CONFIG, rs1, shift)


def config_ld(stride: int, mvin_id: int, shrunk: bool = False, scale: float = 1.0) -> Instr:
    return (CONFIG, (f32_bits(scale) << 32) | (mvin_id << 3) | (int(shrunk) << 2) | 1, stride)


def config_st(stride: int) -> Instr:
    return (CONFIG, 2, stride)


@dataclass(frozen=True)
class Tiling:
    """Tile sizes in DIM blocks: ti x tk of A, tk x tj of B, ti x tj of C per step."""
    ti: int
    tj: int
    tk: int


def choose_tiling(m: int, n: int, k: int, hw: Hardware = Hardware()) -> Tiling:
    """Largest tiles that fit: C in the accumulator, A and B together in the scratchpad."""
    d = hw.dim
    bi, bj, bk = -(-m // d), -(-n // d), -(-k // d)
    ti = min(bi, 4)
    tj = min(bj, 4)
    while ti * tj * d > hw.acc_rows:
        ti = max(1, ti // 2)
    tk = min(bk, hw.sp_rows // ((ti + tj) * d))
    return Tiling(ti, tj, tk)


def check_tiling(t: Tiling, hw: Hardware) -> None:
    d = hw.dim
    if min(t.ti, t.tj, t.tk) < 1:
        raise ValueError(f"empty tile {t}")
    if t.ti * t.tj * d > hw.acc_rows:
        raise ValueError(f"C tile of {t.ti}x{t.tj} blocks exceeds the accumulator")
    if (t.ti + t.tj) * t.tk * d > hw.sp_rows:
        raise ValueError(f"A and B tiles of {t} exceed the scratchpad")


def tiled_matmul(a_addr: int, b_addr: int, c_addr: int, bias_addr: int | None,
                 m: int, n: int, k: int, *, bias_per_row: bool = False, scale: float = 1.0,
                 relu: bool = False, dataflow: int = WS, tiling: Tiling | None = None,
                 hw: Hardware = Hardware()) -> list[Instr]:
    """The instruction sequence of C = requant(A @ B + bias); addresses are DRAM (host) bytes
    of C-contiguous A (int8 MxK), B (int8 KxN), C (int8 MxN), bias (int32 N or MxN)."""
    d = hw.dim
    t = tiling or choose_tiling(m, n, k, hw)
    check_tiling(t, hw)
    mvin_blocks = max(1, hw.dma_max_bytes // d)  # int8 blocks per mvin
    b_base = t.ti * t.tk * d
    prog: list[Instr] = [
        config_ex(dataflow, scale, relu),
        config_st(n),                 # C rows, int8
        config_ld(k, 0),              # mvin: A rows
        config_ld(n, 1),              # mvin2: B rows
        config_ld(n * 4 if bias_per_row else 0, 2),  # mvin3: bias, int32 (stride 0: repeated)
    ]

    def acc(row: int, accumulate: bool = False) -> int:
        return ACC_BIT | (ACCUMULATE_BIT if accumulate else 0) | row

    for i0 in range(0, m, t.ti * d):
        ni = -(-min(t.ti * d, m - i0) // d)
        for j0 in range(0, n, t.tj * d):
            nj = -(-min(t.tj * d, n - j0) // d)

            def rows_i(i: int) -> int:
                return min(d, m - i0 - i * d)

            def cols_j(j: int) -> int:
                return min(d, n - j0 - j * d)

            if bias_addr is not None:
                for i in range(ni):
                    for j in range(nj):
                        row = (i0 + i * d) if bias_per_row else 0
                        src = bias_addr + (row * n + j0 + j * d) * 4
                        prog.append((MVIN3, src, fields(acc((i * nj + j) * d), cols_j(j), rows_i(i))))
            for k0 in range(0, k, t.tk * d):
                nk = -(-min(t.tk * d, k - k0) // d)

                def rows_k(kk: int) -> int:
                    return min(d, k - k0 - kk * d)

                for i in range(ni):
                    for kb in range(0, nk, mvin_blocks):
                        cols = min(mvin_blocks * d, (nk - kb) * d, k - k0 - kb * d)
                        src = a_addr + (i0 + i * d) * k + k0 + kb * d
                        prog.append((MVIN, src, fields((i * t.tk + kb) * d, cols, rows_i(i))))
                for kk in range(nk):
                    for jb in range(0, nj, mvin_blocks):
                        cols = min(mvin_blocks * d, (nj - jb) * d, n - j0 - jb * d)
                        src = b_addr + (k0 + kk * d) * n + j0 + jb * d
                        prog.append((MVIN2, src, fields(b_base + (kk * t.tj + jb) * d, cols, rows_k(kk))))

                def c_of(i: int, j: int, kk: int) -> int:
                    first = k0 == 0 and kk == 0 and bias_addr is None
                    return fields(acc((i * nj + j) * d, accumulate=not first), cols_j(j), rows_i(i))

                def a_of(i: int, kk: int) -> int:
                    return fields((i * t.tk + kk) * d, rows_k(kk), rows_i(i))

                def b_of(kk: int, j: int) -> int:
                    return fields(b_base + (kk * t.tj + j) * d, cols_j(j), rows_k(kk))

                if dataflow == WS:
                    # B(k, j) stays in the array for every i: preload once, then reuse.
                    for j in range(nj):
                        for kk in range(nk):
                            for i in range(ni):
                                if i == 0:
                                    prog.append((PRELOAD, b_of(kk, j), c_of(i, j, kk)))
                                    prog.append((COMPUTE_PRELOADED, a_of(i, kk), fields(GARBAGE, d, d)))
                                else:
                                    prog.append((PRELOAD, fields(GARBAGE, d, d), c_of(i, j, kk)))
                                    prog.append((COMPUTE_ACCUMULATED, a_of(i, kk), fields(GARBAGE, d, d)))
                else:
                    for i in range(ni):
                        for j in range(nj):
                            for kk in range(nk):
                                prog.append((PRELOAD, fields(GARBAGE, d, d), c_of(i, j, kk)))
                                prog.append((COMPUTE_PRELOADED, a_of(i, kk), b_of(kk, j)))
            for i in range(ni):
                for j in range(nj):
                    dst = c_addr + (i0 + i * d) * n + j0 + j * d
                    prog.append((MVOUT, dst, fields(acc((i * nj + j) * d), cols_j(j), rows_i(i))))
    prog.append((FLUSH, 0, 0))
    return prog


def reference(a: np.ndarray, b: np.ndarray, bias: np.ndarray | None, scale: float,
              relu: bool) -> np.ndarray:
    """NumPy: int32 A @ B + bias, float32(acc) * float32(scale) (IEEE nearest-even), np.rint
    (nearest-even), saturate to int8, then ReLU: Gemmini's default accumulator scale unit."""
    acc = a.astype(np.int32) @ b.astype(np.int32)
    if bias is not None:
        acc = acc + bias.astype(np.int32)
    y = np.rint(acc.astype(np.float32) * np.float32(scale))
    out = np.clip(y, -128, 127).astype(np.int8)
    return np.maximum(out, 0) if relu else out


def random_operands(m: int, n: int, k: int, bias: str | None, seed: int = 0):
    """Random int8 A [m, k], B [k, n] and an int32 bias (None, "row": [n], "full": [m, n]) for
    the tests, from a stream seeded by `seed` and the shape."""
    rng = np.random.default_rng(seed + 1000 * m + 100 * n + k)
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    b = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
    bias_arr = None
    if bias == "row":
        bias_arr = rng.integers(-50000, 50000, size=(n,), dtype=np.int32)
    elif bias == "full":
        bias_arr = rng.integers(-50000, 50000, size=(m, n), dtype=np.int32)
    return a, b, bias_arr
