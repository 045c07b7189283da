"""One int8 conv_2d as memref-level MLIR for ``buddy compile -t riscv64-gemmini``
(tests/python/gemmini/test_gemmini_conv.py), and its NumPy reference.

``conv_case_mlir`` writes ``@forward(%x, %w[, %bias], %out {buddy.output})`` in either layout
(NHWC/HWCF or NCHW/FCHW): zero padding as a zero-filled buffer the input is copied into
(``buddy.gemmini.emit.padded_input``), a zero fill of an allocated i32 accumulator, the conv,
and for a requantized case the generic of ``buddy.gemmini.emit.requant_generic`` (i8 output);
otherwise a copy of the i32 sum to the output. (The accumulator is a fresh buffer so that
nothing that might alias the input is written between the padding copy and the conv: the
pass folds the padding into the im2col only then.)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from buddy.gemmini.emit import padded_input, requant_generic
from buddy.gemmini.quantize import conv_acc, requant


@dataclass(frozen=True)
class ConvCase:
    nchw: bool
    n: int
    c: int
    h: int
    w: int
    f: int
    k: int
    stride: int
    padding: int
    requant: bool      # i8 output through the requant generic (else the i32 sum)
    bias: bool
    relu: bool
    scale: float = 1 / 64

    @property
    def out_hw(self) -> tuple[int, int]:
        return ((self.h + 2 * self.padding - self.k) // self.stride + 1,
                (self.w + 2 * self.padding - self.k) // self.stride + 1)

    def x_shape(self) -> tuple[int, ...]:
        return ((self.n, self.c, self.h, self.w) if self.nchw else (self.n, self.h, self.w, self.c))

    def w_shape(self) -> tuple[int, ...]:
        return (self.f, self.c, self.k, self.k) if self.nchw else (self.k, self.k, self.c, self.f)

    def out_shape(self) -> tuple[int, ...]:
        oh, ow = self.out_hw
        return (self.n, self.f, oh, ow) if self.nchw else (self.n, oh, ow, self.f)

    @property
    def macs(self) -> int:
        oh, ow = self.out_hw
        return self.n * oh * ow * self.f * self.k * self.k * self.c


def _mt(shape: tuple[int, ...], elem: str) -> str:
    return "memref<" + "x".join(map(str, shape)) + f"x{elem}>"


def conv_case_mlir(case: ConvCase) -> str:
    layout = "nchw_fchw" if case.nchw else "nhwc_hwcf"
    tx, tw = _mt(case.x_shape(), "i8"), _mt(case.w_shape(), "i8")
    tacc = _mt(case.out_shape(), "i32")
    tout = _mt(case.out_shape(), "i8" if case.requant else "i32")
    args = [f"%x: {tx}", f"%w: {tw}"]
    if case.bias:
        args.append(f"%bias: {_mt((case.f,), 'i32')}")
    args.append(f"%out: {tout} {{buddy.output}}")
    body = ["  %z = arith.constant 0 : i32", "  %pad = arith.constant 0 : i8"]
    x, txin = "%x", tx
    if case.padding:
        lines, x, txin = padded_input("%x", case.x_shape(), case.padding, "%p", case.nchw)
        body += lines
    acc = "%acc"
    body.append(f"  %acc = memref.alloc() {{alignment = 64 : i64}} : {tacc}")
    body += [f"  linalg.fill ins(%z : i32) outs({acc} : {tacc})",
             f"  linalg.conv_2d_{layout} {{dilations = dense<1> : tensor<2xi64>, "
             f"strides = dense<{case.stride}> : tensor<2xi64>}}",
             f"      ins({x}, %w : {txin}, {tw}) outs({acc} : {tacc})"]
    if case.requant:
        body += requant_generic("%acc", "%bias" if case.bias else None, "%out",
                                case.out_shape(), 1 if case.nchw else 3,
                                np.float32(case.scale), case.relu)
    else:
        body.append(f"  memref.copy %acc, %out : {tacc} to {tout}")
    body.append(f"  memref.dealloc %acc : {tacc}")
    if case.padding:
        body.append(f"  memref.dealloc {x} : {txin}")
    return "\n".join([f"func.func @forward({', '.join(args)}) {{", *body, "  return", "}", ""])


def conv_case_inputs(case: ConvCase, seed: int) -> list[np.ndarray]:
    """Random int8 input and filter (and int32 bias) in the case's layout."""
    rng = np.random.default_rng(seed)
    arrays = [rng.integers(-128, 128, case.x_shape(), dtype=np.int8),
              rng.integers(-128, 128, case.w_shape(), dtype=np.int8)]
    if case.bias:
        arrays.append(rng.integers(-3000, 3000, case.f, dtype=np.int32))
    return arrays


def conv_case_reference(case: ConvCase, arrays: list[np.ndarray]) -> np.ndarray:
    """NumPy: the int32 conv (+ bias), requantized if the case is; in the case's layout."""
    x, w = arrays[0], arrays[1]
    bias = arrays[2] if case.bias else np.zeros(case.f, np.int32)
    if not case.nchw:
        x, w = x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1)
    acc = conv_acc(np.ascontiguousarray(x), np.ascontiguousarray(w), bias, case.stride,
                   case.padding)
    out = requant(acc, np.float32(case.scale), case.relu) if case.requant else acc
    return out if case.nchw else np.ascontiguousarray(out.transpose(0, 2, 3, 1))
