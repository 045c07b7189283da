"""Matmul + elementwise consumer (bias, activation, residual) fused into the GEMM
kernel's last K block (`buddy-matmul-vectorize fuse-epilogue=1`), compiled with
`--buddy-cpu-pipeline` and compared with PyTorch (float64 reference).

Each case is checked twice: the lowered IR must contain no linalg.generic left
for the consumer (it was fused), and the numbers must match, with the fusion
on and off. K below and above the 256 K block covers both the single-block
path (C never written) and partial sums kept in C between blocks.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from buddy import toolchain

from support.midend_harness import Kernel, aligned_empty, compile_module


def _ty(shape: tuple[int, ...]) -> str:
    return "tensor<" + "x".join(map(str, shape)) + "xf32>"


# body(bias, mm, residual) -> out; each in scalar MLIR and in torch.
EPILOGUES = {
    "bias_relu_residual": (
        """    %s = arith.addf %bias, %mm : f32
    %z = arith.constant 0.0 : f32
    %r = arith.maximumf %s, %z : f32
    %o = arith.addf %r, %res : f32""",
        lambda bias, mm, res: torch.relu(mm + bias) + res),
    "bias_gelu_tanh": (
        """    %s = arith.addf %bias, %mm : f32
    %c0 = arith.constant 0.7978845608 : f32
    %c1 = arith.constant 0.044715 : f32
    %half = arith.constant 0.5 : f32
    %one = arith.constant 1.0 : f32
    %x3 = arith.mulf %s, %s : f32
    %x3b = arith.mulf %x3, %s : f32
    %t0 = arith.mulf %x3b, %c1 : f32
    %t1 = arith.addf %s, %t0 : f32
    %t2 = arith.mulf %t1, %c0 : f32
    %t3 = math.tanh %t2 : f32
    %t4 = arith.addf %t3, %one : f32
    %t5 = arith.mulf %s, %half : f32
    %o0 = arith.mulf %t5, %t4 : f32
    %o = arith.addf %o0, %res : f32""",
        lambda bias, mm, res: torch.nn.functional.gelu(mm + bias, approximate="tanh") + res),
    "residual_scale_select": (
        """    %h = arith.constant 0.5 : f32
    %sc = arith.mulf %mm, %h : f32
    %pos = arith.cmpf ogt, %bias, %sc : f32
    %sel = arith.select %pos, %bias, %sc : f32
    %o = arith.subf %res, %sel : f32""",
        lambda bias, mm, res: res - torch.where(bias > mm * 0.5, bias, mm * 0.5)),
}


def _module(name: str, m: int, n: int, k: int, body: str, transposed_b: bool,
            return_mm: bool) -> str:
    sa, sc = (m, k), (m, n)
    sb = (n, k) if transposed_b else (k, n)
    maps_mm = ("indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, "
               "affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>] "
               if transposed_b else "")
    rets = f"{_ty(sc)}, {_ty(sc)}" if return_mm else _ty(sc)
    ret_vals = "%out, %prod : " + rets if return_mm else "%out : " + rets
    return f"""
