"""Core ATen -> TOSA op table.

`TOSA_OPS` maps an ATen overload to an emitter producing TOSA ops (plus `tensor.empty`-free
TOSA constants). Ops with no TOSA counterpart are absent: importing a model that uses one
with dialect="tosa" raises UnsupportedOpError suggesting dialect="linalg". bool tensors are
i8 (0/1) at the function boundary, as in the linalg path; TOSA's i1 results are cast to i8.
"""

from __future__ import annotations

import math as pymath
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch
from mlir import ir
from mlir.dialects import tosa

from ..graph import Ref
from .common import (Unsupported, compute_dtype, elem_type, is_float, normalized_dims, pool_window,
                     scalar_type)
from .linalg import _promote

OPS: Dict[str, Callable] = {}


def op(*names: str):
    def deco(fn):
        for n in names:
            OPS[n] = fn
        return fn
    return deco


# ------------------------------------------------------------------ helpers
def _tt(shape: Sequence[int], dtype: str) -> ir.RankedTensorType:
    """TOSA-internal tensor type: bool is i1 here."""
    return ir.RankedTensorType.get(list(shape), scalar_type(dtype))


def _shape(v: ir.Value) -> List[int]:
    return list(ir.RankedTensorType(v.type).shape)


def _scalar_attr(value: Any, dtype: str) -> ir.Attribute:
    t = scalar_type(dtype)
    if is_float(dtype):
        return ir.FloatAttr.get(t, float(value))
    return ir.IntegerAttr.get(t, int(bool(value)) if dtype == "bool" else int(value))


def splat(value: Any, shape: Sequence[int], dtype: str) -> ir.Value:
    tt = _tt(shape, dtype)
    return tosa.const(ir.DenseElementsAttr.get_splat(tt, _scalar_attr(value, dtype)))


def shape_value(dims: Sequence[int]) -> ir.Value:
    n = len(dims)
    attr = ir.Attribute.parse(f"dense<[{', '.join(str(int(d)) for d in dims)}]> : tensor<{n}xindex>") if n else \
        ir.Attribute.parse("dense<> : tensor<0xindex>")
    return tosa.const_shape(ir.Type.parse(f"!tosa.shape<{n}>"), attr)


def reshape(v: ir.Value, shape: Sequence[int]) -> ir.Value:
    if _shape(v) == list(shape):
        return v
    return tosa.reshape(v, shape_value(shape))


def cast(v: ir.Value, src: str, dst: str) -> ir.Value:
    """Convert a TOSA-internal tensor (bool = i1) from `src` to `dst`."""
    if scalar_type(src) == scalar_type(dst):
        return v
    if dst == "bool":  # nonzero -> true
        z = splat(0, [1] * len(_shape(v)), src)
        return tosa.logical_not(_tt(_shape(v), "bool"), tosa.equal(v, z))
    if src in ("f16", "bf16") and dst in ("f16", "bf16"):
        v, src = tosa.cast(_tt(_shape(v), "f32"), v), "f32"
    if is_float(src) and not is_float(dst):  # PyTorch truncates toward zero; tosa.cast rounds
        neg = tosa.greater(_tt(_shape(v), "bool"), splat(0, [1] * len(_shape(v)), src), v)
        v = select(neg, unary_op("ceil", v, src), unary_op("floor", v, src), src)
    return tosa.cast(_tt(_shape(v), dst), v)


def _tile_to(v: ir.Value, full: Sequence[int]) -> ir.Value:
    """Broadcast `v` to `full` as `v + 0` (a broadcasting elementwise op, which later fuses
    cleanly; tosa.tile would leave a reshape between producer and consumer)."""
    v = reshape(v, [1] * (len(full) - len(_shape(v))) + _shape(v))
    if _shape(v) == list(full):
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
            v = _tile_to(v, full)
        if src == "bool":
            v = tosa.cast(_tt(_shape(v), "bool"), v)  # i8 storage -> i1
        v = cast(v, src, dtype)
        if rank is not None and len(_shape(v)) < rank:
            v = reshape(v, [1] * (rank - len(_shape(v))) + _shape(v))
        return v
    return splat(x, [1] * (rank or 0), dtype)


