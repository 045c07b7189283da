"""One int8 batch_matmul as memref-level MLIR for ``buddy compile -t riscv64-gemmini``
(tests/python/gemmini/test_gemmini_batch.py), and its NumPy reference.

``batch_case_mlir`` writes ``@forward(%a [B,M,K], %b [B,K,N][, %bias [N]], %out {buddy.output})``:
for a requantized case a zero fill of an allocated i32 accumulator, the batch_matmul and the
3-D generic of ``buddy.gemmini.emit.requant_generic`` (bias per column, i8 output); otherwise a
zero fill of the i32 output and the batch_matmul into it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from buddy.gemmini.emit import _mt, requant_generic
from buddy.gemmini.quantize import requant


@dataclass(frozen=True)
class BatchCase:
    b: int
    m: int
    n: int
    k: int
    requant: bool      # i8 output through the requant generic (else the i32 sum)
    bias: bool
    relu: bool
    scale: float = 1 / 1024

    @property
    def macs(self) -> int:
        return self.b * self.m * self.n * self.k


def batch_case_mlir(case: BatchCase) -> str:
    ta, tb = _mt((case.b, case.m, case.k), "i8"), _mt((case.b, case.k, case.n), "i8")
    out_shape = (case.b, case.m, case.n)
    tacc = _mt(out_shape, "i32")
    tout = _mt(out_shape, "i8" if case.requant else "i32")
    args = [f"%a: {ta}", f"%b: {tb}"]
    if case.bias:
        args.append(f"%bias: {_mt((case.n,), 'i32')}")
    args.append(f"%out: {tout} {{buddy.output}}")
    acc = "%acc" if case.requant else "%out"
    body = ["  %z = arith.constant 0 : i32"]
    if case.requant:
        body.append(f"  %acc = memref.alloc() {{alignment = 64 : i64}} : {tacc}")
    body += [f"  linalg.fill ins(%z : i32) outs({acc} : {tacc})",
             f"  linalg.batch_matmul ins(%a, %b : {ta}, {tb}) outs({acc} : {tacc})"]
    if case.requant:
        body += requant_generic("%acc", "%bias" if case.bias else None, "%out", out_shape, 2,
                                np.float32(case.scale), case.relu)
        body.append(f"  memref.dealloc %acc : {tacc}")
    return "\n".join([f"func.func @forward({', '.join(args)}) {{", *body, "  return", "}", ""])


def batch_case_inputs(case: BatchCase, seed: int) -> list[np.ndarray]:
    """Random int8 A and B (and int32 bias)."""
    rng = np.random.default_rng(seed)
    arrays = [rng.integers(-128, 128, (case.b, case.m, case.k), dtype=np.int8),
              rng.integers(-128, 128, (case.b, case.k, case.n), dtype=np.int8)]
    if case.bias:
        arrays.append(rng.integers(-3000, 3000, case.n, dtype=np.int32))
    return arrays


def batch_case_reference(case: BatchCase, arrays: list[np.ndarray]) -> np.ndarray:
    """NumPy: the int32 batched product (+ bias per column), requantized if the case is."""
    acc = np.matmul(arrays[0].astype(np.int32), arrays[1].astype(np.int32))
    if case.bias:
        acc = acc + arrays[2]
    return requant(acc, np.float32(case.scale), case.relu) if case.requant else acc
