"""Tensors made from scalars (full, empty, arange) and copies / dtype casts (_to_copy, clone,
alias, copy) for the linalg table."""

from __future__ import annotations

from mlir.dialects import arith

from .. import common as C
from ..common import cast, const, copy_to_output, elementwise, empty, filled, generic, is_float
from ..registry import OpTable

OPS = OpTable("linalg.creation")
op = OPS.op


# ------------------------------------------------------------------ casts / copies / creation
@op("aten._to_copy.default", "aten.clone.default", "aten.alias.default", "aten.lift_fresh_copy.default")
def _copy(cx, a):
    return copy_to_output(cx, a["self"])


@op("aten.copy.default")
def _copy2(cx, a):
    return elementwise([cx.operand(a["src"])], cx.out.shape, cx.out.dtype, lambda v: v, cdt=cx.dtype(a["src"]))


@op("aten.full.default", "aten.scalar_tensor.default", "aten.fill.Scalar", "aten.full_like.default")
def _full(cx, a):
    v = a.get("fill_value", a.get("s", a.get("value")))
    return filled(cx.out.shape, cx.out.dtype, v)


@op("aten.empty.memory_format", "aten.empty_strided.default")
def _empty(cx, a):
    return filled(cx.out.shape, cx.out.dtype, 0)


@op("aten.arange.start_step", "aten.arange.default", "aten.arange.start")
def _arange(cx, a):
    start = a.get("start", 0) or 0
    step = a.get("step", 1) or 1
    dt = cx.out.dtype
    n = cx.out.shape[0]
    cdt = "f64" if is_float(dt) else "i64"

    def body(o):
        i = arith.index_cast(C.scalar_type("i64"), C.index(0))
        v = cast(i, "i64", cdt)
        return [cast(C.add(const(start, cdt), C.mul(v, const(step, cdt), cdt), cdt), cdt, dt)]
    return generic([], [(empty([n], dt), [0])], ["parallel"], body)[0]