def store(v: ir.Value, src: str, dst: str) -> ir.Value:
    """A TOSA-internal result as the node's output tensor (bool -> i8 storage)."""
    v = cast(v, src, dst)
    if dst == "bool":
        v = tosa.cast(ir.RankedTensorType.get(_shape(v), elem_type("bool")), v)
    return v


def _zp(dtype: str) -> ir.Value:
    return splat(0, [1], dtype)


def _shift() -> ir.Value:
    return splat(0, [1], "i8")


def _bshape(*vs: ir.Value) -> List[int]:
    return list(torch.broadcast_shapes(*[tuple(_shape(v)) for v in vs]))


def add(a, b, dt):
    return tosa.add(_tt(_bshape(a, b), dt), a, b)


def sub(a, b, dt):
    return tosa.sub(_tt(_bshape(a, b), dt), a, b)


def mul(a, b, dt):
    return tosa.mul(_tt(_bshape(a, b), dt), a, b, _shift())


def recip(a, dt):
    return tosa.reciprocal(_tt(_shape(a), dt), a)


def div(a, b, dt):
    if is_float(dt):
        return mul(a, recip(b, dt), dt)
    return tosa.intdiv(_tt(_bshape(a, b), dt), a, b)


def neg(a, dt):
    return tosa.negate(_tt(_shape(a), dt), a, _zp(dt), _zp(dt))


def unary_op(name: str, a, dt):
    return getattr(tosa, name)(_tt(_shape(a), dt), a)


def select(c, a, b, dt):
    return tosa.select(_tt(_bshape(c, a, b), dt), c, a, b)


def cmp(kind: str, a, b):
    shape = _bshape(a, b)
    if kind == "eq":
        return tosa.equal(a, b)
    if kind == "ne":
        return tosa.logical_not(_tt(shape, "bool"), tosa.equal(a, b))
    if kind == "gt":
        return tosa.greater(_tt(shape, "bool"), a, b)
    if kind == "ge":
        return tosa.greater_equal(_tt(shape, "bool"), a, b)
    if kind == "lt":
        return tosa.greater(_tt(shape, "bool"), b, a)
    return tosa.greater_equal(_tt(shape, "bool"), b, a)


def reduce(kind: str, v, dims: Sequence[int], dt: str):
    for d in sorted(set(dims)):
        shape = _shape(v)
        shape[d] = 1
        v = getattr(tosa, f"reduce_{kind}")(v, ir.IntegerAttr.get(ir.IntegerType.get_signless(32), d))
    return v


# ------------------------------------------------------------------ elementwise
def _binary(fn, arith_out: bool = True, alpha: bool = False):
    def emit(cx, a):
        x, y = a["self"], a["other"]
        out = cx.out
        cdt = out.dtype if arith_out else _promote(cx, x, y)
        r = len(out.shape)
        u, v = load(cx, x, cdt, r, out.shape), load(cx, y, cdt, r, out.shape)
        al = a.get("alpha", 1) if alpha else 1
        if al != 1:
            v = mul(v, splat(al, [1] * r, cdt), cdt)
        res = fn(u, v, cdt)
        et = ir.RankedTensorType(res.type).element_type
        rdt = "bool" if isinstance(et, ir.IntegerType) and et.width == 1 else cdt
        return store(res, rdt, out.dtype)
    return emit


