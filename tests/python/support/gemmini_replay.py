"""Replays the instruction ops `buddy-opt --buddy-lower-gemmini` emits: reads the lowered
function (generic MLIR, parsed with the MLIR Python bindings), runs it (scf.for loops
iterate; rs1/rs2 from constants, memref aligned pointers bound to NumPy arrays, index casts,
additions and multiplications) and returns the executed (funct, rs1, rs2) program for the
Gemmini functional model."""
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
    """(funct, rs1, rs2) of each instruction op the module's single function executes, with
    the function's memref arguments at DRAM addresses `args`: a small interpreter of what the
    lowering emits (integer constants, aligned pointers, index casts, addi/muli on i64, and
    scf.for loops, which really run: every iteration's instructions are in the program)."""
    ctx = ir.Context()
    ctx.allow_unregistered_dialects = True
    module = ir.Module.parse(lowered, ctx)
    func = module.body.operations[0]
    block = func.regions[0].blocks[0]
    # Values live in a flat list of slots; each op is compiled once into a closure.
    slots: dict[ir.Value, int] = {}

    def slot(v: ir.Value) -> int:
        return slots.setdefault(v, len(slots))

    prog: list[tuple[int, int, int]] = []

    def compile_block(blk) -> list:
        steps = []
        for op in blk.operations:
            name = op.operation.name
            if name == "arith.constant":
                attr = op.attributes["value"]
                if isinstance(attr, ir.IntegerAttr):  # f32 ones are dead here
                    steps.append(("const", slot(op.results[0]),
                                  int(ir.IntegerAttr(attr).value) & MASK64))
            elif name in ("memref.extract_aligned_pointer_as_index", "arith.index_cast"):
                steps.append(("copy", slot(op.results[0]), slot(op.operands[0])))
            elif name in ("arith.addi", "arith.muli"):
                steps.append((name[6:], slot(op.results[0]), slot(op.operands[0]),
                              slot(op.operands[1])))
            elif name in FUNCT:
                steps.append(("instr", FUNCT[name], slot(op.operands[0]), slot(op.operands[1])))
            elif name == "scf.for":
                lb, ub, step = (slot(v) for v in op.operands[:3])
                assert len(op.operands) == 3, "scf.for with iter_args"
                body = op.regions[0].blocks[0]
                steps.append(("for", lb, ub, step, slot(body.arguments[0]), compile_block(body)))
            elif name in ("func.return", "scf.yield"):
                pass
            else:
                raise AssertionError(f"unexpected op {name} in the lowered function")
        return steps

    def run(steps, env: list[int]) -> None:
        for s in steps:
            kind = s[0]
            if kind == "const":
                env[s[1]] = s[2]
            elif kind == "copy":
                env[s[1]] = env[s[2]]
            elif kind == "addi":
                env[s[1]] = (env[s[2]] + env[s[3]]) & MASK64
            elif kind == "muli":
                env[s[1]] = (env[s[2]] * env[s[3]]) & MASK64
            elif kind == "instr":
                prog.append((s[1], env[s[2]], env[s[3]]))
            else:
                _, lb, ub, step, iv, body = s
                assert env[step] > 0
                for i in range(env[lb], env[ub], env[step]):  # i64 bounds: non-negative here
                    env[iv] = i
                    run(body, env)

    steps = compile_block(block)
    env = [0] * len(slots)
    for arg, addr in zip(block.arguments, args):
        env[slot(arg)] = addr
    env += [0] * (len(slots) - len(env))
    run(steps, env)
    return prog


def memref_type(a: np.ndarray) -> str:
    elem = {np.dtype(np.int8): "i8", np.dtype(np.int32): "i32"}[a.dtype]
    return "memref<" + "x".join(str(s) for s in a.shape) + f"x{elem}>"


def requant_mlir(m: int, n: int, k: int, bias: str | None, scale: float,
                 func_attrs: str = "") -> str:
    """`out = requant(A @ B + bias)` as linalg: a zero-filled i32 matmul and the requantizing
    generic --buddy-convert-linalg-to-gemmini folds into one tile op; bias None, "row" ([n])
    or "full" ([m, n]); `func_attrs` e.g. "attributes {llvm.emit_c_interface} "."""
    ta, tb, to, tacc = (f"memref<{m}x{k}xi8>", f"memref<{k}x{n}xi8>", f"memref<{m}x{n}xi8>",
                        f"memref<{m}x{n}xi32>")
    tbias = {None: "", "row": f"memref<{n}xi32>", "full": f"memref<{m}x{n}xi32>"}[bias]
    bias_arg = f", %bias: {tbias}" if bias else ""
    bmap = {None: "", "row": ", affine_map<(d0, d1) -> (d1)>",
            "full": ", affine_map<(d0, d1) -> (d0, d1)>"}[bias]
    ins = f"%acc, %bias : {tacc}, {tbias}" if bias else f"%acc : {tacc}"
    bb = ", %bb: i32" if bias else ""
    add = "    %s = arith.addi %x, %bb : i32\n" if bias else ""
    s = "%s" if bias else "%x"
    return f"""func.func @f(%a: {ta}, %b: {tb}, %out: {to}{bias_arg}) {func_attrs}{{
  %z = arith.constant 0 : i32
  %c = arith.constant {np.float32(scale).item()!r} : f32
  %lo = arith.constant -128.0 : f32
  %hi = arith.constant 127.0 : f32
  %acc = memref.alloc() : {tacc}
  linalg.fill ins(%z : i32) outs(%acc : {tacc})
  linalg.matmul ins(%a, %b : {ta}, {tb}) outs(%acc : {tacc})
  linalg.generic {{indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>{bmap}, affine_map<(d0, d1) -> (d0, d1)>],
                  iterator_types = ["parallel", "parallel"]}}
      ins({ins}) outs(%out : {to}) {{
  ^bb0(%x: i32{bb}, %o: i8):
{add}    %f = arith.sitofp {s} : i32 to f32
    %m = arith.mulf %f, %c : f32
    %r = math.roundeven %m : f32
    %l = arith.maximumf %r, %lo : f32
    %h = arith.minimumf %l, %hi : f32
    %i = arith.fptosi %h : f32 to i8
    linalg.yield %i : i8
  }}
  memref.dealloc %acc : {tacc}
  return
}}
"""
