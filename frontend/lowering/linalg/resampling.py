"""Resampling (linalg): upsample_nearest2d, upsample_bilinear2d and grid_sampler_2d, as
generics that compute source coordinates and read with `tensor.extract`."""

from __future__ import annotations

from mlir import ir
from mlir.dialects import arith, math, tensor

from .. import common as C
from ..common import Unsupported, cast, compute_dtype, const, empty, generic, index_const
from ..registry import OpTable

OPS = OpTable("linalg.resampling")
op = OPS.op


@op("aten.upsample_nearest2d.vec", "aten.upsample_nearest2d.default")
def _upsample_nearest(cx, a):
    x = a["input"] if "input" in a else a["self"]
    src = cx.value(x)
    shape = list(cx.shape(x))
    out = list(cx.out.shape)
    sf = a.get("scale_factors") or [a.get("scales_h"), a.get("scales_w")]
    scales = [(1.0 / sf[i]) if sf[i] else shape[2 + i] / out[2 + i] for i in range(2)]

    def body(o):
        idx = [C.index(0), C.index(1)]
        for i in range(2):
            d = C.index(2 + i)
            f = arith.mulf(arith.sitofp(ir.F32Type.get(), arith.index_cast(C.scalar_type("i64"), d)),
                           const(scales[i], "f32"))
            j = arith.index_cast(ir.IndexType.get(), arith.fptosi(C.scalar_type("i64"), math.floor(f)))
            idx.append(arith.minsi(j, index_const(shape[2 + i] - 1)))
        return [tensor.extract(src, idx)]
    return generic([], [(empty(out, cx.out.dtype), [0, 1, 2, 3])], ["parallel"] * 4, body)[0]


@op("aten.upsample_bilinear2d.default", "aten.upsample_bilinear2d.vec")
def _upsample_bilinear(cx, a):
    x = a["input"] if "input" in a else a["self"]
    src = cx.value(x)
    shape = list(cx.shape(x))
    out = list(cx.out.shape)
    dt = cx.out.dtype
    acc = compute_dtype(dt)
    align = a["align_corners"]
    sf = a.get("scale_factors") or [a.get("scales_h"), a.get("scales_w")]
    f32 = "f32"

    def axis(i):
        """(index lo, index hi, weight of hi) along spatial axis i, PyTorch's source-index rule."""
        n_in, n_out = shape[2 + i], out[2 + i]
        d = arith.sitofp(ir.F32Type.get(), arith.index_cast(C.scalar_type("i64"), C.index(2 + i)))
        if align:
            scale = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
            pos = arith.mulf(d, const(scale, f32))
        else:
            scale = (1.0 / sf[i]) if sf[i] else n_in / n_out
            pos = arith.subf(arith.mulf(arith.addf(d, const(0.5, f32)), const(scale, f32)), const(0.5, f32))
            pos = arith.maximumf(pos, const(0.0, f32))
        lo_f = math.floor(pos)
        lo = arith.index_cast(ir.IndexType.get(), arith.fptosi(C.scalar_type("i64"), lo_f))
        lo = arith.minsi(lo, index_const(n_in - 1))
        hi = arith.minsi(arith.addi(lo, index_const(1)), index_const(n_in - 1))
        w = arith.subf(pos, arith.sitofp(ir.F32Type.get(), arith.index_cast(C.scalar_type("i64"), lo)))
        return lo, hi, cast(w, f32, acc)

    def body(o):
        h0, h1, wh = axis(0)
        w0, w1, ww = axis(1)
        n, c = C.index(0), C.index(1)
        px = lambda h, w: cast(tensor.extract(src, [n, c, h, w]), dt, acc)  # noqa: E731
        one = const(1.0, acc)
        top = arith.addf(arith.mulf(arith.subf(one, ww), px(h0, w0)), arith.mulf(ww, px(h0, w1)))
        bot = arith.addf(arith.mulf(arith.subf(one, ww), px(h1, w0)), arith.mulf(ww, px(h1, w1)))
        return [cast(arith.addf(arith.mulf(arith.subf(one, wh), top), arith.mulf(wh, bot)), acc, dt)]
    return generic([], [(empty(out, dt), [0, 1, 2, 3])], ["parallel"] * 4, body)[0]


