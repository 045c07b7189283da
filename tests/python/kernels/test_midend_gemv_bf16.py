"""bf16 GEMV (`--buddy-gemv-vectorize` on bf16 inputs) against PyTorch.

The functions are written the way the frontend lowers a bf16 `aten.mm` / `F.linear`:
bf16 A and B, an f32 `linalg.fill` + `linalg.matmul` (the named op extends the inputs
to f32), and for the bf16 result one elementwise `arith.truncf`. They are lowered
with `buddy-opt --buddy-cpu-pipeline`, compiled natively and called through the
`_buddy_<f>(void **)` ABI (bf16 travels as uint16 bits).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from buddy import toolchain
from buddy.backend.abi import aligned_empty

from support.midend_harness import compile_module, require_native_toolchain


def _ty(shape: tuple[int, ...], et: str) -> str:
    return "tensor<" + "x".join(map(str, shape)) + f"x{et}>"


def gemv_bf16_mlir(name: str, m: int, n: int, k: int, transposed_b: bool, out: str) -> str:
    """C[m, n] = A[m, k] @ B (B as (n, k) when `transposed_b`) with bf16 A, B and an
    f32 accumulator; `out` is the result type: f32, or bf16 (one truncf at the end)."""
    sa, sb, sc = (m, k), ((n, k) if transposed_b else (k, n)), (m, n)
    maps = ""
    if transposed_b:
        maps = ("indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, "
                "affine_map<(m, n, k) -> (m, n)>] ")
    lines = [
        f"func.func @{name}(%a: {_ty(sa, 'bf16')}, %b: {_ty(sb, 'bf16')}) -> {_ty(sc, out)} {{",
        "  %zero = arith.constant 0.0 : f32",
        f"  %e = tensor.empty() : {_ty(sc, 'f32')}",
        f"  %acc = linalg.fill ins(%zero : f32) outs(%e : {_ty(sc, 'f32')}) -> {_ty(sc, 'f32')}",
        f"  %r = linalg.matmul {maps}ins(%a, %b : {_ty(sa, 'bf16')}, {_ty(sb, 'bf16')}) "
        f"outs(%acc : {_ty(sc, 'f32')}) -> {_ty(sc, 'f32')}",
    ]
    if out == "f32":
        lines.append(f"  return %r : {_ty(sc, 'f32')}")
    else:
        lines += [
            f"  %eo = tensor.empty() : {_ty(sc, 'bf16')}",
            f"  %t = linalg.generic {{indexing_maps = [affine_map<(i, j) -> (i, j)>, "
            f"affine_map<(i, j) -> (i, j)>], iterator_types = [\"parallel\", \"parallel\"]}} "
            f"ins(%r : {_ty(sc, 'f32')}) outs(%eo : {_ty(sc, 'bf16')}) {{",
            "  ^bb0(%x: f32, %o: bf16):",
            "    %y = arith.truncf %x : f32 to bf16",
            "    linalg.yield %y : bf16",
            f"  }} -> {_ty(sc, 'bf16')}",
            f"  return %t : {_ty(sc, 'bf16')}",
        ]
    return "\n".join(lines + ["}"]) + "\n"


def _bits(t: torch.Tensor) -> np.ndarray:
    """A bf16 tensor as a 64-byte aligned uint16 array (the ABI's bf16 form)."""
    a = aligned_empty(tuple(t.shape), np.uint16)
    a[...] = t.contiguous().view(torch.uint16).numpy()
    return a


def _run(tmp_path: Path, m: int, n: int, k: int, transposed_b: bool, out: str):
    name = f"gemv_bf16_{m}x{n}x{k}_{'t' if transposed_b else 'n'}_{out}"
    so = compile_module(gemv_bf16_mlir(name, m, n, k, transposed_b, out), tmp_path / name)
    g = torch.Generator().manual_seed(m * 1_000_003 + n * 1009 + k)
    a = torch.randn(m, k, generator=g).to(torch.bfloat16)
    b = torch.randn(*((n, k) if transposed_b else (k, n)), generator=g).to(torch.bfloat16)
    c = aligned_empty((m, n), np.float32 if out == "f32" else np.uint16)
    c[...] = 0x7FC0 if out == "bf16" else np.nan  # NaN: every element must be written
    from buddy import _runtime

    fn = _runtime.Library(str(so)).function(
        name, [("bf16", tuple(a.shape)), ("bf16", tuple(b.shape))], [(out, (m, n))])
    fn.bind([_bits(a), _bits(b), c])()
    got = torch.from_numpy(c.copy()).view(torch.bfloat16).float() if out == "bf16" else torch.from_numpy(c)
    # Exact reference: products of bf16 values are exact in float64.
    bb = b.double().T if transposed_b else b.double()
    ref = a.double() @ bb
    return a, b, got.double(), ref


def _f32_tol(k: int) -> float:
    # f32 accumulation of k products of N(0,1) values (as test_midend_matmul.py): ~sqrt(k) growth.
    # A bf16 accumulator would be off by ~2^-9 * sqrt(k) * |partial sums|, far above this.
    return 1e-5 * (1.0 + float(np.sqrt(k)))


SHAPES = [(1, 131, 300), (1, 577, 1537), (2, 203, 77), (4, 64, 4096), (1, 17, 9)]


@pytest.mark.parametrize("transposed_b", [True, False], ids=["B_nk", "B_kn"])
@pytest.mark.parametrize("m,n,k", SHAPES, ids=[f"{m}x{n}x{k}" for m, n, k in SHAPES])
def test_bf16_inputs_accumulate_in_f32(tmp_path: Path, m: int, n: int, k: int, transposed_b: bool) -> None:
    """f32 result: only f32 accumulation error is allowed (the inputs are exact)."""
    require_native_toolchain()
    _, _, got, ref = _run(tmp_path, m, n, k, transposed_b, "f32")
    assert torch.isfinite(got).all(), "unwritten/NaN outputs"
    err = float((got - ref).abs().max())
    assert err <= _f32_tol(k), f"max abs error {err:.3e} > {_f32_tol(k):.1e}"


@pytest.mark.parametrize("transposed_b", [True, False], ids=["B_nk", "B_kn"])
@pytest.mark.parametrize("m,n,k", [(1, 577, 1537), (3, 203, 77)], ids=["1x577x1537", "3x203x77"])
def test_bf16_result_matches_torch_linear(tmp_path: Path, m: int, n: int, k: int, transposed_b: bool) -> None:
    """bf16 result: one rounding of the f32 sum, as torch's bf16 matmul does. Each output is
    within half a bf16 ulp (2^-9 relative) of the exact value plus the f32 accumulation error,
    and within one bf16 ulp (2^-8 relative, both roundings of nearly the same f32 sum) of
    torch's own bf16 `a @ b`."""
    require_native_toolchain()
    a, b, got, ref = _run(tmp_path, m, n, k, transposed_b, "bf16")
    assert torch.isfinite(got).all(), "unwritten/NaN outputs"
    tol = _f32_tol(k)
    assert ((got - ref).abs() <= ref.abs() * 2.0 ** -8 + tol).all(), \
        f"max abs error {float((got - ref).abs().max()):.3e}"
    theirs = (a @ (b.T if transposed_b else b)).double()
    assert ((got - theirs).abs() <= ref.abs() * 2.0 ** -7 + tol).all(), \
        f"vs torch bf16: max abs diff {float((got - theirs).abs().max()):.3e}"
    # Most outputs round to the very same bf16 value as torch.
    assert float((got == theirs).double().mean()) > 0.9


def test_bf16_gemv_kernel_is_used(tmp_path: Path) -> None:
    """The bf16 matmul is rewritten (no scalar linalg loop left) by the CPU pipeline."""
    src = tmp_path / "k.mlir"
    src.write_text(gemv_bf16_mlir("k", 1, 64, 256, True, "bf16"))
    res = subprocess.run([str(toolchain.buddy_opt_path()), str(src),
                          "--buddy-cpu-pipeline=target=avx512 packed-interface=0"],
                         capture_output=True, text=True, check=True)
    assert "llvm.fpext" in res.stdout and "vector<16xbf16> to vector<16xf32>" in res.stdout, \
        "expected bf16 vector loads extended to f32 (the GEMV kernel)"