for _ov in ("Tensor", "Scalar"):
    OPS[f"aten.add.{_ov}"] = _binary(add, alpha=True)
    OPS[f"aten.sub.{_ov}"] = _binary(sub, alpha=True)
    OPS[f"aten.mul.{_ov}"] = _binary(lambda u, v, dt: tosa.logical_and(_tt(_bshape(u, v), dt), u, v)
                                     if dt == "bool" else mul(u, v, dt))
    OPS[f"aten.div.{_ov}"] = _binary(div)
    for _k in ("eq", "ne", "lt", "le", "gt", "ge"):
        OPS[f"aten.{_k}.{_ov}"] = _binary(lambda u, v, dt, _k=_k: cmp(_k, u, v), arith_out=False)
    for _k, _t in (("and", "bitwise_and"), ("or", "bitwise_or"), ("xor", "bitwise_xor")):
        OPS[f"aten.bitwise_{_k}.{_ov}"] = _binary(
            lambda u, v, dt, _t=_t: getattr(tosa, ("logical_" + _t[8:]) if dt == "bool" else _t)(
                _tt(_bshape(u, v), dt), u, v))
OPS["aten.maximum.default"] = _binary(lambda u, v, dt: tosa.maximum(_tt(_bshape(u, v), dt), u, v))
OPS["aten.minimum.default"] = _binary(lambda u, v, dt: tosa.minimum(_tt(_bshape(u, v), dt), u, v))
_pow = _binary(lambda u, v, dt: tosa.pow(_tt(_bshape(u, v), dt), u, v))
OPS["aten.pow.Tensor_Tensor"] = lambda cx, a: _pow(cx, {"self": a["self"], "other": a["exponent"]})
for _k in ("and", "or", "xor"):
    OPS[f"aten.logical_{_k}.default"] = lambda cx, a, _k=_k: store(
        getattr(tosa, f"logical_{_k}")(_tt(cx.out.shape, "bool"),
                                       load(cx, a["self"], "bool", len(cx.out.shape), cx.out.shape),
                                       load(cx, a["other"], "bool", len(cx.out.shape), cx.out.shape)), "bool", "bool")


def _unary(fn, float_only: bool = True):
    def emit(cx, a):
        out = cx.out
        dt = out.dtype if (is_float(out.dtype) or not float_only) else "f32"
        v = load(cx, a["self"], dt, len(out.shape))
        return store(fn(v, dt), dt, out.dtype)
    return emit


for _n, _t in (("exp", "exp"), ("log", "log"), ("tanh", "tanh"), ("sigmoid", "sigmoid"), ("erf", "erf"),
               ("floor", "floor"), ("ceil", "ceil"), ("sin", "sin"), ("cos", "cos"), ("rsqrt", "rsqrt"),
               ("reciprocal", "reciprocal")):
    OPS[f"aten.{_n}.default"] = _unary(lambda v, dt, _t=_t: unary_op(_t, v, dt))
OPS["aten.abs.default"] = _unary(lambda v, dt: unary_op("abs", v, dt), float_only=False)
OPS["aten.neg.default"] = _unary(
    lambda v, dt: neg(v, dt) if is_float(dt) else sub(splat(0, [1] * len(_shape(v)), dt), v, dt), float_only=False)
OPS["aten.sqrt.default"] = _unary(lambda v, dt: recip(unary_op("rsqrt", v, dt), dt))
OPS["aten.bitwise_not.default"] = _unary(
    lambda v, dt: tosa.logical_not(_tt(_shape(v), dt), v) if dt == "bool" else tosa.bitwise_not(_tt(_shape(v), dt), v),
    float_only=False)
OPS["aten.logical_not.default"] = lambda cx, a: store(
    tosa.logical_not(_tt(cx.out.shape, "bool"), load(cx, a["self"], "bool")), "bool", "bool")


def _clamp_attrs(lo, hi, dt):
    if is_float(dt):
        lo = -pymath.inf if lo is None else lo
        hi = pymath.inf if hi is None else hi
    else:
        bits = 8 * torch.empty((), dtype=getattr(torch, {"i8": "int8", "i16": "int16", "i32": "int32",
                                                         "i64": "int64"}.get(dt, "int64"))).element_size()
        lo = -(1 << (bits - 1)) if lo is None else lo
        hi = (1 << (bits - 1)) - 1 if hi is None else hi
    return _scalar_attr(lo, dt), _scalar_attr(hi, dt)


