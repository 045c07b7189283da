"""TOSA builders shared by the TOSA op families: internal tensor types (bool is i1 here),
constants, reshape/cast/broadcast, operand load/store across the i8 bool boundary, and thin
wrappers of the TOSA elementwise, comparison, reduction, transpose, slice and matmul ops."""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

import torch
from mlir import ir
from mlir.dialects import tosa

from ...graph import Ref
from ..common import Unsupported, compute_dtype, elem_type, is_float, scalar_type


def tosa_type(shape: Sequence[int], dtype: str) -> ir.RankedTensorType:
    """TOSA-internal tensor type: bool is i1 here."""
    return ir.RankedTensorType.get(list(shape), scalar_type(dtype))


def shape_of(v: ir.Value) -> List[int]:
    return list(ir.RankedTensorType(v.type).shape)


def scalar_attr(value: Any, dtype: str) -> ir.Attribute:
    t = scalar_type(dtype)
    if is_float(dtype):
        return ir.FloatAttr.get(t, float(value))
    return ir.IntegerAttr.get(t, int(bool(value)) if dtype == "bool" else int(value))


def splat(value: Any, shape: Sequence[int], dtype: str) -> ir.Value:
    tt = tosa_type(shape, dtype)
    return tosa.const(ir.DenseElementsAttr.get_splat(tt, scalar_attr(value, dtype)))


def shape_value(dims: Sequence[int]) -> ir.Value:
    n = len(dims)
    attr = ir.Attribute.parse(f"dense<[{', '.join(str(int(d)) for d in dims)}]> : tensor<{n}xindex>") if n else \
        ir.Attribute.parse("dense<> : tensor<0xindex>")
    return tosa.const_shape(ir.Type.parse(f"!tosa.shape<{n}>"), attr)


def reshape(v: ir.Value, shape: Sequence[int]) -> ir.Value:
    if shape_of(v) == list(shape):
        return v
    return tosa.reshape(v, shape_value(shape))


def cast(v: ir.Value, src: str, dst: str) -> ir.Value:
    """Convert a TOSA-internal tensor (bool = i1) from `src` to `dst`."""
    if scalar_type(src) == scalar_type(dst):
        return v
    if dst == "bool":  # nonzero -> true
        z = splat(0, [1] * len(shape_of(v)), src)
        return tosa.logical_not(tosa_type(shape_of(v), "bool"), tosa.equal(v, z))
    if src in ("f16", "bf16") and dst in ("f16", "bf16"):
        v, src = tosa.cast(tosa_type(shape_of(v), "f32"), v), "f32"
    if is_float(src) and not is_float(dst):  # PyTorch truncates toward zero; tosa.cast rounds
        neg = tosa.greater(tosa_type(shape_of(v), "bool"), splat(0, [1] * len(shape_of(v)), src), v)
        v = select(neg, unary_op("ceil", v, src), unary_op("floor", v, src), src)
    return tosa.cast(tosa_type(shape_of(v), dst), v)


def tile_to(v: ir.Value, full: Sequence[int]) -> ir.Value:
    """Broadcast `v` to `full` as `v + 0` (a broadcasting elementwise op, which later fuses
    cleanly; tosa.tile would leave a reshape between producer and consumer)."""
    v = reshape(v, [1] * (len(full) - len(shape_of(v))) + shape_of(v))
    if shape_of(v) == list(full):
        return v
    et = ir.RankedTensorType(v.type).element_type
    zeros = tosa.const(ir.DenseElementsAttr.get_splat(ir.RankedTensorType.get(list(full), et),
                                                      ir.FloatAttr.get(et, 0.0) if not isinstance(et, ir.IntegerType)
                                                      else ir.IntegerAttr.get(et, 0)))
    return tosa.add(ir.RankedTensorType.get(list(full), et), v, zeros)


def load(cx, x: Any, dtype: str, rank: Optional[int] = None, full: Optional[Sequence[int]] = None) -> ir.Value:
    """Operand `x` (tensor Ref or Python scalar) as a TOSA tensor of `dtype`, rank-extended.
    Broadcast bool operands are tiled to `full` while still i8, so that no broadcast i1 tensor
    is left for the consumer (elementwise fusion cannot fuse through a broadcast)."""
    if isinstance(x, Ref):
        v = cx.value(x)
        src = cx.dtype(x)
        if full is not None and "bool" in (src, dtype):
            v = tile_to(v, full)
        if src == "bool":
            v = tosa.cast(tosa_type(shape_of(v), "bool"), v)  # i8 storage -> i1
        v = cast(v, src, dtype)
        if rank is not None and len(shape_of(v)) < rank:
            v = reshape(v, [1] * (rank - len(shape_of(v))) + shape_of(v))
        return v
    return splat(x, [1] * (rank or 0), dtype)