#bias = affine_map<(d0, d1) -> (d1)>
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @{name}(%a: {_ty(sa)}, %b: {_ty(sb)}, %bias_t: tensor<{n}xf32>, %res_t: {_ty(sc)}) -> ({rets}) {{
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : {_ty(sc)}
  %acc = linalg.fill ins(%zero : f32) outs(%e : {_ty(sc)}) -> {_ty(sc)}
  %prod = linalg.matmul {maps_mm}ins(%a, %b : {_ty(sa)}, {_ty(sb)}) outs(%acc : {_ty(sc)}) -> {_ty(sc)}
  %e2 = tensor.empty() : {_ty(sc)}
  %out = linalg.generic {{indexing_maps = [#bias, #id, #id, #id], iterator_types = ["parallel", "parallel"]}}
      ins(%bias_t, %prod, %res_t : tensor<{n}xf32>, {_ty(sc)}, {_ty(sc)}) outs(%e2 : {_ty(sc)}) {{
  ^bb0(%bias: f32, %mm: f32, %res: f32, %unused: f32):
{body}
    linalg.yield %o : f32
  }} -> {_ty(sc)}
  return {ret_vals}
}}
"""


def _lowered_generics(mlir: str, workdir: Path, options: str) -> int:
    """linalg.generic ops left right after buddy-matmul-vectorize."""
    src = workdir / "fusion_probe.mlir"
    src.write_text(mlir)
    opt = str(toolchain.buddy_opt_path())
    pre = ("builtin.module(one-shot-bufferize{bufferize-function-boundaries=1 "
           "function-boundary-type-conversion=identity-layout-map}, "
           "buffer-results-to-out-params{hoist-static-allocs=1 modify-public-functions=1}, "
           "func.func(buffer-deallocation-pipeline), convert-bufferization-to-memref, canonicalize, "
           f"cse, func.func(buddy-matmul-vectorize{{{options}}}))")
    out = subprocess.run([opt, str(src), f"--pass-pipeline={pre}"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.count("linalg.generic")


SHAPES = [(37, 45, 70), (70, 100, 300), (8, 32, 16), (129, 17, 257)]


@pytest.mark.parametrize("epilogue", sorted(EPILOGUES))
@pytest.mark.parametrize("m,n,k", SHAPES, ids=[f"{m}x{n}x{k}" for m, n, k in SHAPES])
@pytest.mark.parametrize("transposed_b", [False, True], ids=["B_kn", "B_nk"])
def test_fused_epilogue_matches_torch(tmp_path: Path, epilogue: str, m: int, n: int, k: int,
                                      transposed_b: bool) -> None:
    body, ref_fn = EPILOGUES[epilogue]
    name = f"epi_{epilogue}_{m}x{n}x{k}_{'t' if transposed_b else 'n'}"
    mlir = _module(name, m, n, k, body, transposed_b, return_mm=False)
    assert _lowered_generics(mlir, tmp_path, "fuse-epilogue=1") == 0, "consumer was not fused"
    assert _lowered_generics(mlir, tmp_path, "fuse-epilogue=0") == 1
    rng = np.random.default_rng(m * 1000 + n + k)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if transposed_b else (k, n), dtype=np.float32)
    bias = rng.standard_normal((n,), dtype=np.float32)
    res = rng.standard_normal((m, n), dtype=np.float32)
    ta, tb = torch.from_numpy(a).double(), torch.from_numpy(b).double()
    mm = ta @ (tb.T if transposed_b else tb)
    ref = ref_fn(torch.from_numpy(bias).double(), mm, torch.from_numpy(res).double()).numpy()
    tol = 1e-5 * (1.0 + float(np.sqrt(k)))
    for fuse in (1, 0):
        so = compile_module(mlir, tmp_path / f"fuse{fuse}",
                            f"target=avx512 fuse-epilogue={fuse}")
        out = aligned_empty((m, n))
        out[...] = np.nan
        Kernel(so, name).bind(a, b, bias, res, out)()
        assert np.isfinite(out).all(), f"{name}: unwritten outputs (fuse-epilogue={fuse})"
        err = float(np.abs(out.astype(np.float64) - ref).max())
        assert err <= tol, f"{name} fuse-epilogue={fuse}: max abs error {err:.3e} > {tol:.1e}"


def test_matmul_result_read_elsewhere_is_not_fused(tmp_path: Path) -> None:
    """C is also returned: the kernel must still write it, so no fusion."""
    body, ref_fn = EPILOGUES["bias_relu_residual"]
    m, n, k = 33, 40, 300
    name = "epi_keep_c"
    mlir = _module(name, m, n, k, body, True, return_mm=True)
    assert _lowered_generics(mlir, tmp_path, "fuse-epilogue=1") == 1
    rng = np.random.default_rng(7)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((n, k), dtype=np.float32)
    bias = rng.standard_normal((n,), dtype=np.float32)
    res = rng.standard_normal((m, n), dtype=np.float32)
    so = compile_module(mlir, tmp_path / "keep", "target=avx512")
    out, mm_out = aligned_empty((m, n)), aligned_empty((m, n))
    Kernel(so, name).bind(a, b, bias, res, out, mm_out, outputs=2)()
    mm = torch.from_numpy(a).double() @ torch.from_numpy(b).double().T
    ref = ref_fn(torch.from_numpy(bias).double(), mm, torch.from_numpy(res).double()).numpy()
    tol = 1e-5 * (1.0 + float(np.sqrt(k)))
    assert float(np.abs(mm_out - mm.numpy()).max()) <= tol
    assert float(np.abs(out - ref).max()) <= tol