def _clamp(v, lo, hi, dt):
    a, b = _clamp_attrs(lo, hi, dt)
    return tosa.clamp(_tt(_shape(v), dt), v, a, b)


OPS["aten.relu.default"] = _unary(lambda v, dt: _clamp(v, 0, None, dt), float_only=False)
OPS["aten.clamp.default"] = lambda cx, a: _unary(lambda v, dt: _clamp(v, a["min"], a["max"], dt), False)(cx, a)
OPS["aten.hardtanh.default"] = lambda cx, a: _unary(lambda v, dt: _clamp(v, a["min_val"], a["max_val"], dt))(cx, a)


@op("aten.gelu.default")
def _gelu(cx, a):
    out = cx.out
    dt = out.dtype
    r = len(out.shape)
    x = load(cx, a["self"], dt)
    c = lambda val: splat(val, [1] * r, dt)  # noqa: E731
    if a["approximate"] == "tanh":
        inner = mul(c(pymath.sqrt(2 / pymath.pi)), add(x, mul(c(0.044715), mul(x, mul(x, x, dt), dt), dt), dt), dt)
        t = unary_op("tanh", inner, dt)
    else:
        t = unary_op("erf", mul(x, c(1 / pymath.sqrt(2.0)), dt), dt)
    return mul(mul(c(0.5), x, dt), add(c(1.0), t, dt), dt)


@op("aten.where.self")
def _where(cx, a):
    out = cx.out
    r = len(out.shape)
    c = load(cx, a["condition"], "bool", r, out.shape)
    return store(select(c, load(cx, a["self"], out.dtype, r), load(cx, a["other"], out.dtype, r), out.dtype),
                 out.dtype, out.dtype)


@op("aten._to_copy.default", "aten.clone.default", "aten.alias.default")
def _copy(cx, a):
    x = a["self"]
    out = cx.out
    src = cx.dtype(x)
    if src == out.dtype:
        return cx.value(x)
    return store(load(cx, x, src), src, out.dtype)


@op("aten.full.default", "aten.scalar_tensor.default", "aten.full_like.default", "aten.fill.Scalar")
def _full(cx, a):
    v = a.get("fill_value", a.get("s", a.get("value")))
    return store(splat(v, cx.out.shape, cx.out.dtype), cx.out.dtype, cx.out.dtype)


@op("aten.arange.start_step", "aten.arange.default", "aten.arange.start")
def _arange(cx, a):
    """Static arange is a constant."""
    start, step = a.get("start", 0) or 0, a.get("step", 1) or 1
    out = cx.out
    vals = [start + i * step for i in range(out.shape[0])]
    t = torch.tensor(vals, dtype=out.torch_dtype)
    tt = _tt(out.shape, out.dtype)
    attrs = [_scalar_attr(v, out.dtype) for v in t.tolist()]
    return tosa.const(ir.DenseElementsAttr.get(attrs, type=tt) if attrs else
                      ir.DenseElementsAttr.get_splat(tt, _scalar_attr(0, out.dtype)))


# ------------------------------------------------------------------ shapes
@op("aten.view.default", "aten._unsafe_view.default", "aten.squeeze.dim", "aten.squeeze.dims",
    "aten.squeeze.default", "aten.unsqueeze.default")
def _view(cx, a):
    return reshape(cx.value(a["self"]), cx.out.shape)


def _transpose(v: ir.Value, perm: Sequence[int]) -> ir.Value:
    shape = _shape(v)
    et = ir.RankedTensorType(v.type).element_type
    return tosa.transpose(ir.RankedTensorType.get([shape[p] for p in perm], et), v,
                          ir.DenseI32ArrayAttr.get([int(p) for p in perm]))


@op("aten.permute.default")
def _permute(cx, a):
    rank = len(cx.shape(a["self"]))
    return _transpose(cx.value(a["self"]), [d % rank for d in a["dims"]]) if rank else cx.value(a["self"])