# ------------------------------------------------------------------ grid_sampler_2d
@op("aten.grid_sampler_2d.default")
def _grid_sampler(cx, a):
    x, grid = a["input"], a["grid"]
    mode, padding, align = int(a["interpolation_mode"]), int(a["padding_mode"]), bool(a["align_corners"])
    if mode not in (0, 1):
        raise Unsupported("bicubic interpolation")
    if padding not in (0, 1):
        raise Unsupported("reflection padding")
    n, c, H, W = cx.shape(x)
    out = list(cx.out.shape)
    dt = cx.out.dtype
    acc = "f32" if dt != "f64" else "f64"
    src, gv, gdt = cx.value(x), cx.value(grid), cx.dtype(grid)

    def unnorm(g, size):
        one = const(1.0, acc)
        if align:
            f = arith.mulf(arith.divf(arith.addf(g, one), const(2.0, acc)), const(size - 1, acc))
        else:
            f = arith.divf(arith.subf(arith.mulf(arith.addf(g, one), const(size, acc)), one), const(2.0, acc))
        if padding == 1:
            f = arith.minimumf(arith.maximumf(f, const(0.0, acc)), const(size - 1, acc))
        return f

    def pixel(nn, ch, yi, xi):
        """x[n, c, y, x] if (y, x) in range else 0; yi, xi are i64."""
        ok = arith.andi(arith.andi(arith.cmpi(arith.CmpIPredicate.sge, yi, const(0, "i64")),
                                   arith.cmpi(arith.CmpIPredicate.slt, yi, const(H, "i64"))),
                        arith.andi(arith.cmpi(arith.CmpIPredicate.sge, xi, const(0, "i64")),
                                   arith.cmpi(arith.CmpIPredicate.slt, xi, const(W, "i64"))))
        cl = lambda v, hi: arith.index_cast(ir.IndexType.get(), arith.maxsi(  # noqa: E731
            arith.minsi(v, const(hi - 1, "i64")), const(0, "i64")))
        e = cast(tensor.extract(src, [nn, ch, cl(yi, H), cl(xi, W)]), cx.dtype(x), acc)
        return arith.select(ok, e, const(0.0, acc))

    def body(o):
        nn, ch, h, w = (C.index(k) for k in range(4))
        gx = cast(tensor.extract(gv, [nn, h, w, index_const(0)]), gdt, acc)
        gy = cast(tensor.extract(gv, [nn, h, w, index_const(1)]), gdt, acc)
        fx, fy = unnorm(gx, W), unnorm(gy, H)
        i64 = C.scalar_type("i64")
        if mode == 1:
            r = pixel(nn, ch, arith.fptosi(i64, math.roundeven(fy)), arith.fptosi(i64, math.roundeven(fx)))
        else:
            x0f, y0f = math.floor(fx), math.floor(fy)
            wx, wy = arith.subf(fx, x0f), arith.subf(fy, y0f)
            x0, y0 = arith.fptosi(i64, x0f), arith.fptosi(i64, y0f)
            x1, y1 = arith.addi(x0, const(1, "i64")), arith.addi(y0, const(1, "i64"))
            one = const(1.0, acc)
            top = arith.addf(arith.mulf(arith.subf(one, wx), pixel(nn, ch, y0, x0)),
                             arith.mulf(wx, pixel(nn, ch, y0, x1)))
            bot = arith.addf(arith.mulf(arith.subf(one, wx), pixel(nn, ch, y1, x0)),
                             arith.mulf(wx, pixel(nn, ch, y1, x1)))
            r = arith.addf(arith.mulf(arith.subf(one, wy), top), arith.mulf(wy, bot))
        return [C.to_storage(cast(r, acc, dt), dt)]
    return generic([], [(empty(out, dt), [0, 1, 2, 3])], ["parallel"] * 4, body)[0]
