"""Run an imported module in-process through MLIR's ExecutionEngine (upstream passes only).

This is the frontend's reference runner until the AOT backend takes over; `JitModule` is the
only entry point, so it can be swapped without touching callers.
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path
from typing import List, Sequence

import torch
from mlir import ir
from mlir.execution_engine import ExecutionEngine
from mlir.passmanager import PassManager

from .graph import TensorSpec

log = logging.getLogger("buddy.frontend")

TOSA_TO_LINALG = ("func.func(tosa-to-linalg-named, tosa-to-linalg, tosa-to-arith, tosa-to-tensor)",
                  "linalg-fuse-elementwise-ops", "canonicalize")
LOWER_TO_LLVM = (
    "canonicalize",
    "one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map}",
    "buffer-results-to-out-params{modify-public-functions hoist-static-allocs}",
    "buffer-deallocation-pipeline",
    "func.func(convert-linalg-to-loops)",
    "expand-strided-metadata",
    "lower-affine",
    "convert-scf-to-cf",
    "arith-expand",
    "convert-math-to-llvm",
    "convert-math-to-libm",
    "finalize-memref-to-llvm",
    "convert-arith-to-llvm",
    "convert-func-to-llvm",
    "convert-cf-to-llvm",
    "reconcile-unrealized-casts",
)


def runtime_libs() -> List[str]:
    """MLIR's C runner utils (memrefCopy...), shipped with the pip MLIR package."""
    import mlir
    for base in mlir.__path__:
        lib = Path(base) / "lib" / "libmlir_c_runner_utils.so"
        if lib.exists():
            return [str(lib)]
    return []


def pipeline(dialect: str) -> str:
    passes = (TOSA_TO_LINALG if dialect == "tosa" else ()) + LOWER_TO_LLVM
    return "builtin.module(" + ",".join(passes) + ")"


class JitError(RuntimeError):
    """The module cannot be lowered by the JIT (reported instead of crashing inside LLVM)."""


def _check_no_i1_buffers(module: ir.Module) -> None:
    # LLVM 22's memref-to-llvm asserts on i1 loads/stores: an i1 tensor that survives fusion would
    # become an i1 buffer and abort the process, so refuse it with a clear message instead.
    text = str(module)
    if "xi1>" in text or "tensor<i1>" in text:
        raise JitError("the module keeps boolean (i1) tensors between ops after elementwise fusion; "
                       "MLIR 22 cannot lower i1 buffers. Use dialect=\"linalg\" (which stores bools as i8).")


_FINALIZE = LOWER_TO_LLVM.index("finalize-memref-to-llvm")


def _run(module: ir.Module, passes: Sequence[str]) -> None:
    PassManager.parse("builtin.module(" + ",".join(passes) + ")").run(module.operation)


_DECOMPOSE_SOFTMAX = """module attributes {transform.with_named_sequence} {
transform.named_sequence @__buddy_decompose_softmax(%root: !transform.any_op {transform.readonly}) {
  %s = transform.structured.match ops{["linalg.softmax"]} in %root : (!transform.any_op) -> !transform.any_op
  %d = transform.structured.decompose_interface %s : (!transform.any_op) -> !transform.any_op
  transform.yield
}
}"""


def _decompose_softmax(module: ir.Module) -> None:
    """linalg.softmax (the frontend's form for buddy-opt's row kernel) -> max/exp/sum/div generics,
    with upstream's transform interpreter: the upstream-only JIT pipeline cannot lower it otherwise."""
    if "linalg.softmax" not in str(module):
        return
    library = ir.Module.parse(_DECOMPOSE_SOFTMAX)
    seq = library.body.operations[0]
    module.body.append(seq)
    module.operation.attributes["transform.with_named_sequence"] = ir.UnitAttr.get()
    try:
        _run(module, ("transform-interpreter{entry-point=__buddy_decompose_softmax}",))
    finally:
        seq.erase()
        del module.operation.attributes["transform.with_named_sequence"]


def _has_i1_buffers(module: ir.Module) -> bool:
    text = str(module)
    return "xi1>" in text or "memref<i1>" in text