@op("aten.expand.default")
def _expand(cx, a):
    out = list(cx.out.shape)
    v = cx.value(a["self"])
    v = reshape(v, [1] * (len(out) - len(_shape(v))) + _shape(v))
    mult = [o // s for o, s in zip(out, _shape(v))]
    if all(m == 1 for m in mult):
        return v
    et = ir.RankedTensorType(v.type).element_type
    return tosa.tile(ir.RankedTensorType.get(out, et), v, shape_value(mult))


def _slice(v, starts, sizes):
    et = ir.RankedTensorType(v.type).element_type
    return tosa.slice(ir.RankedTensorType.get(list(sizes), et), v, shape_value(starts), shape_value(sizes))


@op("aten.slice.Tensor")
def _slice_op(cx, a):
    shape = list(cx.shape(a["self"]))
    dim = a["dim"] % len(shape)
    step = a["step"] or 1
    if step != 1:
        raise Unsupported("strided slice (step != 1) has no TOSA op")
    start = a["start"] or 0
    start = start + shape[dim] if start < 0 else start
    start = min(max(start, 0), shape[dim])
    starts = [0] * len(shape)
    starts[dim] = start
    if cx.out.shape[dim] == 0:
        raise Unsupported("empty slice")
    return _slice(cx.value(a["self"]), starts, cx.out.shape)


@op("aten.select.int")
def _select(cx, a):
    shape = list(cx.shape(a["self"]))
    dim = a["dim"] % len(shape)
    starts = [0] * len(shape)
    starts[dim] = a["index"] % shape[dim]
    sizes = list(shape)
    sizes[dim] = 1
    return reshape(_slice(cx.value(a["self"]), starts, sizes), cx.out.shape)


@op("aten.split_with_sizes.default")
def _split(cx, a):
    shape = list(cx.shape(a["self"]))
    dim = a["dim"] % len(shape)
    res, off = [], 0
    for spec in cx.node.outputs:
        starts = [0] * len(shape)
        starts[dim] = off
        res.append(_slice(cx.value(a["self"]), starts, spec.shape))
        off += spec.shape[dim]
    return res


@op("aten.cat.default")
def _cat(cx, a):
    out = cx.out
    dim = a["dim"] % len(out.shape)
    vals = [store(load(cx, t, out.dtype), out.dtype, out.dtype) for t in a["tensors"] if cx.shape(t)[dim] != 0
            and len(cx.shape(t)) == len(out.shape)]
    return tosa.concat(vals, ir.IntegerAttr.get(ir.IntegerType.get_signless(32), dim))


@op("aten.constant_pad_nd.default")
def _pad(cx, a):
    pad = list(a["pad"])
    if any(p < 0 for p in pad):
        raise Unsupported("negative padding")
    shape = list(cx.shape(a["self"]))
    r = len(shape)
    pads = [0] * (2 * r)
    for i in range(len(pad) // 2):
        d = r - 1 - i
        pads[2 * d], pads[2 * d + 1] = pad[2 * i], pad[2 * i + 1]
    dt = cx.out.dtype
    v = cx.value(a["self"])
    et = ir.RankedTensorType(v.type).element_type
    pc = tosa.const(ir.DenseElementsAttr.get_splat(ir.RankedTensorType.get([1], et),
                                                   _scalar_attr(a["value"] or 0, "i8" if dt == "bool" else dt)))
    return tosa.pad(ir.RankedTensorType.get(list(cx.out.shape), et), v, shape_value(pads), pc)


@op("aten.embedding.default")
def _embedding(cx, a):
    w = cx.value(a["weight"])
    n, c = cx.shape(a["weight"])
    ids = cx.value(a["indices"])
    ishape = list(cx.shape(a["indices"]))
    k = 1
    for d in ishape:
        k *= d
    idx = tosa.cast(_tt([1, k], "i32"), reshape(ids, [1, k]))
    et = ir.RankedTensorType(w.type).element_type
    g = tosa.gather(ir.RankedTensorType.get([1, k, c], et), reshape(w, [1, n, c]), idx)
    return reshape(g, cx.out.shape)


# ------------------------------------------------------------------ reductions
def _dims(a, rank):
    d = a.get("dim")
    if d is None or d == []:
        return list(range(rank))
    return [x % rank for x in ([d] if isinstance(d, int) else d)]


@op("aten.sum.dim_IntList")
def _sum(cx, a):
    x = a["self"]
    dt = cx.out.dtype
    acc = compute_dtype(dt)
    v = reduce("sum", load(cx, x, acc), _dims(a, len(cx.shape(x))), acc)
    return reshape(store(v, acc, dt), cx.out.shape)


@op("aten.mean.dim")
def _mean(cx, a):
    x = a["self"]
    shape = cx.shape(x)
    dims = _dims(a, len(shape))
    n = 1
    for d in dims:
        n *= shape[d]
    dt = cx.out.dtype
    acc = compute_dtype(dt)
    v = reduce("sum", load(cx, x, acc), dims, acc)
    v = mul(v, splat(1.0 / n, [1] * len(shape), acc), acc)
    return reshape(store(v, acc, dt), cx.out.shape)


@op("aten.var.correction")
def _var(cx, a):
    x = a["self"]
    shape = cx.shape(x)
    dims = _dims(a, len(shape))
    n = 1
    for d in dims:
        n *= shape[d]
    corr = 1 if a["correction"] is None else a["correction"]
    dt = cx.out.dtype
    acc = compute_dtype(dt)
    r = len(shape)
    v = load(cx, x, acc)
    c = sub(v, mul(reduce("sum", v, dims, acc), splat(1.0 / n, [1] * r, acc), acc), acc)
    s = reduce("sum", mul(c, c, acc), dims, acc)
    denom = max(n - corr, 0)
    s = mul(s, splat(1.0 / denom if denom else float("inf"), [1] * r, acc), acc)
    return reshape(store(s, acc, dt), cx.out.shape)


@op("aten.amax.default", "aten.amin.default")
def _amax(cx, a):
    x = a["self"]
    kind = "max" if "amax" in cx.node.op else "min"
    v = reduce(kind, load(cx, x, cx.dtype(x)), _dims(a, len(cx.shape(x))), cx.dtype(x))
    return reshape(store(v, cx.dtype(x), cx.out.dtype), cx.out.shape)


@op("aten.any.dim", "aten.any.dims", "aten.any.default")
def _any(cx, a):
    x = a["self"]
    # any == max over 0/1 bytes (an i1 reduction would leave an i1 buffer, which MLIR 22 cannot lower)
    v = store(load(cx, x, "bool"), "bool", "bool")
    return reshape(reduce("max", v, _dims(a, len(cx.shape(x))), "i8"), cx.out.shape)


@op("aten.argmax.default")
def _argmax(cx, a):
    x = a["self"]
    v = cx.value(x)
    if a["dim"] is None:
        v = reshape(v, [int(torch.tensor(cx.shape(x)).prod())])
        dim = 0
    else:
        dim = a["dim"] % len(cx.shape(x))
    oshape = [s for i, s in enumerate(_shape(v)) if i != dim]
    r = tosa.argmax(_tt(oshape, "i32"), v, ir.IntegerAttr.get(ir.IntegerType.get_signless(32), dim))
    return reshape(tosa.cast(_tt(oshape, "i64"), r), cx.out.shape)


# ------------------------------------------------------------------ linear algebra, conv, pooling
def _bmm(x, y, out_dt):
    acc = compute_dtype(out_dt) if is_float(out_dt) else "i32"
    xs, ys = _shape(x), _shape(y)
    et = ir.RankedTensorType(x.type).element_type
    dt = "f32" if isinstance(et, ir.F32Type) else None
    r = tosa.matmul(ir.RankedTensorType.get([xs[0], xs[1], ys[2]], scalar_type(acc if not dt else "f32")),
                    x, y, splat(0, [1], _dt_of(x)), splat(0, [1], _dt_of(y)))
    return r, acc if not dt else "f32"


def _dt_of(v: ir.Value) -> str:
    et = ir.RankedTensorType(v.type).element_type
    for name in ("f32", "f16", "bf16", "f64", "i8", "i16", "i32", "i64"):
        if scalar_type(name) == et:
            return name
    raise Unsupported(f"element type {et}")


@op("aten.mm.default", "aten.bmm.default")
def _mm(cx, a):
    x, y = cx.value(a["self"]), cx.value(a["mat2"])
    dt = cx.out.dtype
    if not is_float(dt):
        raise Unsupported("integer matmul")
    if len(_shape(x)) == 2:
        x, y = reshape(x, [1] + _shape(x)), reshape(y, [1] + _shape(y))
    r, rdt = _bmm(x, y, dt)
    return reshape(store(r, rdt, dt), cx.out.shape)


@op("aten.addmm.default")
def _addmm(cx, a):
    x, y = cx.value(a["mat1"]), cx.value(a["mat2"])
    dt = cx.out.dtype
    r, rdt = _bmm(reshape(x, [1] + _shape(x)), reshape(y, [1] + _shape(y)), dt)
    r = reshape(r, cx.out.shape)
    if a["alpha"] != 1:
        r = mul(r, splat(a["alpha"], [1, 1], rdt), rdt)
    b = load(cx, a["self"], rdt, 2)
    if a["beta"] != 1:
        b = mul(b, splat(a["beta"], [1, 1], rdt), rdt)
    return store(add(r, b, rdt) if a["beta"] != 0 else r, rdt, dt)


def _nchw_to_nhwc(v):
    return _transpose(v, [0, 2, 3, 1])


def _nhwc_to_nchw(v):
    return _transpose(v, [0, 3, 1, 2])


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
    ws = _shape(w)
    f = ws[0]
    bias = cx.value(a["bias"]) if a["bias"] is not None else splat(0, [f], dt)
    out = list(cx.out.shape)
    acc = ir.TypeAttr.get(scalar_type("f32" if dt in ("f16", "bf16", "f32") else dt))
    keff = [(k - 1) * d + 1 for k, d in zip(ws[1:3], dil)]
    x, pads = _floor_mode_window(x, keff, stride, pad)
    xs_nhwc = _shape(x)
    cg, fg = xs_nhwc[3] // groups, f // groups
    parts = []
    for g in range(groups):  # grouped convolution: one tosa.conv2d per group, then concat
        xg = x if groups == 1 else _slice(x, [0, 0, 0, g * cg], xs_nhwc[:3] + [cg])
        wg = w if groups == 1 else _slice(w, [g * fg, 0, 0, 0], [fg] + ws[1:])
        bg = bias if groups == 1 else _slice(bias, [g * fg], [fg])
        parts.append(tosa.conv2d(_tt([out[0], out[2], out[3], fg], dt), xg, wg, bg, _zp(dt), _zp(dt),
                                 ir.DenseI64ArrayAttr.get(pads),
                                 ir.DenseI64ArrayAttr.get(stride), ir.DenseI64ArrayAttr.get(dil), acc))
    r = parts[0] if groups == 1 else tosa.concat(parts, ir.IntegerAttr.get(ir.IntegerType.get_signless(32), 3))
    return _nhwc_to_nchw(r)


def _floor_mode_window(v: ir.Value, ks, st, pd):
    """TOSA pools need (in + pads - k) divisible by stride; PyTorch's floor mode drops the rest:
    shrink the bottom/right padding, or crop the input where there is not enough padding."""
    shape = _shape(v)  # NHWC
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
        v = _slice(v, [0, 0, 0, 0], [shape[0], crop[0], crop[1], shape[3]])
    return v, pads


@op("aten.max_pool2d_with_indices.default")
def _maxpool(cx, a):
    ks, st, pd = pool_window(a)
    if any(d != 1 for d in a["dilation"]) or a["ceil_mode"]:
        raise Unsupported("dilated or ceil_mode max pooling")
    out = list(cx.outs(0).shape)
    x, pads = _floor_mode_window(_nchw_to_nhwc(cx.value(a["self"])), ks, st, pd)
    r = tosa.max_pool2d(_tt([out[0], out[2], out[3], out[1]], cx.outs(0).dtype), x, ir.DenseI64ArrayAttr.get(ks),
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
    r = tosa.avg_pool2d(_tt([out[0], out[2], out[3], out[1]], dt), x, _zp(dt), _zp(dt),
                        ir.DenseI64ArrayAttr.get(ks), ir.DenseI64ArrayAttr.get(st),
                        ir.DenseI64ArrayAttr.get(pads),
                        ir.TypeAttr.get(scalar_type("f32")))
    return _nhwc_to_nchw(r)


# ------------------------------------------------------------------ normalization / softmax (composites)
@op("aten._softmax.default", "aten._log_softmax.default")
def _softmax(cx, a):
    x = a["self"]
    shape = list(cx.shape(x))
    dim = a["dim"] % len(shape)
    dt = cx.out.dtype
    acc = compute_dtype(dt)
    v = load(cx, x, acc)
    m = reduce("max", v, [dim], acc)
    z = sub(v, m, acc)
    e = unary_op("exp", z, acc)
    s = reduce("sum", e, [dim], acc)
    if "log" in cx.node.op:
        return store(sub(z, unary_op("log", s, acc), acc), acc, dt)
    return store(mul(e, recip(s, acc), acc), acc, dt)


@op("aten.native_layer_norm.default")
def _layer_norm(cx, a):
    x = a["input"]
    shape = list(cx.shape(x))
    dims, n = normalized_dims(shape, len(a["normalized_shape"]))
    dt = cx.outs(0).dtype
    acc = compute_dtype(dt)
    r = len(shape)
    v = load(cx, x, acc)
    inv_n = splat(1.0 / n, [1] * r, acc)
    mean = mul(reduce("sum", v, dims, acc), inv_n, acc)
    c = sub(v, mean, acc)
    var = mul(reduce("sum", mul(c, c, acc), dims, acc), inv_n, acc)
    rstd = unary_op("rsqrt", add(var, splat(a["eps"], [1] * r, acc), acc), acc)
    y = mul(c, rstd, acc)
    if a["weight"] is not None:
        y = mul(y, load(cx, a["weight"], acc, r), acc)
    if a["bias"] is not None:
        y = add(y, load(cx, a["bias"], acc, r), acc)
    return [store(y, acc, dt), reshape(store(mean, acc, cx.outs(1).dtype), cx.outs(1).shape),
            reshape(store(rstd, acc, cx.outs(2).dtype), cx.outs(2).shape)]


@op("aten._native_batch_norm_legit_no_training.default")
def _batch_norm(cx, a):
    x = a["input"]
    shape = list(cx.shape(x))
    r = len(shape)
    dt = cx.outs(0).dtype
    acc = compute_dtype(dt)
    per_c = lambda t: reshape(load(cx, t, acc), [1, shape[1]] + [1] * (r - 2))  # noqa: E731
    y = sub(load(cx, x, acc), per_c(a["running_mean"]), acc)
    y = mul(y, unary_op("rsqrt", add(per_c(a["running_var"]), splat(a["eps"], [1] * r, acc), acc), acc), acc)
    if a["weight"] is not None:
        y = mul(y, per_c(a["weight"]), acc)
    if a["bias"] is not None:
        y = add(y, per_c(a["bias"]), acc)
    from mlir.dialects import tensor
    return [store(y, acc, dt), tensor.empty(list(cx.outs(1).shape), elem_type(cx.outs(1).dtype)),
            tensor.empty(list(cx.outs(2).shape), elem_type(cx.outs(2).dtype))]


from . import tosa_extra  # noqa: E402,F401  (registers pow.Tensor_Scalar, cumsum, index.Tensor)

TOSA_OPS = OPS
