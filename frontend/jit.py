"""The reference runner: an imported module run in-process through MLIR's ExecutionEngine.

It lowers with the same named pipeline as every other entry point, `buddy-opt
--buddy-cpu-pipeline`, with the fast kernels off (`kernels=0`, the plain loop lowering), one
thread (`parallel-loops=0`) and MLIR's C interface instead of Buddy's packed entry points
(`packed-interface=0`), so the ExecutionEngine can call it without an OpenMP runtime. It exists
for the op-sample tests, which run some 1300 tiny modules; users and the Dynamo backend go through
`buddy.compile`. `JitModule` is the only entry point.
"""

from __future__ import annotations

import ctypes
import logging
import subprocess
import tempfile
from pathlib import Path
from typing import Any, List, Sequence

import torch
from mlir import ir
from mlir.execution_engine import ExecutionEngine

from .graph import TensorSpec

log = logging.getLogger("buddy.frontend")


def pipeline_flag(dialect: str, deallocation: bool = True) -> str:
    """The buddy-opt flag of the reference lowering (the one named pipeline, kernels off)."""
    return ("--buddy-cpu-pipeline=target=generic kernels=0 parallel-loops=0 packed-interface=0 "
            f"from-tosa={int(dialect == 'tosa')} deallocation={int(deallocation)}")


def runtime_libs() -> List[str]:
    """MLIR's C runner utils (memrefCopy...), shipped with the pip MLIR package."""
    import mlir
    for base in mlir.__path__:
        lib = Path(base) / "lib" / "libmlir_c_runner_utils.so"
        if lib.exists():
            return [str(lib)]
    return []


class JitError(RuntimeError):
    """The module cannot be lowered by the reference runner (reported instead of crashing in LLVM)."""


def _lower(tensor_text: str, dialect: str) -> str:
    try:
        return _lower_once(tensor_text, dialect, True)
    except JitError as first:
        # MLIR 22 cannot lower some multi-buffer deallocations (i1 memrefs): lower without
        # frees instead; such modules leak their temporaries on each call.
        try:
            text = _lower_once(tensor_text, dialect, False)
        except JitError:
            raise first from None
        log.warning("buddy reference runner: compiled without deallocation (%s)",
                    str(first).splitlines()[0])
        return text


def _lower_once(tensor_text: str, dialect: str, deallocation: bool) -> str:
    """Tensor-level MLIR -> LLVM dialect text through `buddy-opt --buddy-cpu-pipeline`."""
    from buddy.toolchain import find_tool

    with tempfile.TemporaryDirectory(prefix="buddy-jit-") as tmp:
        src = Path(tmp) / "in.mlir"
        src.write_text(tensor_text)
        cmd = [str(find_tool("buddy-opt")), str(src), pipeline_flag(dialect, deallocation)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        # e.g. LLVM 22's memref-to-llvm asserts on boolean (i1) buffers between TOSA ops.
        raise JitError(f"buddy-opt {pipeline_flag(dialect, deallocation)} failed (exit {proc.returncode}):\n"
                       f"{proc.stderr.strip()[-4000:]}")
    return proc.stdout


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
                 out_specs: Sequence[TensorSpec], opt_level: int = 2,
                 index_sites: Sequence[Any] = ()) -> None:
        self.arg_specs = list(arg_specs)
        self.out_specs = list(out_specs)
        self.index_sites = list(index_sites)  # the last output is index_errors when non-empty
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
            text = str(module)
        llvm_text = _lower(text, dialect)
        with self.ctx:
            self.engine = ExecutionEngine(ir.Module.parse(llvm_text), opt_level=opt_level,
                                          shared_libs=runtime_libs())

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
        from buddy.runtime.index_errors import check

        return check(outs, self.index_sites)