def _descriptor(t: torch.Tensor) -> ctypes.Structure:
    """A StridedMemRefType descriptor pointing at the (contiguous) tensor's storage."""
    rank = t.dim()
    fields = [("allocated", ctypes.c_void_p), ("aligned", ctypes.c_void_p), ("offset", ctypes.c_longlong)]
    if rank:
        fields += [("sizes", ctypes.c_longlong * rank), ("strides", ctypes.c_longlong * rank)]
    cls = type(f"MemRef{rank}", (ctypes.Structure,), {"_fields_": fields})
    d = cls()
    d.allocated = d.aligned = t.data_ptr()
    d.offset = 0
    if rank:
        d.sizes = (ctypes.c_longlong * rank)(*t.shape)
        d.strides = (ctypes.c_longlong * rank)(*t.stride())
    return d


class JitModule:
    """Lower an imported module to LLVM and call `forward` on torch tensors."""

    def __init__(self, mlir_text: str, dialect: str, arg_specs: Sequence[TensorSpec],
                 out_specs: Sequence[TensorSpec], opt_level: int = 2) -> None:
        self.arg_specs = list(arg_specs)
        self.out_specs = list(out_specs)
        self.ctx = ir.Context()
        with self.ctx:
            module = ir.Module.parse(mlir_text)
            for f in module.body.operations:
                if f.operation.name == "func.func" and ir.StringAttr(f.attributes["sym_name"]).value == "forward":
                    f.attributes["llvm.emit_c_interface"] = ir.UnitAttr.get()
                    # Inputs and (read-only, possibly mmapped) weights must never be bufferized in place.
                    n_args = len(ir.FunctionType(ir.TypeAttr(f.attributes["function_type"]).value).inputs)
                    f.attributes["arg_attrs"] = ir.ArrayAttr.get(
                        [ir.DictAttr.get({"bufferization.writable": ir.BoolAttr.get(False)})] * n_args)
            if dialect == "tosa":
                PassManager.parse("builtin.module(" + ",".join(TOSA_TO_LINALG) + ")").run(module.operation)
            _decompose_softmax(module)
            _check_no_i1_buffers(module)
            tensor_level = str(module)
            _run(module, LOWER_TO_LLVM[:_FINALIZE])
            if _has_i1_buffers(module):
                # Ownership-based deallocation lowers multi-buffer deallocs (e.g. buffers yielded
                # by scf.if) to a helper on i1 memrefs, which finalize-memref-to-llvm cannot lower
                # in MLIR 22 (assertion). Lower without deallocation instead: such modules leak
                # their temporaries on each call.
                log.warning("buddy JIT: deallocation needs i1 buffers; compiling without frees")
                module = ir.Module.parse(tensor_level)
                _run(module, tuple(p for p in LOWER_TO_LLVM[:_FINALIZE] if p != "buffer-deallocation-pipeline"))
                if _has_i1_buffers(module):
                    raise JitError("bufferization produced i1 buffers, which MLIR 22 cannot lower to LLVM")
            _run(module, LOWER_TO_LLVM[_FINALIZE:])
            self.engine = ExecutionEngine(module, opt_level=opt_level, shared_libs=runtime_libs())

    def __call__(self, *args: torch.Tensor) -> List[torch.Tensor]:
        if len(args) != len(self.arg_specs):
            raise TypeError(f"forward expects {len(self.arg_specs)} tensors, got {len(args)}")
        keep = []
        for a, s in zip(args, self.arg_specs):
            if tuple(a.shape) != tuple(s.shape) or a.dtype != s.torch_dtype:
                raise TypeError(f"argument {s.name}: expected {s.dtype}{list(s.shape)}, "
                                f"got {a.dtype}{list(a.shape)}")
            keep.append(a.detach().contiguous())
        outs = [torch.empty(s.shape, dtype=s.torch_dtype) for s in self.out_specs]
        descs = [_descriptor(t) for t in keep + outs]
        ptrs = [ctypes.pointer(ctypes.pointer(d)) for d in descs]
        self.engine.invoke("forward", *ptrs)
        return outs
