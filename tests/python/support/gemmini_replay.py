"""Replays the instruction ops `buddy-opt --buddy-lower-gemmini` emits: reads the lowered
function (generic MLIR, parsed with the MLIR Python bindings), evaluates each op's rs1/rs2
(constants, memref aligned pointers bound to NumPy arrays, index casts, additions) and
returns the (funct, rs1, rs2) program for the Gemmini functional model."""
from __future__ import annotations

import subprocess

import numpy as np
from mlir import ir

from buddy.toolchain import buddy_opt_path

FUNCT = {
    "gemmini.config_ex": 0, "gemmini.config_ld": 0, "gemmini.config_st": 0,
    "gemmini.mvin2": 1, "gemmini.mvin": 2, "gemmini.mvout": 3,
    "gemmini.compute_preloaded": 4, "gemmini.compute_accumulated": 5, "gemmini.preload": 6,
    "gemmini.flush": 7, "gemmini.loop_ws": 8, "gemmini.mvin3": 14,
}
MASK64 = (1 << 64) - 1


def lower(mlir_text: str, *options: str, before: tuple[str, ...] = ()) -> str:
    """The function after the passes `before` and --buddy-lower-gemmini=<options>, in the
    generic op form."""
    opts = " ".join(options)
    flag = f"--buddy-lower-gemmini={opts}" if opts else "--buddy-lower-gemmini"
    return subprocess.run([str(buddy_opt_path()), *before, flag, "--mlir-print-op-generic"],
                          input=mlir_text, capture_output=True, text=True, check=True).stdout


def program(lowered: str, args: list[int]) -> list[tuple[int, int, int]]:
    """(funct, rs1, rs2) of each instruction op of the module's single function, with the
    function's memref arguments at DRAM addresses `args`."""
    ctx = ir.Context()
    ctx.allow_unregistered_dialects = True
    module = ir.Module.parse(lowered, ctx)
    func = module.body.operations[0]
    block = func.regions[0].blocks[0]
    values: dict[ir.Value, int] = {arg: addr for arg, addr in zip(block.arguments, args)}
    prog = []
    for op in block.operations:
        name = op.operation.name
        if name == "arith.constant":
            if isinstance(op.attributes["value"], ir.IntegerAttr):  # f32 ones are dead here
                values[op.results[0]] = int(ir.IntegerAttr(op.attributes["value"]).value) & MASK64
        elif name in ("memref.extract_aligned_pointer_as_index", "arith.index_cast"):
            values[op.results[0]] = values[op.operands[0]]
        elif name == "arith.addi":
            values[op.results[0]] = (values[op.operands[0]] + values[op.operands[1]]) & MASK64
        elif name in FUNCT:
            prog.append((FUNCT[name], values[op.operands[0]], values[op.operands[1]]))
        elif name in ("func.return",):
            pass
        else:
            raise AssertionError(f"unexpected op {name} in the lowered function")
    return prog


def memref_type(a: np.ndarray) -> str:
    elem = {np.dtype(np.int8): "i8", np.dtype(np.int32): "i32"}[a.dtype]
    return "memref<" + "x".join(str(s) for s in a.shape) + f"x{elem}>"
