"""Numerical tests of the Buddy GEMM/GEMV kernels: linalg on tensors is lowered
with `buddy-opt --buddy-cpu-pipeline`, compiled natively, run through the
`_buddy_<f>(void **)` ABI and compared with PyTorch (float64 reference).

Shapes cover the register-tile/vector/cache-block edges (ragged M, N, K),
both B layouts (plain and nn.Linear's transposed weight), the GEMV path
(M <= 4) and batch matmul (attention Q K^T and P V).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch


from support.midend_harness import MatmulSpec, aligned_empty, build_matmul, require_native_toolchain


def _reference(spec: MatmulSpec, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ta, tb = torch.from_numpy(a).double(), torch.from_numpy(b).double()
    if spec.transposed_b:
        tb = tb.transpose(-1, -2)
    return (ta @ tb).numpy()


def _check(spec: MatmulSpec, workdir: Path, options: str = "target=avx512") -> None:
    kernel = build_matmul(spec, workdir, options)
    sa, sb, sc = spec.shapes()
    rng = np.random.default_rng(abs(hash(spec.name)) % 2**32)
    a = rng.standard_normal(sa, dtype=np.float32)
    b = rng.standard_normal(sb, dtype=np.float32)
    c = aligned_empty(sc)
    c[...] = np.nan  # the kernel must overwrite every element
    kernel.bind(a, b, c)()
    ref = _reference(spec, a, b)
    # f32 accumulation of K products of N(0,1) values: error grows ~ sqrt(K).
    tol = 1e-5 * (1.0 + float(np.sqrt(spec.k)))
    assert np.isfinite(c).all(), f"{spec.name}: unwritten/NaN outputs"
    err = float(np.abs(c.astype(np.float64) - ref).max())
    assert err <= tol, f"{spec.name} [{options}]: max abs error {err:.3e} > {tol:.1e}"


GEMM_SHAPES = [
    (33, 65, 129),     # every dimension ragged w.r.t. 8 x 32 tiles and 16 lanes
    (8, 32, 16),       # exactly one register tile
    (1, 577, 1537),    # decode-like, handled by the GEMV kernel
    (577, 1537, 1),    # K = 1
    (100, 300, 520),   # K crosses the 256 cache block twice, N several panels
    (17, 1, 9),        # N = 1: a single masked lane
    (300, 20, 50),     # one N panel: M is split across threads
]


@pytest.mark.parametrize("transposed_b", [False, True], ids=["B_kn", "B_nk"])
@pytest.mark.parametrize("m,n,k", GEMM_SHAPES, ids=[f"{m}x{n}x{k}" for m, n, k in GEMM_SHAPES])
def test_matmul_matches_torch(tmp_path: Path, m: int, n: int, k: int, transposed_b: bool) -> None:
    require_native_toolchain()
    _check(MatmulSpec(m, n, k, transposed_b), tmp_path)


@pytest.mark.parametrize("m", [2, 3, 4, 5])
@pytest.mark.parametrize("transposed_b", [False, True], ids=["B_kn", "B_nk"])
def test_small_m_paths_match_torch(tmp_path: Path, m: int, transposed_b: bool) -> None:
    """M = 2..4 use the GEMV kernel (several rows), M = 5 the GEMM kernel."""
    require_native_toolchain()
    _check(MatmulSpec(m, 203, 77, transposed_b), tmp_path)


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("transposed_b", [False, True], ids=["PV", "QKt"])
def test_batch_matmul_matches_torch(tmp_path: Path, transposed_b: bool, batch: int) -> None:
    require_native_toolchain()
    _check(MatmulSpec(37, 45, 64, transposed_b, batch=batch), tmp_path)


DECODE_ATTENTION = [
    (3, 512, 64, True),    # scores = q k^T over a 512-position cache (SmolLM2: 3 KV heads x 3)
    (3, 64, 512, False),   # probs v
    (1, 45, 37, True),     # ragged N and K, one query row
    (4, 45, 37, False),
]


@pytest.mark.parametrize("m,n,k,transposed_b", DECODE_ATTENTION,
                         ids=[f"{m}x{n}x{k}{'_QKt' if t else '_PV'}" for m, n, k, t in DECODE_ATTENTION])
def test_small_m_batch_matmul_matches_torch(tmp_path: Path, m: int, n: int, k: int, transposed_b: bool) -> None:
    """Batched M <= 4 (decode attention) takes the GEMV kernel per (batch, N chunk) task."""
    require_native_toolchain()
    _check(MatmulSpec(m, n, k, transposed_b, batch=3), tmp_path)


@pytest.mark.parametrize("options", [
    "target=avx2",
    "target=generic",
    "target=avx512 mr=4 nr=16 kc=64 nc=96 threads=3",
    "target=avx512 gemv-rows=3 gemv-chunk=16",
    "target=avx512 pack-a=0",
    "target=avx512 mc=20 kc=32",  # mc rounded up to 24: M blocks of 24 + ragged last block
])
def test_pipeline_options_keep_results(tmp_path: Path, options: str) -> None:
    require_native_toolchain()
    _check(MatmulSpec(45, 131, 300, True), tmp_path, options)
    _check(MatmulSpec(1, 131, 300, True), tmp_path / "gemv", options)
    _check(MatmulSpec(1, 131, 300, False), tmp_path / "gemv_kn", options)


def test_unknown_target_is_a_clear_error(tmp_path: Path) -> None:
    require_native_toolchain()
    with pytest.raises(RuntimeError, match="unknown target 'sparc'"):
        build_matmul(MatmulSpec(4, 4, 4), tmp_path, "target=sparc")
