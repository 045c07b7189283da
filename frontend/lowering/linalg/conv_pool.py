"""Convolution and pooling (linalg): 1-D and 2-D convolution (linalg.conv_2d_nchw_fchw; grouped and depthwise
as linalg.conv_2d_ngchw_gfchw on channel-split views; 1-D as 2-D of height 1), max/avg pooling 2-D (named
pooling ops) and 3-D (generics), adaptive average pooling, col2im."""

from __future__ import annotations

from typing import Any, List, Sequence

from mlir import ir
from mlir.dialects import arith, linalg, tensor

from ...graph import Ref
from .. import common as C
from ..common import (Unsupported, cast, compare, compute_dtype, const, elementwise, empty, filled, generic,
                      index_const, insert_slice, lowest, pool_window, reshape, shape_of)
from ..registry import OpTable

OPS = OpTable("linalg.conv_pool")
op = OPS.op


@op("aten.convolution.default")
def _conv(cx, a):
    """2-D convolution; 1-D (N, C, L) runs as 2-D on (N, C, 1, L) with a (F, C/g, 1, K) kernel."""
    xs, ws = list(cx.shape(a["input"])), list(cx.shape(a["weight"]))
    if a["transposed"]:
        raise Unsupported("transposed convolution")
    if len(xs) not in (3, 4):
        raise Unsupported(f"{len(xs) - 2}-D convolution (only 1-D and 2-D)")
    x, w = cx.value(a["input"]), cx.value(a["weight"])
    stride, pad, dil = (list(a[k]) for k in ("stride", "padding", "dilation"))
    out = list(cx.out.shape)
    if len(xs) == 3:
        xs, ws = [xs[0], xs[1], 1, xs[2]], [ws[0], ws[1], 1, ws[2]]
        x, w = reshape(x, xs), reshape(w, ws)
        stride, pad, dil = [1] + stride[-1:], [0] + pad[-1:], [1] + dil[-1:]
        r = _conv2d(cx, a, x, w, xs, ws, [out[0], out[1], 1, out[2]], stride, pad, dil)
        return reshape(r, out)
    stride = stride * 2 if len(stride) == 1 else stride
    pad = pad * 2 if len(pad) == 1 else pad
    dil = dil * 2 if len(dil) == 1 else dil
    return _conv2d(cx, a, x, w, xs, ws, out, stride, pad, dil)


