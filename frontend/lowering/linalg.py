"""Core ATen -> linalg (+ tensor, arith, math) op table.

`LINALG_OPS` maps an ATen overload name to its emitter `fn(cx, args) -> Value | [Value|None]`,
where `args` are the schema-named arguments (tensor operands are `Ref`s). Named linalg ops
are used where they exist (matmul, batch_matmul, conv_2d_nchw_fchw, pooling_nchw_max/sum,
fill, transpose); linalg.generic otherwise.
"""

from __future__ import annotations

import math as pymath
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch
from mlir import ir
from mlir.dialects import arith, linalg, math, tensor

from ..graph import Ref
from .common import (Unsupported, cast, compare, compute_dtype, const, elementwise, empty, extract_slice,
                     filled, generic, highest, insert_slice, is_float, lowest, maximum, minimum, normalized_dims,
                     pool_window, reduce,
                     reshape, shape_of, transpose)
from . import common as C

OPS: Dict[str, Callable] = {}


def op(*names: str):
    def deco(fn):
        for n in names:
            OPS[n] = fn
        return fn
    return deco


def _promote(cx, *xs: Any) -> str:
    """PyTorch type promotion over tensor operands and Python scalars."""
    from ..graph import TORCH_TO_NAME
    vals = []
    for x in xs:
        if isinstance(x, Ref):
            s = cx.spec(x)
            vals.append(torch.empty((1,) if s.rank else (), dtype=s.torch_dtype))
        elif x is not None:
            vals.append(x)
    r = vals[0]
    dt = r.dtype if isinstance(r, torch.Tensor) else torch.tensor(r).dtype
    acc = torch.empty((), dtype=dt) if not isinstance(r, torch.Tensor) else r
    for v in vals[1:]:
        dt = torch.result_type(acc, v)
        acc = torch.empty((1,) if (isinstance(acc, torch.Tensor) and acc.dim()) or
                          (isinstance(v, torch.Tensor) and v.dim()) else (), dtype=dt)
    return TORCH_TO_NAME[acc.dtype if isinstance(acc, torch.Tensor) else dt]


def _ew(cx, xs: Sequence[Any], body, cdt: Optional[str] = None, out=None) -> ir.Value:
    out = out or cx.out
    return elementwise([cx.operand(x) for x in xs], out.shape, out.dtype, body, cdt)


# ------------------------------------------------------------------ elementwise unary
def _unary(fn: Callable[[ir.Value, str], ir.Value], float_only: bool = False):
    def emit(cx, a):
        x = a["self"]
        dt = cx.out.dtype
        cdt = compute_dtype(dt)
        if float_only and not is_float(cdt):
            cdt = "f32"
        return _ew(cx, [x], lambda v: fn(v, cdt), cdt=cdt)
    return emit


def _float_math(name: str):
    return _unary(lambda v, dt: getattr(math, name)(v), float_only=True)


for _n in ["exp", "log", "sqrt", "rsqrt", "sin", "cos", "tan", "tanh", "erf", "log2", "log10", "log1p",
           "expm1", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "ceil", "floor",
           "trunc"]:
    OPS[f"aten.{_n}.default"] = _float_math(_n)

OPS["aten.round.default"] = _unary(lambda v, dt: math.roundeven(v) if is_float(dt) else v)
OPS["aten.ceil.default"] = _unary(lambda v, dt: math.ceil(v) if is_float(dt) else v)
OPS["aten.floor.default"] = _unary(lambda v, dt: math.floor(v) if is_float(dt) else v)
OPS["aten.trunc.default"] = _unary(lambda v, dt: math.trunc(v) if is_float(dt) else v)
OPS["aten.neg.default"] = _unary(lambda v, dt: arith.negf(v) if is_float(dt) else arith.subi(const(0, dt), v))
OPS["aten.abs.default"] = _unary(lambda v, dt: math.absf(v) if is_float(dt) else math.absi(v))
OPS["aten.reciprocal.default"] = _unary(lambda v, dt: arith.divf(const(1.0, dt), v), float_only=True)
OPS["aten.sigmoid.default"] = _unary(
    lambda v, dt: arith.divf(const(1.0, dt), arith.addf(const(1.0, dt), math.exp(arith.negf(v)))), float_only=True)
OPS["aten.relu.default"] = _unary(lambda v, dt: maximum(v, const(0, dt), dt))
OPS["aten.bitwise_not.default"] = _unary(
    lambda v, dt: arith.xori(v, const(1 if dt == "bool" else -1, dt)))
OPS["aten.logical_not.default"] = lambda cx, a: _ew(
    cx, [a["self"]], lambda v: compare("eq", v, const(0, cx.dtype(a["self"])), cx.dtype(a["self"])),
    cdt=cx.dtype(a["self"]))


def _sign(v, dt):
    if not is_float(dt):
        if dt == "bool":
            return v
        pos = arith.extui(C.scalar_type(dt), compare("gt", v, const(0, dt), dt))
        neg = arith.extui(C.scalar_type(dt), compare("lt", v, const(0, dt), dt))
        return arith.subi(pos, neg)
    pos = arith.select(compare("gt", v, const(0.0, dt), dt), const(1.0, dt), const(0.0, dt))
    neg = arith.select(compare("lt", v, const(0.0, dt), dt), const(1.0, dt), const(0.0, dt))
    return arith.subf(pos, neg)


OPS["aten.sign.default"] = _unary(_sign)


@op("aten.isnan.default")
def _isnan(cx, a):
    dt = compute_dtype(cx.dtype(a["self"]))
    if not is_float(dt):
        return filled(cx.out.shape, "bool", 0)
    return _ew(cx, [a["self"]], lambda v: arith.cmpf(arith.CmpFPredicate.UNO, v, v), cdt=dt)


@op("aten.isinf.default")
def _isinf(cx, a):
    dt = compute_dtype(cx.dtype(a["self"]))
    if not is_float(dt):
        return filled(cx.out.shape, "bool", 0)
    return _ew(cx, [a["self"]], lambda v: arith.cmpf(arith.CmpFPredicate.OEQ, math.absf(v), const(pymath.inf, dt)),
               cdt=dt)


def _gelu(v, dt, approximate):
    half, one = const(0.5, dt), const(1.0, dt)
    if approximate == "tanh":
        k = const(pymath.sqrt(2.0 / pymath.pi), dt)
        inner = arith.mulf(k, arith.addf(v, arith.mulf(const(0.044715, dt), arith.mulf(v, arith.mulf(v, v)))))
        return arith.mulf(arith.mulf(half, v), arith.addf(one, math.tanh(inner)))
    return arith.mulf(arith.mulf(half, v), arith.addf(one, math.erf(arith.mulf(v, const(1 / pymath.sqrt(2.0), dt)))))


@op("aten.gelu.default")
def _gelu_op(cx, a):
    dt = compute_dtype(cx.out.dtype)
    return _ew(cx, [a["self"]], lambda v: _gelu(v, dt, a["approximate"]))


@op("aten.leaky_relu.default")
def _leaky(cx, a):
    dt = compute_dtype(cx.out.dtype)
    s = a["negative_slope"]
    return _ew(cx, [a["self"]], lambda v: arith.select(compare("gt", v, const(0.0, dt), dt), v,
                                                        arith.mulf(v, const(s, dt))))


@op("aten.elu.default")
def _elu(cx, a):
    dt = compute_dtype(cx.out.dtype)
    alpha, scale, iscale = a["alpha"], a["scale"], a["input_scale"]

    def body(v):
        neg = arith.mulf(const(alpha, dt), math.expm1(arith.mulf(v, const(iscale, dt))))
        return arith.mulf(const(scale, dt), arith.select(compare("gt", v, const(0.0, dt), dt), v, neg))
    return _ew(cx, [a["self"]], body)


@op("aten.hardtanh.default")
def _hardtanh(cx, a):
    dt = compute_dtype(cx.out.dtype)
    lo, hi = a["min_val"], a["max_val"]
    return _ew(cx, [a["self"]], lambda v: minimum(maximum(v, const(lo, dt), dt), const(hi, dt), dt))


