"""Convolution and pooling (TOSA): 2-D convolution (grouped: one tosa.conv2d per group), max/avg
pooling 2-D; NCHW <-> NHWC transposes around each op."""

from __future__ import annotations

from mlir import ir
from mlir.dialects import tosa

from ..common import Unsupported, pool_window, scalar_type
from ..registry import OpTable
from .builders import shape_of, splat, static_slice, tosa_type, transpose, zero_point

OPS = OpTable("tosa.conv_pool")
op = OPS.op


def _nchw_to_nhwc(v):
    return transpose(v, [0, 2, 3, 1])


def _nhwc_to_nchw(v):
    return transpose(v, [0, 3, 1, 2])


@op("aten.convolution.default")
def _conv(cx, a):
    xs = list(cx.shape(a["input"]))
    if a["transposed"] or len(xs) != 4:
        raise Unsupported("only 2-D, non-transposed convolution maps to tosa.conv2d")
    groups = a["groups"]
    dt = cx.out.dtype
    stride, pad, dil = list(a["stride"]), list(a["padding"]), list(a["dilation"])
    stride, pad, dil = [s * (2 // len(s)) for s in (stride, pad, dil)]
    x = _nchw_to_nhwc(cx.value(a["input"]))
    w = _nchw_to_nhwc(cx.value(a["weight"]))  # FCHW -> FHWC (OHWI)
    ws = shape_of(w)
    f = ws[0]
    bias = cx.value(a["bias"]) if a["bias"] is not None else splat(0, [f], dt)
    out = list(cx.out.shape)
    acc = ir.TypeAttr.get(scalar_type("f32" if dt in ("f16", "bf16", "f32") else dt))
    keff = [(k - 1) * d + 1 for k, d in zip(ws[1:3], dil)]
    x, pads = _floor_mode_window(x, keff, stride, pad)
    xs_nhwc = shape_of(x)
    cg, fg = xs_nhwc[3] // groups, f // groups
    parts = []
    for g in range(groups):  # grouped convolution: one tosa.conv2d per group, then concat
        xg = x if groups == 1 else static_slice(x, [0, 0, 0, g * cg], xs_nhwc[:3] + [cg])
        wg = w if groups == 1 else static_slice(w, [g * fg, 0, 0, 0], [fg] + ws[1:])
        bg = bias if groups == 1 else static_slice(bias, [g * fg], [fg])
        parts.append(tosa.conv2d(tosa_type([out[0], out[2], out[3], fg], dt), xg, wg, bg, zero_point(dt), zero_point(dt),
                                 ir.DenseI64ArrayAttr.get(pads),
                                 ir.DenseI64ArrayAttr.get(stride), ir.DenseI64ArrayAttr.get(dil), acc))
    r = parts[0] if groups == 1 else tosa.concat(parts, ir.IntegerAttr.get(ir.IntegerType.get_signless(32), 3))
    return _nhwc_to_nchw(r)


def _floor_mode_window(v: ir.Value, ks, st, pd):
    """TOSA pools need (in + pads - k) divisible by stride; PyTorch's floor mode drops the rest:
    shrink the bottom/right padding, or crop the input where there is not enough padding."""
    shape = shape_of(v)  # NHWC
    pads, crop = [], [shape[1], shape[2]]
    for i in range(2):
        n = shape[1 + i]
        rem = (n + 2 * pd[i] - ks[i]) % st[i]
        lo, hi = pd[i], pd[i]
        if rem <= hi:
            hi -= rem
        else:
            crop[i] = n - (rem - hi)
            hi = 0
        pads += [lo, hi]
    if crop != [shape[1], shape[2]]:
        v = static_slice(v, [0, 0, 0, 0], [shape[0], crop[0], crop[1], shape[3]])
    return v, pads


@op("aten.max_pool2d_with_indices.default")
def _maxpool(cx, a):
    ks, st, pd = pool_window(a)
    if any(d != 1 for d in a["dilation"]) or a["ceil_mode"]:
        raise Unsupported("dilated or ceil_mode max pooling")
    out = list(cx.outs(0).shape)
    x, pads = _floor_mode_window(_nchw_to_nhwc(cx.value(a["self"])), ks, st, pd)
    r = tosa.max_pool2d(tosa_type([out[0], out[2], out[3], out[1]], cx.outs(0).dtype), x, ir.DenseI64ArrayAttr.get(ks),
                        ir.DenseI64ArrayAttr.get(st), ir.DenseI64ArrayAttr.get(pads))
    return [_nhwc_to_nchw(r), None]


@op("aten.avg_pool2d.default")
def _avgpool(cx, a):
    ks, st, pd = pool_window(a)
    if a["ceil_mode"] or (any(pd) and a["count_include_pad"]) or a["divisor_override"]:
        raise Unsupported("avg pooling that counts padding (tosa.avg_pool2d excludes it)")
    dt = cx.out.dtype
    out = list(cx.out.shape)
    x, pads = _floor_mode_window(_nchw_to_nhwc(cx.value(a["self"])), ks, st, pd)
    r = tosa.avg_pool2d(tosa_type([out[0], out[2], out[3], out[1]], dt), x, zero_point(dt), zero_point(dt),
                        ir.DenseI64ArrayAttr.get(ks), ir.DenseI64ArrayAttr.get(st),
                        ir.DenseI64ArrayAttr.get(pads),
                        ir.TypeAttr.get(scalar_type("f32")))
    return _nhwc_to_nchw(r)