def _conv2d(cx, a, x: ir.Value, w: ir.Value, xs: List[int], ws: List[int], out: List[int],
            stride: List[int], pad: List[int], dil: List[int]) -> ir.Value:
    """NCHW x FCHW convolution of `x` (shape `xs`) by `w` (shape `ws`) into `out`, plus a["bias"]."""
    groups = a["groups"]
    odt = cx.out.dtype
    xdt = cx.dtype(a["input"])
    acc = compute_dtype(odt)
    if any(pad):
        padded = [xs[0], xs[1], xs[2] + 2 * pad[0], xs[3] + 2 * pad[1]]
        x = insert_slice(x, filled(padded, xdt, 0), [0, 0, pad[0], pad[1]], xs, [1] * 4)
    if groups == 1:
        r = linalg.conv_2d_nchw_fchw(x, w, outs=[filled(out, acc, 0)], strides=stride, dilations=dil)
    else:
        # grouped / depthwise (C/g = 1): channels split into (group, channel of the group) on views,
        # X (N, G, C/g, H, W) * W (G, F/g, C/g, KH, KW) -> O (N, G, F/g, OH, OW)
        xp = shape_of(x)
        x5 = _split_channels(x, [xp[0], groups, xp[1] // groups] + xp[2:], 1)
        w5 = _split_channels(w, [groups, ws[0] // groups] + ws[1:], 0)
        init = filled([out[0], groups, out[1] // groups] + out[2:], acc, 0)
        r5 = linalg.conv_2d_ngchw_gfchw(x5, w5, outs=[init], strides=stride, dilations=dil)
        r = tensor.collapse_shape(ir.RankedTensorType.get(out, ir.RankedTensorType(r5.type).element_type), r5,
                                  [[0], [1, 2], [3], [4]])
    if a["bias"] is not None:
        b = cx.value(a["bias"])
        return generic([(r, [0, 1, 2, 3]), (b, [1])], [(empty(out, odt), [0, 1, 2, 3])], ["parallel"] * 4,
                       lambda v, bb, o: [cast(C.add(v, cast(bb, cx.dtype(a["bias"]), acc), acc), acc, odt)])[0]
    if acc != odt:
        r = elementwise([(r, acc)], out, odt, lambda v: v, cdt=acc)
    return r


def _split_channels(v: ir.Value, shape: List[int], dim: int) -> ir.Value:
    """`v` (rank 4) with dimension `dim` expanded into the two dimensions `dim`, `dim + 1` of `shape`."""
    groups: List[List[int]] = [[i] for i in range(dim)] + [[dim, dim + 1]] + [[i + 1] for i in range(dim + 1, 4)]
    rt = ir.RankedTensorType.get(shape, ir.RankedTensorType(v.type).element_type)
    return tensor.expand_shape(rt, v, groups, [], shape)


@op("aten.max_pool2d_with_indices.default")
def _maxpool(cx, a):
    x = cx.value(a["self"])
    xs = list(cx.shape(a["self"]))
    if len(xs) != 4:
        raise Unsupported("unbatched max_pool2d")
    ks, stride, pad = pool_window(a)
    dil = list(a["dilation"])
    dil = dil * 2 if len(dil) == 1 else dil
    dt = cx.dtype(a["self"])
    out = list(cx.outs(0).shape)
    need_h = (out[2] - 1) * stride[0] + (ks[0] - 1) * dil[0] + 1
    need_w = (out[3] - 1) * stride[1] + (ks[1] - 1) * dil[1] + 1
    ph, pw = max(need_h, xs[2] + pad[0]), max(need_w, xs[3] + pad[1])
    if any(pad) or ph > xs[2] or pw > xs[3]:
        x = insert_slice(x, filled([xs[0], xs[1], ph, pw], dt, lowest(dt)), [0, 0, pad[0], pad[1]], xs, [1] * 4)
    init = filled(out, dt, lowest(dt))
    win = empty(ks, dt)
    r = linalg.pooling_nchw_max(x, win, outs=[init], strides=stride, dilations=dil)
    return [r, None]


@op("aten.avg_pool2d.default")
def _avgpool(cx, a):
    x = cx.value(a["self"])
    xs = list(cx.shape(a["self"]))
    if len(xs) != 4:
        raise Unsupported("unbatched avg_pool2d")
    ks, stride, pad = pool_window(a)
    if a["ceil_mode"]:
        raise Unsupported("ceil_mode=True")
    if any(pad) and not a["count_include_pad"]:
        raise Unsupported("count_include_pad=False with padding")
    dt = cx.dtype(a["self"])
    acc = compute_dtype(dt)
    if any(pad):
        x = insert_slice(x, filled([xs[0], xs[1], xs[2] + 2 * pad[0], xs[3] + 2 * pad[1]], dt, 0),
                         [0, 0, pad[0], pad[1]], xs, [1] * 4)
    out = list(cx.out.shape)
    if acc != dt:
        x = elementwise([(x, dt)], shape_of(x), acc, lambda v: v, cdt=dt)
    s = linalg.pooling_nchw_sum(x, empty(ks, acc), outs=[filled(out, acc, 0)], strides=stride, dilations=[1, 1])
    div = a["divisor_override"] or ks[0] * ks[1]
    return elementwise([(s, acc)], out, cx.out.dtype, lambda v: arith.divf(v, const(float(div), acc)), cdt=acc)


@op("aten._adaptive_avg_pool2d.default")
def _adaptive_avg(cx, a):
    xs = list(cx.shape(a["self"]))
    osz = list(a["output_size"])
    if len(xs) != 4 or xs[2] % osz[0] or xs[3] % osz[1]:
        raise Unsupported(f"adaptive pooling of {xs} to {osz} (needs divisible sizes)")
    k = [xs[2] // osz[0], xs[3] // osz[1]]
    return _avgpool(cx, {"self": a["self"], "kernel_size": k, "stride": k, "padding": [0, 0], "ceil_mode": False,
                         "count_include_pad": True, "divisor_override": None})


def _d(k: int) -> ir.AffineExpr:
    return ir.AffineDimExpr.get(k)


def _triple(v: Sequence[int], default: Sequence[int]) -> List[int]:
    v = list(v) if v else list(default)
    return v * 3 if len(v) == 1 else v


def _batched(cx, x: Ref, spatial: int):
    """(value, shape with a batch dim, was_unbatched) for N,C,spatial... pooling inputs."""
    shape = list(cx.shape(x))
    v = cx.value(x)
    if len(shape) == spatial + 1:
        return reshape(v, [1] + shape), [1] + shape, True
    if len(shape) != spatial + 2:
        raise Unsupported(f"input of rank {len(shape)}")
    return v, shape, False


def _window_reduce(x: ir.Value, xdt: str, out: List[int], ks: List[int], stride: List[int], dil: List[int],
                   acc: str, init: Any, combine) -> ir.Value:
    """out[n, c, o...] = combine over window k... of x[n, c, o*stride + k*dil] (x already padded)."""
    s = len(ks)
    x_map = [0, 1] + [_d(2 + i) * stride[i] + _d(2 + s + i) * dil[i] for i in range(s)]

    def body(e, _w, o):
        return [combine(cast(e, xdt, acc), o)]
    return generic([(x, x_map), (empty(ks, acc), [2 + s + i for i in range(s)])],
                   [(filled(out, acc, init), list(range(2 + s)))],
                   ["parallel"] * (2 + s) + ["reduction"] * s, body)[0]


def _pad_to(x: ir.Value, shape: List[int], dt: str, pad: List[int], need: List[int], value: Any) -> ir.Value:
    s = len(pad)
    full = shape[:2] + [max(need[i], shape[2 + i] + pad[i]) for i in range(s)]
    if full == shape and not any(pad):
        return x
    return insert_slice(x, filled(full, dt, value), [0, 0] + pad, shape, [1] * len(shape))


@op("aten.max_pool3d_with_indices.default")
def _maxpool3d(cx, a):
    x, shape, unb = _batched(cx, a["self"], 3)
    ks = _triple(a["kernel_size"], [])
    stride = _triple(a["stride"], ks)
    pad = _triple(a["padding"], [0])
    dil = _triple(a["dilation"], [1])
    dt = cx.dtype(a["self"])
    out = list(cx.outs(0).shape)
    out = [1] + out if unb else out
    need = [(out[2 + i] - 1) * stride[i] + (ks[i] - 1) * dil[i] + 1 for i in range(3)]
    x = _pad_to(x, shape, dt, pad, need, lowest(dt))
    acc = compute_dtype(dt)
    r = _window_reduce(x, dt, out, ks, stride, dil, acc, lowest(acc), lambda e, o: C.maximum(e, o, acc))
    r = elementwise([(r, acc)], out, dt, lambda v: v, cdt=acc)
    return [reshape(r, out[1:]) if unb else r, None]


@op("aten.avg_pool3d.default")
def _avgpool3d(cx, a):
    x, shape, unb = _batched(cx, a["self"], 3)
    ks = _triple(a["kernel_size"], [])
    stride = _triple(a["stride"], ks)
    pad = _triple(a["padding"], [0])
    if a["ceil_mode"]:
        raise Unsupported("ceil_mode=True")
    if any(pad) and not a["count_include_pad"]:
        raise Unsupported("count_include_pad=False with padding")
    dt = cx.dtype(a["self"])
    acc = compute_dtype(dt)
    out = list(cx.out.shape)
    out = [1] + out if unb else out
    need = [(out[2 + i] - 1) * stride[i] + ks[i] for i in range(3)]
    x = _pad_to(x, shape, dt, pad, need, 0)
    s = _window_reduce(x, dt, out, ks, stride, [1, 1, 1], acc, 0, lambda e, o: C.add(e, o, acc))
    div = float(a["divisor_override"] or ks[0] * ks[1] * ks[2])
    r = elementwise([(s, acc)], out, dt, lambda v: arith.divf(v, const(div, acc)), cdt=acc)
    return reshape(r, out[1:]) if unb else r


@op("aten._adaptive_avg_pool3d.default")
def _adaptive_avg3d(cx, a):
    """Adaptive windows [floor(o*I/O), ceil((o+1)*I/O)): loops over the largest window, masked."""
    x, shape, unb = _batched(cx, a["self"], 3)
    dt = cx.dtype(a["self"])
    acc = compute_dtype(dt)
    osz = list(a["output_size"])
    ins = shape[2:]
    out = shape[:2] + osz
    starts = [[(o * ins[i]) // osz[i] for o in range(osz[i])] for i in range(3)]
    ends = [[-((-(o + 1) * ins[i]) // osz[i]) for o in range(osz[i])] for i in range(3)]
    kmax = [max(e - s for s, e in zip(starts[i], ends[i])) for i in range(3)]

    def bounds(i: int, o: ir.Value):
        # start = o*I floordiv O; end = ceil((o+1)*I / O), in index arithmetic
        st = arith.divui(arith.muli(o, index_const(ins[i])), index_const(osz[i]))
        en = arith.divui(arith.addi(arith.muli(arith.addi(o, index_const(1)), index_const(ins[i])), index_const(osz[i] - 1)), index_const(osz[i]))
        return st, en

    def body(_w, o):
        idx = [C.index(0), C.index(1)]
        ok = None
        for i in range(3):
            st, en = bounds(i, C.index(2 + i))
            p = arith.addi(st, C.index(5 + i))
            inside = arith.cmpi(arith.CmpIPredicate.ult, p, en)
            ok = inside if ok is None else arith.andi(ok, inside)
            idx.append(arith.minui(p, index_const(ins[i] - 1)))
        e = cast(tensor.extract(x, idx), dt, acc)
        return [arith.select(ok, C.add(o, e, acc), o)]
    s = generic([(empty(kmax, acc), [5, 6, 7])], [(filled(out, acc, 0), [0, 1, 2, 3, 4])],
                ["parallel"] * 5 + ["reduction"] * 3, body)[0]

    def div(v, _o):
        cnt = None
        for i in range(3):
            st, en = bounds(i, C.index(2 + i))
            n = arith.subi(en, st)
            cnt = n if cnt is None else arith.muli(cnt, n)
        f = arith.sitofp(C.scalar_type(acc), arith.index_cast(C.scalar_type("i64"), cnt))
        return [C.to_storage(cast(arith.divf(v, f), acc, dt), dt)]
    r = generic([(s, [0, 1, 2, 3, 4])], [(empty(out, dt), [0, 1, 2, 3, 4])], ["parallel"] * 5, div)[0]
    return reshape(r, out[1:]) if unb else r


# ------------------------------------------------------------------ col2im
@op("aten.col2im.default")
def _col2im(cx, a):
    x = a["self"]
    xs = list(cx.shape(x))
    unb = len(xs) == 2
    v = reshape(cx.value(x), [1] + xs) if unb else cx.value(x)
    xs = [1] + xs if unb else xs
    H, W = a["output_size"]
    kh, kw = a["kernel_size"]
    dh, dw = a["dilation"]
    ph, pw = a["padding"]
    sh, sw = a["stride"]
    nbh = (H + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    nbw = (W + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    c = xs[1] // (kh * kw)
    dt = cx.dtype(x)
    acc = compute_dtype(dt)
    out = [xs[0], c, H, W]

    def axis(o, k, dil, pad, st, nblk):
        # block b with b*st - pad + k*dil == o
        t = arith.subi(arith.addi(o, index_const(pad)), arith.muli(k, index_const(dil)))
        ti = arith.index_cast(C.scalar_type("i64"), t)
        ok = arith.cmpi(arith.CmpIPredicate.sge, ti, const(0, "i64"))
        ok = arith.andi(ok, compare("eq", arith.remsi(ti, const(st, "i64")), const(0, "i64"), "i64"))
        b = arith.divsi(ti, const(st, "i64"))
        ok = arith.andi(ok, arith.cmpi(arith.CmpIPredicate.slt, b, const(nblk, "i64")))
        b = arith.maxsi(arith.minsi(b, const(nblk - 1, "i64")), const(0, "i64"))
        return ok, arith.index_cast(ir.IndexType.get(), b)

    def body(_w, o):
        n, ch, h, w_, i, j = (C.index(k) for k in range(6))
        ok1, bh = axis(h, i, dh, ph, sh, nbh)
        ok2, bw = axis(w_, j, dw, pw, sw, nbw)
        row = arith.addi(arith.muli(ch, index_const(kh * kw)), arith.addi(arith.muli(i, index_const(kw)), j))
        col = arith.addi(arith.muli(bh, index_const(nbw)), bw)
        e = cast(tensor.extract(v, [n, row, col]), dt, acc)
        return [arith.select(arith.andi(ok1, ok2), arith.addf(o, e), o)]
    s = generic([(empty([kh, kw], acc), [4, 5])], [(filled(out, acc, 0), [0, 1, 2, 3])],
                ["parallel"] * 4 + ["reduction"] * 2, body)[0]
    r = elementwise([(s, acc)], out, dt, lambda q: q, cdt=acc)
    return reshape(r, out[1:]) if unb else r