@op("aten.clamp.default", "aten.clamp.Tensor")
def _clamp(cx, a):
    dt = compute_dtype(cx.out.dtype)
    lo, hi = a["min"], a["max"]
    xs = [a["self"]] + [b for b in (lo, hi) if b is not None]

    def body(v, *bounds):
        it = iter(bounds)
        if lo is not None:
            v = maximum(v, next(it), dt)
        if hi is not None:
            v = minimum(v, next(it), dt)
        return v
    return _ew(cx, xs, body)


# ------------------------------------------------------------------ elementwise binary
def _binary(fn: Callable[[ir.Value, ir.Value, str], ir.Value], arith_out: bool = True, alpha: bool = False):
    def emit(cx, a):
        x, y = a["self"], a["other"]
        if arith_out:
            cdt = compute_dtype(cx.out.dtype)
        else:
            cdt = compute_dtype(_promote(cx, x, y))
        al = a.get("alpha", 1) if alpha else 1

        def body(u, v):
            if al != 1:
                v = C.mul(v, const(al, cdt), cdt)
            return fn(u, v, cdt)
        return _ew(cx, [x, y], body, cdt=cdt)
    return emit


for _ov in ("Tensor", "Scalar"):
    OPS[f"aten.add.{_ov}"] = _binary(C.add, alpha=True)
    OPS[f"aten.sub.{_ov}"] = _binary(C.sub, alpha=True)
    OPS[f"aten.mul.{_ov}"] = _binary(C.mul)
    OPS[f"aten.div.{_ov}"] = _binary(lambda u, v, dt: C.div(u, v, dt))
    for _k in ("eq", "ne", "lt", "le", "gt", "ge"):
        OPS[f"aten.{_k}.{_ov}"] = _binary(lambda u, v, dt, _k=_k: compare(_k, u, v, dt), arith_out=False)
    OPS[f"aten.bitwise_and.{_ov}"] = _binary(lambda u, v, dt: arith.andi(u, v))
    OPS[f"aten.bitwise_or.{_ov}"] = _binary(lambda u, v, dt: arith.ori(u, v))
    OPS[f"aten.bitwise_xor.{_ov}"] = _binary(lambda u, v, dt: arith.xori(u, v))


def _floordiv_f(u, v, dt):
    return math.floor(arith.divf(u, v))


def _floordiv_i(u, v, dt):
    return arith.floordivsi(u, v)


@op("aten.div.Tensor_mode", "aten.div.Scalar_mode")
def _div_mode(cx, a):
    mode = a["rounding_mode"]
    cdt = compute_dtype(cx.out.dtype)
    if mode is None:
        return _ew(cx, [a["self"], a["other"]], lambda u, v: C.div(u, v, cdt), cdt=cdt)
    if mode == "trunc":
        return _ew(cx, [a["self"], a["other"]],
                   lambda u, v: math.trunc(arith.divf(u, v)) if is_float(cdt) else arith.divsi(u, v), cdt=cdt)
    return _ew(cx, [a["self"], a["other"]],
               lambda u, v: _floordiv_f(u, v, cdt) if is_float(cdt) else _floordiv_i(u, v, cdt), cdt=cdt)


def _remainder(u, v, dt):
    if is_float(dt):
        r = arith.remf(u, v)
        fix = arith.andi(compare("ne", r, const(0.0, dt), dt),
                         arith.xori(compare("lt", r, const(0.0, dt), dt), compare("lt", v, const(0.0, dt), dt)))
        return arith.select(fix, arith.addf(r, v), r)
    r = arith.remsi(u, v)
    fix = arith.andi(compare("ne", r, const(0, dt), dt),
                     arith.xori(compare("lt", r, const(0, dt), dt), compare("lt", v, const(0, dt), dt)))
    return arith.select(fix, arith.addi(r, v), r)


for _ov in ("Tensor", "Scalar"):
    OPS[f"aten.remainder.{_ov}"] = _binary(_remainder)
    OPS[f"aten.fmod.{_ov}"] = _binary(lambda u, v, dt: arith.remf(u, v) if is_float(dt) else arith.remsi(u, v))
OPS["aten.maximum.default"] = _binary(maximum)
OPS["aten.minimum.default"] = _binary(minimum)
OPS["aten.atan2.default"] = _binary(lambda u, v, dt: math.atan2(u, v))
OPS["aten.logical_and.default"] = _binary(
    lambda u, v, dt: arith.andi(compare("ne", u, const(0, dt), dt), compare("ne", v, const(0, dt), dt)), False)
OPS["aten.logical_or.default"] = _binary(
    lambda u, v, dt: arith.ori(compare("ne", u, const(0, dt), dt), compare("ne", v, const(0, dt), dt)), False)
OPS["aten.logical_xor.default"] = _binary(
    lambda u, v, dt: arith.xori(compare("ne", u, const(0, dt), dt), compare("ne", v, const(0, dt), dt)), False)


def _pow(u, v, dt):
    if not is_float(dt):
        return math.ipowi(u, v)
    return math.powf(u, v)


@op("aten.pow.Tensor_Tensor", "aten.pow.Tensor_Scalar", "aten.pow.Scalar")
def _pow_op(cx, a):
    base = a["self"]
    ex = a["exponent"]
    cdt = compute_dtype(cx.out.dtype)
    if isinstance(ex, (int, float)) and not isinstance(ex, bool) and is_float(cdt):
        if ex == 2:
            return _ew(cx, [base], lambda u: arith.mulf(u, u), cdt=cdt)
        if ex == 0.5:
            return _ew(cx, [base], lambda u: math.sqrt(u), cdt=cdt)
        if float(ex).is_integer():
            return _ew(cx, [base], lambda u: math.fpowi(u, const(int(ex), "i32")), cdt=cdt)
    return _ew(cx, [base, ex], lambda u, v: _pow(u, v, cdt), cdt=cdt)


@op("aten.where.self")
def _where(cx, a):
    cdt = compute_dtype(cx.out.dtype)
    c, cdt_c = cx.operand(a["condition"])
    ops = [(c, cdt_c, "bool"), cx.operand(a["self"]), cx.operand(a["other"])]
    return elementwise(ops, cx.out.shape, cx.out.dtype, lambda k, u, v: arith.select(k, u, v), cdt=cdt)


# ------------------------------------------------------------------ casts / copies / creation
@op("aten._to_copy.default", "aten.clone.default", "aten.alias.default", "aten.lift_fresh_copy.default")
def _copy(cx, a):
    x = a["self"]
    src = cx.dtype(x)
    dst = cx.out.dtype
    if src == dst and list(cx.shape(x)) == list(cx.out.shape):
        return cx.value(x)
    return elementwise([cx.operand(x)], cx.out.shape, dst, lambda v: v, cdt=src)


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


# ------------------------------------------------------------------ shapes and views
@op("aten.view.default", "aten._unsafe_view.default", "aten.squeeze.dim",
    "aten.squeeze.dims", "aten.squeeze.default", "aten.unsqueeze.default", "aten.view_copy.default")
def _view(cx, a):
    return reshape(cx.value(a["self"]), cx.out.shape)


@op("aten.permute.default")
def _permute(cx, a):
    rank = len(cx.shape(a["self"]))
    return transpose(cx.value(a["self"]), [d % rank for d in a["dims"]]) if rank else cx.value(a["self"])


@op("aten.t.default")
def _t(cx, a):
    rank = len(cx.shape(a["self"]))
    return transpose(cx.value(a["self"]), [1, 0]) if rank == 2 else cx.value(a["self"])


@op("aten.transpose.int")
def _transpose_int(cx, a):
    rank = len(cx.shape(a["self"]))
    perm = list(range(rank))
    d0, d1 = a["dim0"] % rank, a["dim1"] % rank
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return transpose(cx.value(a["self"]), perm)


@op("aten.expand.default", "aten.expand_copy.default")
def _expand(cx, a):
    x, dt = cx.operand(a["self"])
    return elementwise([(x, dt)], cx.out.shape, cx.out.dtype, lambda v: v, cdt=dt)


@op("aten.slice.Tensor", "aten.slice_copy.Tensor")
def _slice(cx, a):
    shape = list(cx.shape(a["self"]))
    rank = len(shape)
    dim = a["dim"] % rank
    start, step = a["start"], a["step"] or 1  # the end is implied by the output size
    size = shape[dim]
    start = 0 if start is None else (start + size if start < 0 else start)
    start = min(max(start, 0), size)
    offsets = [0] * rank
    offsets[dim] = start
    strides = [1] * rank
    strides[dim] = step
    sizes = list(cx.out.shape)
    if sizes[dim] == 0:
        return filled(sizes, cx.out.dtype, 0)
    return extract_slice(cx.value(a["self"]), offsets, sizes, strides)


