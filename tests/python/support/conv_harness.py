"""Small linalg-on-tensors 2-D convolution and pooling functions, written the
way the frontend emits them (zero / -inf padding as a filled tensor plus
tensor.insert_slice, a filled accumulator, then the named linalg op), compiled
with `--buddy-cpu-pipeline` and called through the `_buddy_<f>(void **)` ABI.

Shared by tests/python/kernels/test_midend_conv.py (correctness) and
bench/bench_conv.py (timing); compilation and calls come from midend_harness.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from support.midend_harness import Kernel, compile_module

Pair = tuple[int, int]


def _ty(shape: tuple[int, ...]) -> str:
    return "tensor<" + "x".join(map(str, shape)) + "xf32>"


def _dense(p: Pair) -> str:
    return f"dense<[{p[0]}, {p[1]}]> : tensor<2xi64>"


def _out(size: int, k: int, stride: int, pad: int, dil: int) -> int:
    return (size + 2 * pad - dil * (k - 1) - 1) // stride + 1


@dataclass(frozen=True)
class ConvSpec:
    """O = conv2d(X, W) without bias, as nn.Conv2d(c, f, (kh, kw), stride,
    padding, dilation, groups) computes it. `layout` "nchw" (X NCHW, W FCHW, the
    frontend's layout) or "nhwc" (X NHWC, W HWCF). groups > 1 (nchw only) is
    emitted like the frontend: linalg.conv_2d_ngchw_gfchw on channel-split views."""

    n: int
    c: int
    h: int
    w: int
    f: int
    kh: int
    kw: int
    stride: Pair = (1, 1)
    pad: Pair = (0, 0)
    dil: Pair = (1, 1)
    layout: str = "nchw"
    groups: int = 1

    def __post_init__(self) -> None:
        if self.groups > 1 and (self.layout != "nchw" or self.c % self.groups or self.f % self.groups):
            raise ValueError(f"groups={self.groups} needs nchw and c, f divisible by it")

    @property
    def out_hw(self) -> Pair:
        return (_out(self.h, self.kh, self.stride[0], self.pad[0], self.dil[0]),
                _out(self.w, self.kw, self.stride[1], self.pad[1], self.dil[1]))

    @property
    def name(self) -> str:
        s, p, d = self.stride, self.pad, self.dil
        g = f"_g{self.groups}" if self.groups > 1 else ""
        return (f"conv_{self.layout}_{self.n}x{self.c}x{self.h}x{self.w}_f{self.f}_k{self.kh}x{self.kw}"
                f"_s{s[0]}{s[1]}_p{p[0]}{p[1]}_d{d[0]}{d[1]}{g}")

    @property
    def flops(self) -> float:
        oh, ow = self.out_hw
        return 2.0 * self.n * self.f * oh * ow * (self.c // self.groups) * self.kh * self.kw

    def shapes(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """(input, weight, output) shapes in this spec's layout."""
        oh, ow = self.out_hw
        if self.layout == "nchw":
            return ((self.n, self.c, self.h, self.w), (self.f, self.c // self.groups, self.kh, self.kw),
                    (self.n, self.f, oh, ow))
        return ((self.n, self.h, self.w, self.c), (self.kh, self.kw, self.c, self.f),
                (self.n, oh, ow, self.f))


@dataclass(frozen=True)
class PoolSpec:
    """max_pool2d (kind "max") or a window sum (kind "sum", avg_pool2d
    before its division) in layout "nchw" or "nhwc"."""

    n: int
    c: int
    h: int
    w: int
    kh: int
    kw: int
    stride: Pair = (1, 1)
    pad: Pair = (0, 0)
    dil: Pair = (1, 1)
    kind: str = "max"
    layout: str = "nchw"

    @property
    def out_hw(self) -> Pair:
        return (_out(self.h, self.kh, self.stride[0], self.pad[0], self.dil[0]),
                _out(self.w, self.kw, self.stride[1], self.pad[1], self.dil[1]))

    @property
    def name(self) -> str:
        s, p, d = self.stride, self.pad, self.dil
        return (f"pool{self.kind}_{self.layout}_{self.n}x{self.c}x{self.h}x{self.w}_k{self.kh}x{self.kw}"
                f"_s{s[0]}{s[1]}_p{p[0]}{p[1]}_d{d[0]}{d[1]}")

    def shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        oh, ow = self.out_hw
        if self.layout == "nchw":
            return (self.n, self.c, self.h, self.w), (self.n, self.c, oh, ow)
        return (self.n, self.h, self.w, self.c), (self.n, oh, ow, self.c)


def _padded(layout: str, shape: tuple[int, ...], pad: Pair) -> tuple[tuple[int, ...], list[int]]:
    """Padded shape and the insert offsets of the unpadded input."""
    if layout == "nchw":
        n, c, h, w = shape
        return (n, c, h + 2 * pad[0], w + 2 * pad[1]), [0, 0, pad[0], pad[1]]
    n, h, w, c = shape
    return (n, h + 2 * pad[0], w + 2 * pad[1], c), [0, pad[0], pad[1], 0]


def _pad_lines(layout: str, shape: tuple[int, ...], pad: Pair, value: str) -> tuple[list[str], str, str]:
    if not any(pad):
        return [], "%x", _ty(shape)
    ps, offs = _padded(layout, shape, pad)
    lines = [
        f"  %pe = tensor.empty() : {_ty(ps)}",
        f"  %pf = linalg.fill ins({value} : f32) outs(%pe : {_ty(ps)}) -> {_ty(ps)}",
        f"  %xp = tensor.insert_slice %x into %pf[{', '.join(map(str, offs))}] "
        f"[{', '.join(map(str, shape))}] [1, 1, 1, 1] : {_ty(shape)} into {_ty(ps)}",
    ]
    return lines, "%xp", _ty(ps)


def conv_mlir(spec: ConvSpec) -> str:
    sx, sw, so = spec.shapes()
    op = "linalg.conv_2d_nchw_fchw" if spec.layout == "nchw" else "linalg.conv_2d_nhwc_hwcf"
    lines = [f"func.func @{spec.name}(%x: {_ty(sx)}, %w: {_ty(sw)}) -> {_ty(so)} {{",
             "  %zero = arith.constant 0.0 : f32"]
    pad, xv, xt = _pad_lines(spec.layout, sx, spec.pad, "%zero")
    lines += pad
    if spec.groups > 1:
        return "\n".join(lines + _grouped_lines(spec, xv, xt)) + "\n"
    lines += [
        f"  %e = tensor.empty() : {_ty(so)}",
        f"  %acc = linalg.fill ins(%zero : f32) outs(%e : {_ty(so)}) -> {_ty(so)}",
        f"  %r = {op} {{dilations = {_dense(spec.dil)}, strides = {_dense(spec.stride)}}} "
        f"ins({xv}, %w : {xt}, {_ty(sw)}) outs(%acc : {_ty(so)}) -> {_ty(so)}",
        f"  return %r : {_ty(so)}",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _grouped_lines(spec: ConvSpec, xv: str, xt: str) -> list[str]:
    """The frontend's groups > 1 form: channels split into (group, channel) by tensor.expand_shape,
    linalg.conv_2d_ngchw_gfchw, the output's (group, channel) collapsed again."""
    g = spec.groups
    sx, sw, so = spec.shapes()
    xs = _padded(spec.layout, sx, spec.pad)[0]  # the padded input (same shape without padding)
    x5 = (xs[0], g, xs[1] // g) + xs[2:]
    w5 = (g, sw[0] // g) + sw[1:]
    o5 = (so[0], g, so[1] // g) + so[2:]
    return [
        f"  %x5 = tensor.expand_shape {xv} [[0], [1, 2], [3], [4]] output_shape {list(x5)} "
        f": {xt} into {_ty(x5)}",
        f"  %w5 = tensor.expand_shape %w [[0, 1], [2], [3], [4]] output_shape {list(w5)} "
        f": {_ty(sw)} into {_ty(w5)}",
        f"  %e = tensor.empty() : {_ty(o5)}",
        f"  %acc = linalg.fill ins(%zero : f32) outs(%e : {_ty(o5)}) -> {_ty(o5)}",
        f"  %r5 = linalg.conv_2d_ngchw_gfchw {{dilations = {_dense(spec.dil)}, strides = {_dense(spec.stride)}}} "
        f"ins(%x5, %w5 : {_ty(x5)}, {_ty(w5)}) outs(%acc : {_ty(o5)}) -> {_ty(o5)}",
        f"  %r = tensor.collapse_shape %r5 [[0], [1, 2], [3], [4]] : {_ty(o5)} into {_ty(so)}",
        f"  return %r : {_ty(so)}",
        "}",
    ]


def pool_mlir(spec: PoolSpec) -> str:
    sx, so = spec.shapes()
    op = f"linalg.pooling_{spec.layout}_{spec.kind}"
    init = "0xFF800000" if spec.kind == "max" else "0.0"
    lines = [f"func.func @{spec.name}(%x: {_ty(sx)}) -> {_ty(so)} {{",
             f"  %init = arith.constant {init} : f32"]
    pad, xv, xt = _pad_lines(spec.layout, sx, spec.pad, "%init")
    lines += pad
    win = _ty((spec.kh, spec.kw))
    lines += [
        f"  %win = tensor.empty() : {win}",
        f"  %e = tensor.empty() : {_ty(so)}",
        f"  %acc = linalg.fill ins(%init : f32) outs(%e : {_ty(so)}) -> {_ty(so)}",
        f"  %r = {op} {{dilations = {_dense(spec.dil)}, strides = {_dense(spec.stride)}}} "
        f"ins({xv}, %win : {xt}, {win}) outs(%acc : {_ty(so)}) -> {_ty(so)}",
        f"  return %r : {_ty(so)}",
        "}",
    ]
    return "\n".join(lines) + "\n"


def conv_reference(spec: ConvSpec, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """torch.nn.functional.conv2d in float64, in the spec's layout."""
    import torch
    import torch.nn.functional as F

    tx, tw = torch.from_numpy(x).double(), torch.from_numpy(w).double()
    if spec.layout == "nhwc":
        tx, tw = tx.permute(0, 3, 1, 2), tw.permute(3, 2, 0, 1)
    r = F.conv2d(tx, tw, stride=spec.stride, padding=spec.pad, dilation=spec.dil, groups=spec.groups)
    if spec.layout == "nhwc":
        r = r.permute(0, 2, 3, 1)
    return r.contiguous().numpy()


def pool_reference(spec: PoolSpec, x: np.ndarray) -> np.ndarray:
    """torch max_pool2d, or the window sum as a depthwise conv2d with ones
    (zero padding, any dilation), in float64 and the spec's layout."""
    import torch
    import torch.nn.functional as F

    tx = torch.from_numpy(x).double()
    if spec.layout == "nhwc":
        tx = tx.permute(0, 3, 1, 2)
    if spec.kind == "max":
        r = F.max_pool2d(tx, (spec.kh, spec.kw), spec.stride, spec.pad, spec.dil)
    else:
        ones = torch.ones(spec.c, 1, spec.kh, spec.kw, dtype=torch.float64)
        r = F.conv2d(tx, ones, stride=spec.stride, padding=spec.pad, dilation=spec.dil, groups=spec.c)
    if spec.layout == "nhwc":
        r = r.permute(0, 2, 3, 1)
    return r.contiguous().numpy()


def build_conv(spec: ConvSpec, workdir: Path, pipeline_options: str = "target=avx512") -> Kernel:
    return Kernel(compile_module(conv_mlir(spec), workdir / spec.name, pipeline_options), spec.name)


def build_pool(spec: PoolSpec, workdir: Path, pipeline_options: str = "target=avx512") -> Kernel:
    return Kernel(compile_module(pool_mlir(spec), workdir / spec.name, pipeline_options), spec.name)
