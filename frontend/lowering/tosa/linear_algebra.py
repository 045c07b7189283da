"""Linear algebra (TOSA): mm, bmm, addmm as tosa.matmul."""

from __future__ import annotations

from ..common import Unsupported, is_float
from ..registry import OpTable
from .builders import add, batch_matmul, load, mul, reshape, shape_of, splat, store

OPS = OpTable("tosa.linear_algebra")
op = OPS.op


@op("aten.mm.default", "aten.bmm.default")
def _mm(cx, a):
    x, y = cx.value(a["self"]), cx.value(a["mat2"])
    dt = cx.out.dtype
    if not is_float(dt):
        raise Unsupported("integer matmul")
    if len(shape_of(x)) == 2:
        x, y = reshape(x, [1] + shape_of(x)), reshape(y, [1] + shape_of(y))
    r, rdt = batch_matmul(x, y, dt)
    return reshape(store(r, rdt, dt), cx.out.shape)


@op("aten.addmm.default")
def _addmm(cx, a):
    x, y = cx.value(a["mat1"]), cx.value(a["mat2"])
    dt = cx.out.dtype
    r, rdt = batch_matmul(reshape(x, [1] + shape_of(x)), reshape(y, [1] + shape_of(y)), dt)
    r = reshape(r, cx.out.shape)
    if a["alpha"] != 1:
        r = mul(r, splat(a["alpha"], [1, 1], rdt), rdt)
    b = load(cx, a["self"], rdt, 2)
    if a["beta"] != 1:
        b = mul(b, splat(a["beta"], [1, 1], rdt), rdt)
    return store(add(r, b, rdt) if a["beta"] != 0 else r, rdt, dt)