@op("aten.select.int")
def _select(cx, a):
    shape = list(cx.shape(a["self"]))
    dim = a["dim"] % len(shape)
    idx = a["index"] % shape[dim]
    offsets = [0] * len(shape)
    offsets[dim] = idx
    sizes = list(shape)
    sizes[dim] = 1
    return extract_slice(cx.value(a["self"]), offsets, sizes, [1] * len(shape), cx.out.shape)


@op("aten.split_with_sizes.default", "aten.split.Tensor")
def _split(cx, a):
    shape = list(cx.shape(a["self"]))
    dim = a["dim"] % len(shape)
    res, off = [], 0
    for i, spec in enumerate(cx.node.outputs):
        offsets = [0] * len(shape)
        offsets[dim] = off
        res.append(extract_slice(cx.value(a["self"]), offsets, list(spec.shape), [1] * len(shape)))
        off += spec.shape[dim]
    return res


@op("aten.cat.default")
def _cat(cx, a):
    out = cx.out
    rank = len(out.shape)
    dim = a["dim"] % rank
    acc = empty(out.shape, out.dtype)
    off = 0
    for t in a["tensors"]:
        shp = cx.shape(t)
        if len(shp) == 1 and shp[0] == 0 and rank != 1:
            continue
        if shp[dim] == 0:
            continue
        v = cx.value(t)
        if cx.dtype(t) != out.dtype:
            v = elementwise([(v, cx.dtype(t))], shp, out.dtype, lambda x: x, cdt=cx.dtype(t))
        offsets = [0] * rank
        offsets[dim] = off
        acc = insert_slice(v, acc, offsets, list(shp), [1] * rank)
        off += shp[dim]
    return acc