def store(v: ir.Value, src: str, dst: str) -> ir.Value:
    """A TOSA-internal result as the node's output tensor (bool -> i8 storage)."""
    v = cast(v, src, dst)
    if dst == "bool":
        v = tosa.cast(ir.RankedTensorType.get(shape_of(v), elem_type("bool")), v)
    return v


def zero_point(dtype: str) -> ir.Value:
    return splat(0, [1], dtype)


def mul_shift() -> ir.Value:
    return splat(0, [1], "i8")


def broadcast_shape(*vs: ir.Value) -> List[int]:
    return list(torch.broadcast_shapes(*[tuple(shape_of(v)) for v in vs]))


def add(a, b, dt):
    return tosa.add(tosa_type(broadcast_shape(a, b), dt), a, b)


def sub(a, b, dt):
    return tosa.sub(tosa_type(broadcast_shape(a, b), dt), a, b)


def mul(a, b, dt):
    return tosa.mul(tosa_type(broadcast_shape(a, b), dt), a, b, mul_shift())


def recip(a, dt):
    return tosa.reciprocal(tosa_type(shape_of(a), dt), a)


def div(a, b, dt):
    if is_float(dt):
        return mul(a, recip(b, dt), dt)
    return tosa.intdiv(tosa_type(broadcast_shape(a, b), dt), a, b)


def neg(a, dt):
    return tosa.negate(tosa_type(shape_of(a), dt), a, zero_point(dt), zero_point(dt))


def unary_op(name: str, a, dt):
    return getattr(tosa, name)(tosa_type(shape_of(a), dt), a)


def select(c, a, b, dt):
    return tosa.select(tosa_type(broadcast_shape(c, a, b), dt), c, a, b)


def cmp(kind: str, a, b):
    shape = broadcast_shape(a, b)
    if kind == "eq":
        return tosa.equal(a, b)
    if kind == "ne":
        return tosa.logical_not(tosa_type(shape, "bool"), tosa.equal(a, b))
    if kind == "gt":
        return tosa.greater(tosa_type(shape, "bool"), a, b)
    if kind == "ge":
        return tosa.greater_equal(tosa_type(shape, "bool"), a, b)
    if kind == "lt":
        return tosa.greater(tosa_type(shape, "bool"), b, a)
    return tosa.greater_equal(tosa_type(shape, "bool"), b, a)


def reduce(kind: str, v, dims: Sequence[int], dt: str):
    for d in sorted(set(dims)):
        shape = shape_of(v)
        shape[d] = 1
        v = getattr(tosa, f"reduce_{kind}")(v, ir.IntegerAttr.get(ir.IntegerType.get_signless(32), d))
    return v


def transpose(v: ir.Value, perm: Sequence[int]) -> ir.Value:
    shape = shape_of(v)
    et = ir.RankedTensorType(v.type).element_type
    return tosa.transpose(ir.RankedTensorType.get([shape[p] for p in perm], et), v,
                          ir.DenseI32ArrayAttr.get([int(p) for p in perm]))


def static_slice(v, starts, sizes):
    et = ir.RankedTensorType(v.type).element_type
    return tosa.slice(ir.RankedTensorType.get(list(sizes), et), v, shape_value(starts), shape_value(sizes))


def batch_matmul(x, y, out_dt):
    acc = compute_dtype(out_dt) if is_float(out_dt) else "i32"
    xs, ys = shape_of(x), shape_of(y)
    et = ir.RankedTensorType(x.type).element_type
    dt = "f32" if isinstance(et, ir.F32Type) else None
    r = tosa.matmul(ir.RankedTensorType.get([xs[0], xs[1], ys[2]], scalar_type(acc if not dt else "f32")),
                    x, y, splat(0, [1], dtype_of(x)), splat(0, [1], dtype_of(y)))
    return r, acc if not dt else "f32"


def dtype_of(v: ir.Value) -> str:
    et = ir.RankedTensorType(v.type).element_type
    for name in ("f32", "f16", "bf16", "f64", "i8", "i16", "i32", "i64"):
        if scalar_type(name) == et:
            return name
    raise Unsupported(f"element type {et}")


def product(xs: Sequence[int]) -> int:
    n = 1
    for x in xs:
        n *= x
    return n
