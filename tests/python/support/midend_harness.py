"""Compile small linalg-on-tensors matmul functions with `--buddy-cpu-pipeline`
and call them through the `_buddy_<f>(void **args)` ABI (docs/interfaces.md), via
`buddy._runtime` (Function.bind: descriptors built once per bound call).

Shared by tests/python/kernels/test_midend_matmul.py (correctness) and
bench/bench_matmul.py (timing). Native code: buddy-opt -> mlir-translate ->
llc -O3 (host CPU) -> cc -shared, linked against libomp.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from buddy import toolchain


@dataclass(frozen=True)
class MatmulSpec:
    """C[b?, M, N] = A[b?, M, K] @ B, with B as (K, N) or, if `transposed_b`,
    as (N, K) (nn.Linear's weight, read through linalg.transpose)."""

    m: int
    n: int
    k: int
    transposed_b: bool = False
    batch: int = 0  # 0: plain matmul, > 0: batch_matmul

    @property
    def name(self) -> str:
        t = "t" if self.transposed_b else "n"
        b = f"b{self.batch}_" if self.batch else ""
        return f"mm_{b}{self.m}x{self.n}x{self.k}_{t}"

    def shapes(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        pre = (self.batch,) if self.batch else ()
        b = (self.n, self.k) if self.transposed_b else (self.k, self.n)
        return pre + (self.m, self.k), pre + b, pre + (self.m, self.n)


def _ty(shape: tuple[int, ...]) -> str:
    return "tensor<" + "x".join(map(str, shape)) + "xf32>"


def matmul_mlir(spec: MatmulSpec) -> str:
    """The function as the frontend emits it: fill(0) + (batch_)matmul,
    with a linalg.transpose of the weight for the transposed-B form."""
    sa, sb, sc = spec.shapes()
    op = "linalg.batch_matmul" if spec.batch else "linalg.matmul"
    lines = [
        f"func.func @{spec.name}(%a: {_ty(sa)}, %b: {_ty(sb)}) -> {_ty(sc)} {{",
        "  %zero = arith.constant 0.0 : f32",
        f"  %e = tensor.empty() : {_ty(sc)}",
        f"  %acc = linalg.fill ins(%zero : f32) outs(%e : {_ty(sc)}) -> {_ty(sc)}",
    ]
    rhs, rhs_ty = "%b", _ty(sb)
    if spec.transposed_b:
        pre = (spec.batch,) if spec.batch else ()
        st = pre + (spec.k, spec.n)
        perm = "[0, 2, 1]" if spec.batch else "[1, 0]"
        lines += [
            f"  %et = tensor.empty() : {_ty(st)}",
            f"  %bt = linalg.transpose ins(%b : {_ty(sb)}) outs(%et : {_ty(st)}) "
            f"permutation = {perm}",
        ]
        rhs, rhs_ty = "%bt", _ty(st)
    lines += [
        f"  %r = {op} ins(%a, {rhs} : {_ty(sa)}, {rhs_ty}) outs(%acc : {_ty(sc)})"
        f" -> {_ty(sc)}",
        f"  return %r : {_ty(sc)}",
        "}",
    ]
    return "\n".join(lines) + "\n"


def skip_module_without_model_toolchain() -> None:
    """Skip the calling test module when buddy-opt, llc or a C compiler (to link the model
    library) is missing."""
    import shutil

    import pytest

    try:
        toolchain.find_tool("buddy-opt")
        toolchain.find_tool("llc")
    except toolchain.ToolNotFound as e:  # pragma: no cover - depends on the toolchain
        pytest.skip(f"toolchain incomplete: {e}", allow_module_level=True)
    if not any(shutil.which(c) for c in ("cc", "gcc", "clang")):
        pytest.skip("no C compiler to link the model library", allow_module_level=True)


def require_native_toolchain() -> None:
    """Skip the calling test when the native toolchain (libomp, mlir-translate, llc, cc) is missing."""
    import pytest

    try:
        toolchain.find_libomp()
        toolchain.find_tool("mlir-translate")
        toolchain.find_tool("llc")
        toolchain.find_tool("cc")
    except toolchain.ToolNotFound as e:  # pragma: no cover - environment
        pytest.skip(str(e))


def _run(cmd: list[str], **kw: object) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{res.stderr[-4000:]}")


def compile_module(mlir: str, workdir: Path, pipeline_options: str = "target=avx512") -> Path:
    """Lower `mlir` with --buddy-cpu-pipeline and link a shared library."""
    workdir.mkdir(parents=True, exist_ok=True)
    src = workdir / "kernel.mlir"
    src.write_text(mlir)
    llvm_mlir, ll, obj, so = (workdir / n for n in ("kernel.llvm.mlir", "kernel.ll", "kernel.o", "kernel.so"))
    _run([str(toolchain.buddy_opt_path()), str(src),
          f"--buddy-cpu-pipeline={pipeline_options}", "-o", str(llvm_mlir)])
    _run([str(toolchain.find_tool("mlir-translate")), "--mlir-to-llvmir", str(llvm_mlir), "-o", str(ll)])
    _run([str(toolchain.find_tool("llc")), "-O3", "-mcpu=native", "-filetype=obj",
          "--relocation-model=pic", str(ll), "-o", str(obj)])
    omp = toolchain.find_libomp()
    _run([str(toolchain.find_tool("cc")), "-shared", "-o", str(so), str(obj),
          f"-L{omp.parent}", "-lomp", f"-Wl,-rpath,{omp.parent}"])
    return so


def _spec(arr: np.ndarray) -> tuple[str, tuple[int, ...]]:
    """(dtype, shape) of an argument array, in the runtime's dtype names."""
    names = {np.dtype(np.float32): "f32", np.dtype(np.float16): "f16", np.dtype(np.uint16): "bf16",
             np.dtype(np.float64): "f64", np.dtype(np.int32): "i32", np.dtype(np.int64): "i64"}
    return names[arr.dtype], tuple(arr.shape)


class Kernel:
    """One compiled function `f(a, b, ...) -> c`, called as `_buddy_f(void**)` through
    `buddy._runtime` (the signature is taken from the arrays given to `bind`)."""

    def __init__(self, so: Path, name: str) -> None:
        from buddy import _runtime

        self._lib = _runtime.Library(str(so))
        self._name = name

    def bind(self, *arrays: np.ndarray, outputs: int = 1) -> "BoundCall":
        """Bind every argument (inputs, then the last `outputs` arrays as outputs)."""
        specs = [_spec(a) for a in arrays]
        fn = self._lib.function(self._name, specs[:-outputs], specs[-outputs:])
        return fn.bind(list(arrays))


def aligned_empty(shape: tuple[int, ...]) -> np.ndarray:
    """A 64-byte aligned C-contiguous f32 array (the ABI's output contract)."""
    n = int(np.prod(shape))
    buf = np.empty(n + 16, dtype=np.float32)
    off = (-buf.ctypes.data % 64) // 4
    return buf[off:off + n].reshape(shape)


def build_matmul(spec: MatmulSpec, workdir: Path, pipeline_options: str = "target=avx512") -> Kernel:
    return Kernel(compile_module(matmul_mlir(spec), workdir / spec.name, pipeline_options), spec.name)