@op("aten.constant_pad_nd.default")
def _pad(cx, a):
    x = cx.value(a["self"])
    shape = shape_of(x)
    rank = len(shape)
    pad = list(a["pad"])
    out = cx.out
    acc = filled(out.shape, out.dtype, a["value"] if a["value"] is not None else 0)
    src_off, dst_off, sizes = [0] * rank, [0] * rank, list(shape)
    for i in range(len(pad) // 2):
        d = rank - 1 - i
        lo, hi = pad[2 * i], pad[2 * i + 1]
        if lo < 0:
            src_off[d] = -lo
            sizes[d] += lo
        else:
            dst_off[d] = lo
        if hi < 0:
            sizes[d] += hi
    if any(s <= 0 for s in sizes):
        return acc
    if src_off != [0] * rank or sizes != shape:
        x = extract_slice(x, src_off, sizes, [1] * rank)
    return insert_slice(x, acc, dst_off, sizes, [1] * rank)


@op("aten.flip.default")
def _flip(cx, a):
    shape = list(cx.out.shape)
    rank = len(shape)
    dims = {d % rank for d in a["dims"]}
    src = cx.value(a["self"])

    def body(o):
        idx = []
        for d in range(rank):
            i = C.index(d)
            if d in dims:
                i = arith.subi(arith.constant(ir.IndexType.get(), shape[d] - 1), i)
            idx.append(i)
        return [tensor.extract(src, idx)]
    return generic([], [(empty(shape, cx.out.dtype), list(range(rank)))], ["parallel"] * rank, body)[0]


@op("aten.repeat.default")
def _repeat(cx, a):
    src = cx.value(a["self"])
    in_shape = list(cx.shape(a["self"]))
    out = list(cx.out.shape)
    rank = len(out)
    off = rank - len(in_shape)

    def body(o):
        idx = []
        for d in range(len(in_shape)):
            i = C.index(off + d)
            idx.append(arith.remui(i, arith.constant(ir.IndexType.get(), in_shape[d])))
        return [tensor.extract(src, idx)]
    return generic([], [(empty(out, cx.out.dtype), list(range(rank)))], ["parallel"] * rank, body)[0]


def _idx(v: ir.Value, dt: str, size: int) -> ir.Value:
    """An integer tensor element as an `index`, with negative values wrapped."""
    i64 = cast(v, dt, "i64")
    wrapped = arith.select(compare("lt", i64, const(0, "i64"), "i64"), arith.addi(i64, const(size, "i64")), i64)
    return arith.index_cast(ir.IndexType.get(), wrapped)


@op("aten.embedding.default")
def _embedding(cx, a):
    w = cx.value(a["weight"])
    ids = a["indices"]
    ishape = list(cx.shape(ids))
    out = cx.out
    r = len(out.shape)
    n = cx.shape(a["weight"])[0]
    idt = cx.dtype(ids)

    def body(i, o):
        return [tensor.extract(w, [_idx(i, idt, n), C.index(r - 1)])]
    return generic([(cx.value(ids), list(range(len(ishape))))], [(empty(out.shape, out.dtype), list(range(r)))],
                   ["parallel"] * r, body)[0]


@op("aten.index_select.default")
def _index_select(cx, a):
    src = cx.value(a["self"])
    shape = list(cx.shape(a["self"]))
    rank = len(shape)
    dim = a["dim"] % rank if rank else 0
    out = cx.out
    idt = cx.dtype(a["index"])
    iv = cx.value(a["index"])
    if rank == 0:
        return src

    def body(i, o):
        idx = [C.index(d) for d in range(rank)]
        idx[dim] = _idx(i, idt, shape[dim])
        return [tensor.extract(src, idx)]
    ishape = cx.shape(a["index"])
    return generic([(iv, [dim] if ishape else [])], [(empty(out.shape, out.dtype), list(range(rank)))],
                   ["parallel"] * rank, body)[0]


@op("aten.index.Tensor")
def _index(cx, a):
    src = cx.value(a["self"])
    shape = list(cx.shape(a["self"]))
    indices = list(a["indices"])
    indices += [None] * (len(shape) - len(indices))
    pos = [i for i, t in enumerate(indices) if t is not None]
    out = list(cx.out.shape)
    bshape = list(torch.broadcast_shapes(*[cx.shape(indices[i]) for i in pos]))
    b = len(bshape)
    adjacent = pos == list(range(pos[0], pos[-1] + 1))
    start = pos[0] if adjacent else 0
    # loop position of each source dim that is not indexed
    free = [d for d in range(len(shape)) if indices[d] is None]
    loop_of = {}
    k = 0
    for d in free:
        if adjacent and d > pos[0]:
            loop_of[d] = k + b
        else:
            loop_of[d] = k if adjacent else k + b
        k += 1
    ins = []
    for i in pos:
        ish = cx.shape(indices[i])
        off = b - len(ish)
        exprs = [None if ish[j] == 1 and bshape[off + j] != 1 else start + off + j for j in range(len(ish))]
        ins.append((cx.value(indices[i]), exprs))
    rank = len(out)

    def body(*args):
        vals = list(args[:-1])
        idx = []
        for d in range(len(shape)):
            if indices[d] is None:
                idx.append(C.index(loop_of[d]))
            else:
                idx.append(_idx(vals[pos.index(d)], cx.dtype(indices[d]), shape[d]))
        return [tensor.extract(src, idx)]
    return generic(ins, [(empty(out, cx.out.dtype), list(range(rank)))], ["parallel"] * rank, body)[0]


@op("aten.gather.default")
def _gather(cx, a):
    src = cx.value(a["self"])
    shape = list(cx.shape(a["self"]))
    rank = len(shape)
    dim = a["dim"] % max(rank, 1)
    out = cx.out
    idt = cx.dtype(a["index"])

    def body(i, o):
        idx = [C.index(d) for d in range(rank)]
        idx[dim] = _idx(i, idt, shape[dim])
        return [tensor.extract(src, idx)]
    return generic([(cx.value(a["index"]), list(range(rank)))], [(empty(out.shape, out.dtype), list(range(rank)))],
                   ["parallel"] * rank, body)[0]


@op("aten.diagonal.default")
def _diagonal(cx, a):
    src = cx.value(a["self"])
    shape = list(cx.shape(a["self"]))
    rank = len(shape)
    d1, d2, offset = a["dim1"] % rank, a["dim2"] % rank, a["offset"]
    out = list(cx.out.shape)
    rest = [d for d in range(rank) if d not in (d1, d2)]

    def body(o):
        idx: List[Any] = [None] * rank
        for k, d in enumerate(rest):
            idx[d] = C.index(k)
        i = C.index(len(rest))
        ix = lambda c: arith.addi(i, arith.constant(ir.IndexType.get(), c)) if c else i
        idx[d1] = ix(max(-offset, 0))
        idx[d2] = ix(max(offset, 0))
        return [tensor.extract(src, idx)]
    return generic([], [(empty(out, cx.out.dtype), list(range(len(out))))], ["parallel"] * len(out), body)[0]


# ------------------------------------------------------------------ reductions
def _dims(a, rank):
    d = a.get("dim")
    if d is None or d == []:
        return list(range(rank))
    return [x % rank for x in ([d] if isinstance(d, int) else d)] if rank else []


@op("aten.sum.dim_IntList", "aten.sum.default")
def _sum(cx, a):
    x = a["self"]
    rank = len(cx.shape(x))
    odt = cx.out.dtype
    acc = compute_dtype(odt) if odt != "bool" else "i64"
    return reduce(cx.value(x), cx.dtype(x), _dims(a, rank), a.get("keepdim", False), odt, 0,
                  lambda e, b: C.add(e, b, acc), acc)


@op("aten.mean.dim", "aten.mean.default")
def _mean(cx, a):
    x = a["self"]
    shape = cx.shape(x)
    dims = _dims(a, len(shape))
    n = 1
    for d in dims:
        n *= shape[d]
    odt = cx.out.dtype
    acc = compute_dtype(odt)
    s = reduce(cx.value(x), cx.dtype(x), dims, a.get("keepdim", False), acc, 0, lambda e, b: C.add(e, b, acc), acc)
    return elementwise([(s, acc)], cx.out.shape, odt, lambda v: arith.divf(v, const(float(n), acc)), cdt=acc)


@op("aten.prod.dim_int", "aten.prod.default")
def _prod(cx, a):
    x = a["self"]
    rank = len(cx.shape(x))
    odt = cx.out.dtype
    acc = compute_dtype(odt)
    return reduce(cx.value(x), cx.dtype(x), _dims(a, rank), a.get("keepdim", False), odt, 1,
                  lambda e, b: C.mul(e, b, acc), acc)


@op("aten.amax.default", "aten.amin.default")
def _amax(cx, a):
    x = a["self"]
    rank = len(cx.shape(x))
    dt = cx.dtype(x)
    is_max = cx.node.op.startswith("aten.amax")
    acc = compute_dtype(dt)
    return reduce(cx.value(x), dt, _dims(a, rank), a["keepdim"], cx.out.dtype,
                  lowest(acc) if is_max else highest(acc),
                  (lambda e, b: maximum(e, b, acc)) if is_max else (lambda e, b: minimum(e, b, acc)), acc)


@op("aten.any.default", "aten.any.dim", "aten.any.dims")
def _any(cx, a):
    x = a["self"]
    rank = len(cx.shape(x))
    dt = cx.dtype(x)
    return reduce(cx.value(x), dt, _dims(a, rank), a.get("keepdim", False), "bool", 0,
                  lambda e, b: arith.ori(e, b), "bool")


def _arg_reduce(cx, x, dim, keepdim, is_max):
    """(values, int64 indices) of the first max/min along `dim` (None: flattened)."""
    v = cx.value(x)
    dt = cx.dtype(x)
    shape = list(cx.shape(x))
    if dim is None:
        n = 1
        for s in shape:
            n *= s
        v = reshape(v, [n])
        shape, dim = [n], 0
    rank = len(shape)
    if rank == 0:
        return v, filled([], "i64", 0)
    dim %= rank
    acc = compute_dtype(dt) if dt != "bool" else "i32"
    kept = [i for i in range(rank) if i != dim]
    oshape = [shape[i] for i in kept]
    best = filled(oshape, acc, lowest(acc) if is_max else highest(acc))
    bidx = filled(oshape, "i64", 0)
    iters = ["reduction" if i == dim else "parallel" for i in range(rank)]

    def body(e, b, bi):
        e = cast(e, dt, acc)
        i = arith.index_cast(C.scalar_type("i64"), C.index(dim))
        better = compare("gt" if is_max else "lt", e, b, acc)
        if is_float(acc):  # NaN propagates and wins
            better = arith.ori(better, arith.andi(arith.cmpf(arith.CmpFPredicate.UNO, e, e),
                                                  arith.cmpf(arith.CmpFPredicate.ORD, b, b)))
        return [arith.select(better, e, b), arith.select(better, i, bi)]
    vals, idx = generic([(v, list(range(rank)))], [(best, kept), (bidx, kept)], iters, body)
    if acc != dt:
        vals = elementwise([(vals, acc)], oshape, dt, lambda u: u, cdt=acc)
    if keepdim:
        ks = [1 if i == dim else shape[i] for i in range(rank)]
        vals, idx = reshape(vals, ks), reshape(idx, ks)
    return vals, idx


@op("aten.argmax.default", "aten.argmin.default")
def _argmax(cx, a):
    _, idx = _arg_reduce(cx, a["self"], a["dim"], a["keepdim"], cx.node.op.startswith("aten.argmax"))
    return reshape(idx, cx.out.shape)


@op("aten.max.dim", "aten.min.dim")
def _max_dim(cx, a):
    return list(_arg_reduce(cx, a["self"], a["dim"], a["keepdim"], cx.node.op.startswith("aten.max")))


@op("aten.var.correction", "aten.var.dim")
def _var(cx, a):
    x = a["self"]
    shape = cx.shape(x)
    dims = _dims(a, len(shape))
    n = 1
    for d in dims:
        n *= shape[d]
    corr = a.get("correction")
    if corr is None:
        corr = 1 if a.get("unbiased", True) else 0
    odt = cx.out.dtype
    acc = compute_dtype(odt)
    xv = cx.value(x)
    mean = reduce(xv, cx.dtype(x), dims, True, acc, 0, lambda e, b: C.add(e, b, acc), acc)
    mean = elementwise([(mean, acc)], shape_of(mean), acc, lambda v: arith.divf(v, const(float(n), acc)), cdt=acc)
    sq = elementwise([(xv, cx.dtype(x)), (mean, acc)], list(shape), acc,
                     lambda u, m: arith.mulf(arith.subf(u, m), arith.subf(u, m)), cdt=acc)
    s = reduce(sq, acc, dims, a.get("keepdim", False), acc, 0, lambda e, b: C.add(e, b, acc), acc)
    denom = float(max(n - corr, 0))
    return elementwise([(s, acc)], cx.out.shape, odt, lambda v: arith.divf(v, const(denom, acc)), cdt=acc)


@op("aten.cumsum.default")
def _cumsum(cx, a):
    x = a["self"]
    shape = list(cx.shape(x))
    rank = len(shape)
    if rank == 0:
        return _copy(cx, {"self": x})
    dim = a["dim"] % rank
    odt = cx.out.dtype
    acc = compute_dtype(odt)
    src = cx.value(x)
    sdt = cx.dtype(x)
    # out[..., i, ...] = sum_{j <= i} x[..., j, ...]: loops (out dims..., j) with j a reduction.
    init = filled(shape, acc, 0)

    def body(_, o):
        j = C.index(rank)
        i = C.index(dim)
        idx = [C.index(d) for d in range(rank)]
        idx[dim] = j
        e = cast(tensor.extract(src, idx), sdt, acc)
        take = arith.cmpi(arith.CmpIPredicate.ule, j, i)
        return [arith.select(take, C.add(o, e, acc), o)]
    out_exprs = list(range(rank))
    # the extent of the reduction loop j comes from a dummy operand of size shape[dim]
    r = generic([(empty([shape[dim]], acc), [rank])], [(init, out_exprs)], ["parallel"] * rank + ["reduction"], body)
    return elementwise([(r[0], acc)], shape, odt, lambda v: v, cdt=acc)


# ------------------------------------------------------------------ linear algebra
def _matmul(x: ir.Value, xdt: str, y: ir.Value, out_shape: List[int], odt: str, batch: bool) -> ir.Value:
    acc = compute_dtype(odt) if is_float(odt) else odt
    init = filled(out_shape, acc, 0)
    fn = linalg.batch_matmul if batch else linalg.matmul
    r = fn(x, y, outs=[init])
    if acc != odt:
        r = elementwise([(r, acc)], out_shape, odt, lambda v: v, cdt=acc)
    return r


@op("aten.mm.default")
def _mm(cx, a):
    return _matmul(cx.value(a["self"]), cx.dtype(a["self"]), cx.value(a["mat2"]), list(cx.out.shape),
                   cx.out.dtype, False)


@op("aten.bmm.default")
def _bmm(cx, a):
    return _matmul(cx.value(a["self"]), cx.dtype(a["self"]), cx.value(a["mat2"]), list(cx.out.shape),
                   cx.out.dtype, True)


@op("aten.addmm.default")
def _addmm(cx, a):
    odt = cx.out.dtype
    acc = compute_dtype(odt)
    m = _matmul(cx.value(a["mat1"]), cx.dtype(a["mat1"]), cx.value(a["mat2"]), list(cx.out.shape), acc, False)
    return _scaled_bias_add(cx, a, a["self"], m, acc)


def _scaled_bias_add(cx, a, bias: Any, m: ir.Value, acc: str) -> ir.Value:
    """addmm's epilogue: beta * bias + alpha * m (in `acc`), cast to the output dtype."""
    beta, alpha = a["beta"], a["alpha"]

    def body(b, p):
        if alpha != 1:
            p = C.mul(p, const(alpha, acc), acc)
        if beta == 0:
            return p
        if beta != 1:
            b = C.mul(b, const(beta, acc), acc)
        return C.add(b, p, acc)
    return elementwise([cx.operand(bias), (m, acc)], cx.out.shape, cx.out.dtype, body, cdt=acc)


def _matmul_bt(x: ir.Value, w: ir.Value, out_shape: List[int], acc: str) -> ir.Value:
    """x[M,K] @ w[N,K]^T with linalg.matmul's transposed-B indexing maps."""
    m, n, k = (ir.AffineDimExpr.get(i) for i in range(3))
    maps = [ir.AffineMap.get(3, 0, e) for e in ([m, k], [n, k], [m, n])]
    return linalg.matmul(x, w, outs=[filled(out_shape, acc, 0)], indexing_maps=maps)


@op("buddy.mm_bt")
def _mm_bt(cx, a):
    odt = cx.out.dtype
    acc = compute_dtype(odt) if is_float(odt) else odt
    r = _matmul_bt(cx.value(a["self"]), cx.value(a["weight"]), list(cx.out.shape), acc)
    return r if acc == odt else elementwise([(r, acc)], cx.out.shape, odt, lambda v: v, cdt=acc)


@op("buddy.addmm_bt")
def _addmm_bt(cx, a):
    odt = cx.out.dtype
    acc = compute_dtype(odt)
    m = _matmul_bt(cx.value(a["self"]), cx.value(a["weight"]), list(cx.out.shape), acc)
    return _scaled_bias_add(cx, a, a["bias"], m, acc)


@op("aten.convolution.default")
def _conv(cx, a):
    x, w = cx.value(a["input"]), cx.value(a["weight"])
    xs, ws = list(cx.shape(a["input"])), list(cx.shape(a["weight"]))
    if a["transposed"]:
        raise Unsupported("transposed convolution")
    if len(xs) != 4:
        raise Unsupported(f"{len(xs) - 2}-D convolution (only 2-D)")
    groups = a["groups"]
    stride, pad, dil = list(a["stride"]), list(a["padding"]), list(a["dilation"])
    stride = stride * 2 if len(stride) == 1 else stride
    pad = pad * 2 if len(pad) == 1 else pad
    dil = dil * 2 if len(dil) == 1 else dil
    odt = cx.out.dtype
    xdt = cx.dtype(a["input"])
    acc = compute_dtype(odt)
    if any(pad):
        padded = [xs[0], xs[1], xs[2] + 2 * pad[0], xs[3] + 2 * pad[1]]
        x = insert_slice(x, filled(padded, xdt, 0), [0, 0, pad[0], pad[1]], xs, [1] * 4)
    out = list(cx.out.shape)
    init = filled(out, acc, 0)
    if groups == 1:
        r = linalg.conv_2d_nchw_fchw(x, w, outs=[init], strides=stride, dilations=dil)
    else:
        # grouped / depthwise: one generic over (n, f, oh, ow, c, kh, kw)
        cg = ws[1]
        fg = out[1] // groups
        d = [ir.AffineDimExpr.get(i) for i in range(7)]
        n_, f, oh, ow, c, kh, kw = d
        in_c = (f.floor_div(fg) if hasattr(f, "floor_div") else ir.AffineExpr.get_floor_div(f, fg)) * cg + c
        ih = oh * stride[0] + kh * dil[0]
        iw = ow * stride[1] + kw * dil[1]
        iters = ["parallel"] * 4 + ["reduction"] * 3

        def body(u, k, o):
            return [C.add(o, C.mul(cast(u, xdt, acc), cast(k, cx.dtype(a["weight"]), acc), acc), acc)]
        r = generic([(x, [0, in_c, ih, iw]), (w, [1, 4, 5, 6])], [(init, [0, 1, 2, 3])], iters, body)[0]
    if a["bias"] is not None:
        b = cx.value(a["bias"])
        return generic([(r, [0, 1, 2, 3]), (b, [1])], [(empty(out, odt), [0, 1, 2, 3])], ["parallel"] * 4,
                       lambda v, bb, o: [cast(C.add(v, cast(bb, cx.dtype(a["bias"]), acc), acc), acc, odt)])[0]
    if acc != odt:
        r = elementwise([(r, acc)], out, odt, lambda v: v, cdt=acc)
    return r


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


# ------------------------------------------------------------------ normalization and softmax
@op("aten._softmax.default", "aten._log_softmax.default")
def _softmax(cx, a):
    x = a["self"]
    shape = list(cx.shape(x))
    rank = len(shape)
    dim = a["dim"] % rank if rank else 0
    odt = cx.out.dtype
    acc = compute_dtype(odt)
    xv = cx.value(x)
    xdt = cx.dtype(x)
    if rank == 0:
        return filled([], odt, 0.0 if "log" in cx.node.op else 1.0)
    if "log" not in cx.node.op and xdt == odt == "f32" and dim == rank - 1:
        # One op for buddy-opt's --buddy-softmax-vectorize row kernel (the JIT decomposes it).
        return linalg.SoftmaxOp([ir.RankedTensorType.get(shape, ir.F32Type.get())], xv,
                                empty(shape, "f32"), dim).result
    mx = reduce(xv, xdt, [dim], True, acc, lowest(acc), lambda e, b: maximum(e, b, acc), acc)
    ex = elementwise([(xv, xdt), (mx, acc)], shape, acc, lambda u, m: math.exp(arith.subf(u, m)), cdt=acc)
    s = reduce(ex, acc, [dim], True, acc, 0, lambda e, b: C.add(e, b, acc), acc)
    if "log" in cx.node.op:
        return elementwise([(xv, xdt), (mx, acc), (s, acc)], shape, odt,
                           lambda u, m, t: arith.subf(arith.subf(u, m), math.log(t)), cdt=acc)
    return elementwise([(ex, acc), (s, acc)], shape, odt, lambda e, t: arith.divf(e, t), cdt=acc)


@op("buddy.rms_norm")
def _rms_norm(cx, a):
    """x * rsqrt(mean(x^2, -1) + eps) [* w] (frontend/passes/rmsnorm.py; f32, last dim) as a sum-of-squares
    reduction tagged `buddy.rms_norm_sumsq` and one elementwise generic tagged `buddy.rms_norm = eps`, the
    form buddy-opt's --buddy-rmsnorm-vectorize turns into one row kernel (and a correct lowering as is)."""
    x, w, eps = a["input"], a["weight"], float(a["eps"])
    shape = list(cx.shape(x))
    n = shape[-1]
    xv = cx.value(x)
    ss = reduce(xv, "f32", [len(shape) - 1], True, "f32", 0, lambda e, b: arith.addf(e, b), "f32",
                pre=lambda v: arith.mulf(v, v))
    _tag(ss, "buddy.rms_norm_sumsq", ir.UnitAttr.get())
    ops = [(xv, "f32"), (ss, "f32")] + ([cx.operand(w)] if w is not None else [])

    def body(u, s, *wv):
        r = math.rsqrt(arith.addf(arith.divf(s, const(float(n), "f32")), const(eps, "f32")))
        y = arith.mulf(u, r)
        return arith.mulf(y, wv[0]) if wv else y
    y = elementwise(ops, shape, "f32", body, cdt="f32")
    _tag(y, "buddy.rms_norm", ir.FloatAttr.get(ir.F32Type.get(), eps))
    return y


def _tag(v: ir.Value, name: str, attr: ir.Attribute) -> None:
    """Set attribute `name` on the linalg.generic that produces `v` (through a keepdim reshape)."""
    op = v.owner
    while op.name in ("tensor.expand_shape", "tensor.collapse_shape"):
        op = op.operands[0].owner
    if op.name != "linalg.generic":
        raise Unsupported(f"buddy.rms_norm: expected a linalg.generic to tag, got {op.name}")
    op.attributes[name] = attr


@op("aten.native_layer_norm.default")
def _layer_norm(cx, a):
    x = a["input"]
    shape = list(cx.shape(x))
    dims, n = normalized_dims(shape, len(a["normalized_shape"]))
    odt = cx.outs(0).dtype
    acc = compute_dtype(odt)
    xv, xdt = cx.value(x), cx.dtype(x)
    s = reduce(xv, xdt, dims, True, acc, 0, lambda e, b: C.add(e, b, acc), acc)
    mean = elementwise([(s, acc)], shape_of(s), acc, lambda v: arith.divf(v, const(float(n), acc)), cdt=acc)
    sq = elementwise([(xv, xdt), (mean, acc)], shape, acc,
                     lambda u, m: arith.mulf(arith.subf(u, m), arith.subf(u, m)), cdt=acc)
    var = reduce(sq, acc, dims, True, acc, 0, lambda e, b: C.add(e, b, acc), acc)
    eps = a["eps"]
    rstd = elementwise([(var, acc)], shape_of(var), acc,
                       lambda v: math.rsqrt(arith.addf(arith.divf(v, const(float(n), acc)), const(eps, acc))), cdt=acc)
    ops = [(xv, xdt), (mean, acc), (rstd, acc)]
    w, b = a["weight"], a["bias"]
    if w is not None:
        ops.append(cx.operand(w))
    if b is not None:
        ops.append(cx.operand(b))

    def body(u, m, r, *wb):
        y = arith.mulf(arith.subf(u, m), r)
        it = iter(wb)
        if w is not None:
            y = arith.mulf(y, next(it))
        if b is not None:
            y = arith.addf(y, next(it))
        return y
    y = elementwise(ops, shape, odt, body, cdt=acc)
    mean_o = elementwise([(mean, acc)], cx.outs(1).shape, cx.outs(1).dtype, lambda v: v, cdt=acc) \
        if cx.outs(1).dtype != acc else mean
    rstd_o = elementwise([(rstd, acc)], cx.outs(2).shape, cx.outs(2).dtype, lambda v: v, cdt=acc) \
        if cx.outs(2).dtype != acc else rstd
    return [y, reshape(mean_o, cx.outs(1).shape), reshape(rstd_o, cx.outs(2).shape)]


@op("aten._native_batch_norm_legit_no_training.default")
def _batch_norm(cx, a):
    x = a["input"]
    shape = list(cx.shape(x))
    rank = len(shape)
    odt = cx.outs(0).dtype
    acc = compute_dtype(odt)
    eps = a["eps"]
    ins = [(cx.value(x), list(range(rank)))]
    dts = [cx.dtype(x)]
    names = ["running_mean", "running_var", "weight", "bias"]
    present = [nm for nm in names if a[nm] is not None]
    for nm in present:
        ins.append((cx.value(a[nm]), [1]))
        dts.append(cx.dtype(a[nm]))

    def body(*args):
        vals = {nm: cast(v, dt, acc) for nm, v, dt in zip(["input"] + present, args[:-1], dts)}
        y = arith.subf(vals["input"], vals["running_mean"])
        y = arith.mulf(y, math.rsqrt(arith.addf(vals["running_var"], const(eps, acc))))
        if "weight" in vals:
            y = arith.mulf(y, vals["weight"])
        if "bias" in vals:
            y = arith.addf(y, vals["bias"])
        return [cast(y, acc, odt)]
    y = generic(ins, [(empty(shape, odt), list(range(rank)))], ["parallel"] * rank, body)[0]
    return [y, filled(cx.outs(1).shape, cx.outs(1).dtype, 0), filled(cx.outs(2).shape, cx.outs(2).dtype, 0)]


# ------------------------------------------------------------------ scatters and padding
def _ix(c: int) -> ir.Value:
    return arith.constant(ir.IndexType.get(), c)


def _scatter_like(cx, a, mode: str, reduce_kind: Optional[str] = None, include_self: bool = True):
    """scatter / scatter_add / scatter_reduce as one generic: loops (self dims..., k) with k over
    index.shape[dim] a reduction; later k win for plain scatter, as in PyTorch's CPU kernel."""
    x = a["self"]
    shape = list(cx.shape(x))
    rank = len(shape)
    dim = a["dim"] % max(rank, 1)
    ishape = list(cx.shape(a["index"]))
    index = cx.value(a["index"])
    idt = cx.dtype(a["index"])
    dt = cx.out.dtype
    acc = compute_dtype(dt)
    src = a.get("src")
    srcv = cx.value(src) if isinstance(src, Ref) else None
    sdt = cx.dtype(src) if isinstance(src, Ref) else None
    scalar = a.get("value") if srcv is None else None
    if rank == 0:
        raise Unsupported("0-d scatter")
    init_val = {"sum": 0, "mean": 0, "prod": 1, "amax": lowest(acc), "amin": highest(acc)}.get(reduce_kind or "", 0)
    base = elementwise([cx.operand(x)], shape, acc, lambda v: v, cdt=acc)
    start = base if include_self else filled(shape, acc, init_val)
    count = filled(shape, "i64", 1 if include_self else 0)

    def body(_, o, cnt):
        k = C.index(rank)
        valid = None
        coords = []
        for d in range(rank):
            if d == dim:
                coords.append(k)
                continue
            p = C.index(d)
            ok = arith.cmpi(arith.CmpIPredicate.ult, p, _ix(ishape[d]))
            valid = ok if valid is None else arith.andi(valid, ok)
            coords.append(arith.minui(p, _ix(ishape[d] - 1)))
        target = _idx(tensor.extract(index, coords), idt, shape[dim])
        hit = arith.cmpi(arith.CmpIPredicate.eq, target, C.index(dim))
        if valid is not None:
            hit = arith.andi(hit, valid)
        v = cast(tensor.extract(srcv, coords), sdt, acc) if srcv is not None else const(scalar, acc)
        if mode == "scatter":
            new = v
        elif reduce_kind in ("sum", "mean", None):
            new = C.add(o, v, acc)
        elif reduce_kind == "prod":
            new = C.mul(o, v, acc)
        elif reduce_kind == "amax":
            new = maximum(o, v, acc)
        else:
            new = minimum(o, v, acc)
        return [arith.select(hit, new, o),
                arith.select(hit, arith.addi(cnt, const(1, "i64")), cnt)]
    r, n = generic([(empty([ishape[dim]], acc), [rank])],
                   [(start, list(range(rank))), (count, list(range(rank)))],
                   ["parallel"] * rank + ["reduction"], body)
    if reduce_kind == "mean":
        def fin(v, c, b):
            mean = C.div(v, cast(c, "i64", acc), acc) if is_float(acc) else arith.divsi(v, cast(c, "i64", acc))
            return arith.select(compare("eq", c, const(0, "i64"), "i64"), b, mean)
        return elementwise([(r, acc), (n, "i64", "i64"), (base, acc)], shape, dt, fin, cdt=acc)
    if not include_self:
        return elementwise([(r, acc), (n, "i64", "i64"), (base, acc)], shape, dt,
                           lambda v, c, b: arith.select(compare("eq", c, const(0, "i64"), "i64"), b, v), cdt=acc)
    return elementwise([(r, acc)], shape, dt, lambda v: v, cdt=acc)


OPS["aten.scatter.src"] = lambda cx, a: _scatter_like(cx, a, "scatter")
OPS["aten.scatter.value"] = lambda cx, a: _scatter_like(cx, a, "scatter")
OPS["aten.scatter_add.default"] = lambda cx, a: _scatter_like(cx, a, "reduce", "sum")
OPS["aten.scatter_reduce.two"] = lambda cx, a: _scatter_like(cx, a, "reduce", a["reduce"], a["include_self"])


_ROW_PUT_MAX = 64


def _index_put_rows(cx, a) -> Optional[ir.Value]:
    """`x[i0, :, i2, ...] = vals` where every index is a 1-D tensor of the same small length n
    and the other dims are full slices (KV-cache updates: `cache[layer, :, pos] = kv`): one
    `tensor.insert_slice` per index position (out-of-range positions are skipped), so
    bufferization writes only the touched rows, in place when `x` is a writable buffer; the
    generic path would sweep all of `x`."""
    x, vals = a["self"], a["values"]
    shape = list(cx.shape(x))
    idx = list(a["indices"]) + [None] * (len(shape) - len(a["indices"]))
    dims = [d for d, t in enumerate(idx) if t is not None]
    if a["accumulate"] or not dims or not isinstance(vals, Ref) or len(idx) != len(shape):
        return None
    ishapes = [list(cx.shape(idx[d])) for d in dims]
    n = ishapes[0][0] if len(ishapes[0]) == 1 else 0
    if any(s != [n] for s in ishapes) or not 0 < n <= _ROW_PUT_MAX:
        return None
    free = [d for d in range(len(shape)) if idx[d] is None]
    # torch puts the index dim where the (adjacent) indices are, else first.
    adjacent = dims == list(range(dims[0], dims[-1] + 1))
    lead = [shape[d] for d in free if d < dims[0]] if adjacent else []
    rest = [shape[d] for d in free if not adjacent or d > dims[0]]
    vshape = list(cx.shape(vals))
    # One position may come with its unit dim already dropped (`cache[l, :, p] = kv[H, D]`).
    squeezed = n == 1 and vshape == lead + rest
    if ((vshape != lead + [n] + rest and not squeezed) or cx.dtype(vals) != cx.dtype(x)
            or cx.out.dtype != cx.dtype(x)):
        return None
    from mlir.dialects import scf
    res = cx.value(x)
    rows = cx.value(vals)
    vrank = len(lead) + 1 + len(rest)
    sizes = [1 if d in dims else shape[d] for d in range(len(shape))]
    row_shape = [shape[d] for d in free] or [1]  # the row, rank-reduced (unit dims dropped)
    dyn = ir.ShapedType.get_dynamic_stride_or_offset()
    for j in range(n):
        at, ok = [], None
        for d in dims:
            raw = cast(tensor.extract(cx.value(idx[d]), [_ix(j)]), cx.dtype(idx[d]), "i64")
            wrapped = arith.select(compare("lt", raw, const(0, "i64"), "i64"),
                                   arith.addi(raw, const(shape[d], "i64")), raw)
            inside = arith.andi(compare("ge", wrapped, const(0, "i64"), "i64"),
                                compare("lt", wrapped, const(shape[d], "i64"), "i64"))
            ok = inside if ok is None else arith.andi(ok, inside)
            at.append(wrapped)
        voffs = [0] * vrank
        voffs[len(lead)] = j
        vsizes = lead + [1] + rest
        row = rows if squeezed else extract_slice(rows, voffs, vsizes, [1] * vrank,
                                                  result_shape=row_shape)
        branch = scf.IfOp(ok, [res.type], has_else=True)
        with ir.InsertionPoint(branch.then_block):
            offs = [arith.index_cast(ir.IndexType.get(), w) for w in at]
            put = tensor.insert_slice(row, res, offs, [], [],
                                      [dyn if d in dims else 0 for d in range(len(shape))],
                                      sizes, [1] * len(shape))
            scf.YieldOp([put])
        with ir.InsertionPoint(branch.else_block):
            scf.YieldOp([res])
        res = branch.results[0]
    return res


@op("aten.index_put.default")
def _index_put(cx, a):
    """x[indices] = values (or += with accumulate): loops (x dims..., broadcast index dims...)."""
    x = a["self"]
    shape = list(cx.shape(x))
    rank = len(shape)
    fast = _index_put_rows(cx, a)
    if fast is not None:
        return fast
    indices = list(a["indices"]) + [None] * (rank - len(a["indices"]))
    pos = [i for i, t in enumerate(indices) if t is not None]
    bshape = list(torch.broadcast_shapes(*[cx.shape(indices[i]) for i in pos]))
    nb = len(bshape)
    adjacent = pos == list(range(pos[0], pos[-1] + 1))
    free = [d for d in range(rank) if indices[d] is None]
    # coordinates of the value tensor (shape of x[indices]) in terms of loops
    vshape = list(cx.shape(a["values"]))
    vals = cx.value(a["values"])
    vdt = cx.dtype(a["values"])
    dt = cx.out.dtype
    acc = compute_dtype(dt)
    accumulate = a["accumulate"]
    base = elementwise([cx.operand(x)], shape, acc, lambda v: v, cdt=acc)
    b_loop = lambda j: rank + j  # noqa: E731
    if adjacent:
        res_dims = [("f", d) for d in free if d < pos[0]] + [("b", j) for j in range(nb)] + \
                   [("f", d) for d in free if d > pos[0]]
    else:
        res_dims = [("b", j) for j in range(nb)] + [("f", d) for d in free]
    dummies = [(empty([bshape[j]], acc), [b_loop(j)]) for j in range(nb)]

    def body(*args):
        o = args[-1]
        hit = None
        for i in pos:
            t = indices[i]
            tsh = list(cx.shape(t))
            off = nb - len(tsh)
            coords = [_ix(0) if tsh[j] == 1 else C.index(b_loop(off + j)) for j in range(len(tsh))]
            tgt = _idx(tensor.extract(cx.value(t), coords), cx.dtype(t), shape[i])
            eq = arith.cmpi(arith.CmpIPredicate.eq, tgt, C.index(i))
            hit = eq if hit is None else arith.andi(hit, eq)
        loops = [C.index(d) if kind == "f" else C.index(b_loop(d)) for kind, d in res_dims]
        voff = len(loops) - len(vshape)
        vc = [_ix(0) if vshape[j] == 1 else loops[voff + j] for j in range(len(vshape))]
        v = cast(tensor.extract(vals, vc), vdt, acc)
        new = C.add(o, v, acc) if accumulate else v
        return [arith.select(hit, new, o)]
    r = generic(dummies, [(base, list(range(rank)))], ["parallel"] * rank + ["reduction"] * nb, body)[0]
    return elementwise([(r, acc)], shape, dt, lambda v: v, cdt=acc)


@op("aten.select_scatter.default")
def _select_scatter(cx, a):
    shape = list(cx.shape(a["self"]))
    dim = a["dim"] % len(shape)
    offs = [0] * len(shape)
    offs[dim] = a["index"] % shape[dim]
    sizes = list(shape)
    sizes[dim] = 1
    src = reshape(_as(cx, a["src"], cx.out.dtype), sizes)
    return insert_slice(src, _as(cx, a["self"], cx.out.dtype), offs, sizes, [1] * len(shape))


def _as(cx, x, dt):
    v = cx.value(x)
    return v if cx.dtype(x) == dt else elementwise([cx.operand(x)], cx.shape(x), dt, lambda u: u, cdt=cx.dtype(x))


@op("aten.slice_scatter.default")
def _slice_scatter(cx, a):
    shape = list(cx.shape(a["self"]))
    dim = a["dim"] % len(shape)
    start = a["start"] or 0
    start = start + shape[dim] if start < 0 else start
    offs = [0] * len(shape)
    offs[dim] = min(max(start, 0), shape[dim])
    strides = [1] * len(shape)
    strides[dim] = a["step"] or 1
    sizes = list(cx.shape(a["src"]))
    if sizes[dim] == 0:
        return _as(cx, a["self"], cx.out.dtype)
    return insert_slice(_as(cx, a["src"], cx.out.dtype), _as(cx, a["self"], cx.out.dtype), offs, sizes, strides)


def _pad_index(kind: str):
    def emit(cx, a):
        src = cx.value(a["self"])
        shape = list(cx.shape(a["self"]))
        out = list(cx.out.shape)
        rank = len(out)
        pad = list(a["padding"])
        k = len(pad) // 2

        def body(o):
            idx = []
            for d in range(rank):
                i = C.index(d)
                j = rank - 1 - d
                if j < k:
                    n = shape[d]
                    p = arith.subi(i, _ix(pad[2 * j])) if pad[2 * j] >= 0 else arith.addi(i, _ix(-pad[2 * j]))
                    if kind == "replication":
                        p = arith.maxsi(arith.minsi(p, _ix(n - 1)), _ix(0))
                    else:
                        p = arith.maxsi(p, arith.subi(_ix(0), p))  # |p|
                        q = arith.subi(_ix(n - 1), p)
                        p = arith.subi(_ix(n - 1), arith.maxsi(q, arith.subi(_ix(0), q)))
                    i = p
                idx.append(i)
            return [tensor.extract(src, idx)]
        return generic([], [(empty(out, cx.out.dtype), list(range(rank)))], ["parallel"] * rank, body)[0]
    return emit


OPS["aten.reflection_pad1d.default"] = _pad_index("reflection")
OPS["aten.reflection_pad2d.default"] = _pad_index("reflection")
OPS["aten.replication_pad2d.default"] = _pad_index("replication")
OPS["aten.replication_pad1d.default"] = _pad_index("replication")


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
            idx.append(arith.minsi(j, _ix(shape[2 + i] - 1)))
        return [tensor.extract(src, idx)]
    return generic([], [(empty(out, cx.out.dtype), [0, 1, 2, 3])], ["parallel"] * 4, body)[0]


@op("aten.native_group_norm.default")
def _group_norm(cx, a):
    x = a["input"]
    shape = list(cx.shape(x))
    n, c, groups, eps = shape[0], shape[1], a["group"], a["eps"]
    hw = 1
    for d in shape[2:]:
        hw *= d
    odt = cx.outs(0).dtype
    acc = compute_dtype(odt)
    xv = reshape(cx.value(x), [n, groups, (c // groups) * hw])
    xdt = cx.dtype(x)
    m = (c // groups) * hw
    mean = elementwise([(reduce(xv, xdt, [2], True, acc, 0, lambda e, b: C.add(e, b, acc), acc), acc)],
                       [n, groups, 1], acc, lambda v: arith.divf(v, const(float(m), acc)), cdt=acc)
    sq = elementwise([(xv, xdt), (mean, acc)], [n, groups, m], acc,
                     lambda u, mu: arith.mulf(arith.subf(u, mu), arith.subf(u, mu)), cdt=acc)
    var = reduce(sq, acc, [2], True, acc, 0, lambda e, b: C.add(e, b, acc), acc)
    rstd = elementwise([(var, acc)], [n, groups, 1], acc,
                       lambda v: math.rsqrt(arith.addf(arith.divf(v, const(float(m), acc)), const(eps, acc))), cdt=acc)
    y = elementwise([(xv, xdt), (mean, acc), (rstd, acc)], [n, groups, m], acc,
                    lambda u, mu, r: arith.mulf(arith.subf(u, mu), r), cdt=acc)
    y = reshape(y, [n, c, hw])
    ops = [(y, acc)]
    w, b = a["weight"], a["bias"]
    if w is not None:
        ops.append((reshape(cx.value(w), [c, 1]), cx.dtype(w)))
    if b is not None:
        ops.append((reshape(cx.value(b), [c, 1]), cx.dtype(b)))

    def aff(v, *wb):
        it = iter(wb)
        if w is not None:
            v = arith.mulf(v, next(it))
        if b is not None:
            v = arith.addf(v, next(it))
        return v
    out = reshape(elementwise(ops, [n, c, hw], odt, aff, cdt=acc), shape)
    stat = lambda t, i: reshape(elementwise([(t, acc)], [n, groups, 1], cx.outs(i).dtype, lambda v: v, cdt=acc),  # noqa
                                cx.outs(i).shape)
    return [out, stat(mean, 1), stat(rstd, 2)]


# ------------------------------------------------------------------ sorting and resampling
def _sort(cx, x, dim: int, descending: bool):
    """Stable sort along `dim` as two O(n^2) generics: each element's rank (how many elements go
    before it), then a gather of the element whose rank is the output position. NaN sorts as the
    largest value, as in PyTorch."""
    src = cx.value(x)
    shape = list(cx.shape(x))
    rank = len(shape)
    if rank == 0:
        return src, filled([], "i64", 0)
    dim %= rank
    dt = cx.dtype(x)
    cdt = compute_dtype(dt) if dt != "bool" else "i32"
    n = shape[dim]

    def elem(i):
        idx = [C.index(d) for d in range(rank)]
        idx[dim] = i
        return cast(tensor.extract(src, idx), dt, cdt)

    def before(a, b):  # a strictly before b
        if not is_float(cdt):
            return compare("gt" if descending else "lt", a, b, cdt)
        a_nan = arith.cmpf(arith.CmpFPredicate.UNO, a, a)
        b_nan = arith.cmpf(arith.CmpFPredicate.UNO, b, b)
        if descending:
            return arith.ori(compare("gt", a, b, cdt), arith.andi(a_nan, arith.xori(b_nan, const(True, "bool"))))
        return arith.ori(compare("lt", a, b, cdt), arith.andi(b_nan, arith.xori(a_nan, const(True, "bool"))))

    def same(a, b):
        if not is_float(cdt):
            return compare("eq", a, b, cdt)
        both_nan = arith.andi(arith.cmpf(arith.CmpFPredicate.UNO, a, a), arith.cmpf(arith.CmpFPredicate.UNO, b, b))
        return arith.ori(compare("eq", a, b, cdt), both_nan)

    def rank_body(_, acc):
        i, j = C.index(dim), C.index(rank)
        xi, xj = elem(i), elem(j)
        first = arith.ori(before(xj, xi), arith.andi(same(xj, xi), arith.cmpi(arith.CmpIPredicate.ult, j, i)))
        return [arith.select(first, arith.addi(acc, const(1, "i64")), acc)]
    loops = ["parallel"] * rank + ["reduction"]
    ranks = generic([(empty([n], "i64"), [rank])], [(filled(shape, "i64", 0), list(range(rank)))], loops,
                    rank_body)[0]

    def gather_body(_, v, ix):
        i = C.index(rank)
        idx = [C.index(d) for d in range(rank)]
        idx[dim] = i
        hit = arith.cmpi(arith.CmpIPredicate.eq, tensor.extract(ranks, idx),
                         arith.index_cast(C.scalar_type("i64"), C.index(dim)))
        x_i = tensor.extract(src, idx)
        return [arith.select(hit, x_i, v), arith.select(hit, arith.index_cast(C.scalar_type("i64"), i), ix)]
    vals, inds = generic([(empty([n], "i64"), [rank])],
                         [(empty(shape, dt), list(range(rank))), (filled(shape, "i64", 0), list(range(rank)))],
                         loops, gather_body)
    return vals, inds


@op("aten.sort.default", "aten.sort.stable")
def _sort_op(cx, a):
    return list(_sort(cx, a["self"], a["dim"], a["descending"]))


@op("aten.topk.default")
def _topk(cx, a):
    shape = list(cx.shape(a["self"]))
    rank = len(shape)
    dim = a["dim"] % max(rank, 1)
    vals, inds = _sort(cx, a["self"], dim, a["largest"])
    if rank == 0:
        return [vals, inds]
    sizes = list(shape)
    sizes[dim] = a["k"]
    return [extract_slice(vals, [0] * rank, sizes, [1] * rank), extract_slice(inds, [0] * rank, sizes, [1] * rank)]


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
        lo = arith.minsi(lo, _ix(n_in - 1))
        hi = arith.minsi(arith.addi(lo, _ix(1)), _ix(n_in - 1))
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


from . import linalg_extra  # noqa: E402,F401  (registers 3-D pooling, distances, embedding_bag, ...)

LINALG_OPS = OPS
