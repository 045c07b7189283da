"""Elementwise ops (TOSA): binary arithmetic and comparisons, unary math, clamp/relu/hardtanh,
gelu, where, pow (small integer exponents as multiplications)."""

from __future__ import annotations

import math as pymath

import torch
from mlir import ir
from mlir.dialects import tosa

from ..common import Unsupported, compute_dtype, is_float, promote
from ..registry import OpTable
from .builders import (add, broadcast_shape, cmp, div, load, mul, neg, recip, scalar_attr, select, shape_of, splat,
                       store, sub, tile_to, tosa_type, unary_op)

OPS = OpTable("tosa.elementwise")
op = OPS.op


def _binary(fn, arith_out: bool = True, alpha: bool = False):
    def emit(cx, a):
        x, y = a["self"], a["other"]
        out = cx.out
        cdt = out.dtype if arith_out else promote(cx, x, y)
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
    OPS[f"aten.mul.{_ov}"] = _binary(lambda u, v, dt: tosa.logical_and(tosa_type(broadcast_shape(u, v), dt), u, v)
                                     if dt == "bool" else mul(u, v, dt))
    OPS[f"aten.div.{_ov}"] = _binary(div)
    for _k in ("eq", "ne", "lt", "le", "gt", "ge"):
        OPS[f"aten.{_k}.{_ov}"] = _binary(lambda u, v, dt, _k=_k: cmp(_k, u, v), arith_out=False)
    for _k, _t in (("and", "bitwise_and"), ("or", "bitwise_or"), ("xor", "bitwise_xor")):
        OPS[f"aten.bitwise_{_k}.{_ov}"] = _binary(
            lambda u, v, dt, _t=_t: getattr(tosa, ("logical_" + _t[8:]) if dt == "bool" else _t)(
                tosa_type(broadcast_shape(u, v), dt), u, v))
OPS["aten.maximum.default"] = _binary(lambda u, v, dt: tosa.maximum(tosa_type(broadcast_shape(u, v), dt), u, v))
OPS["aten.minimum.default"] = _binary(lambda u, v, dt: tosa.minimum(tosa_type(broadcast_shape(u, v), dt), u, v))
_pow = _binary(lambda u, v, dt: tosa.pow(tosa_type(broadcast_shape(u, v), dt), u, v))
OPS["aten.pow.Tensor_Tensor"] = lambda cx, a: _pow(cx, {"self": a["self"], "other": a["exponent"]})
for _k in ("and", "or", "xor"):
    OPS[f"aten.logical_{_k}.default"] = lambda cx, a, _k=_k: store(
        getattr(tosa, f"logical_{_k}")(tosa_type(cx.out.shape, "bool"),
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
    lambda v, dt: neg(v, dt) if is_float(dt) else sub(splat(0, [1] * len(shape_of(v)), dt), v, dt), float_only=False)
OPS["aten.sqrt.default"] = _unary(lambda v, dt: recip(unary_op("rsqrt", v, dt), dt))
OPS["aten.bitwise_not.default"] = _unary(
    lambda v, dt: tosa.logical_not(tosa_type(shape_of(v), dt), v) if dt == "bool" else tosa.bitwise_not(tosa_type(shape_of(v), dt), v),
    float_only=False)
OPS["aten.logical_not.default"] = lambda cx, a: store(
    tosa.logical_not(tosa_type(cx.out.shape, "bool"), load(cx, a["self"], "bool")), "bool", "bool")


def _clamp_attrs(lo, hi, dt):
    if is_float(dt):
        lo = -pymath.inf if lo is None else lo
        hi = pymath.inf if hi is None else hi
    else:
        bits = 8 * torch.empty((), dtype=getattr(torch, {"i8": "int8", "i16": "int16", "i32": "int32",
                                                         "i64": "int64"}.get(dt, "int64"))).element_size()
        lo = -(1 << (bits - 1)) if lo is None else lo
        hi = (1 << (bits - 1)) - 1 if hi is None else hi
    return scalar_attr(lo, dt), scalar_attr(hi, dt)


def _clamp(v, lo, hi, dt):
    a, b = _clamp_attrs(lo, hi, dt)
    return tosa.clamp(tosa_type(shape_of(v), dt), v, a, b)


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


@op("aten.pow.Tensor_Scalar")
def _pow_scalar(cx, a):
    """Small integer exponents as multiplications (exact, and defined for negative bases as in
    PyTorch); other exponents with tosa.pow."""
    out = cx.out
    dt = out.dtype
    if not is_float(dt):
        raise Unsupported("integer pow")
    e = a["exponent"]
    acc = compute_dtype(dt)
    r = len(out.shape)
    v = load(cx, a["self"], acc, r)
    if float(e).is_integer() and abs(e) <= 16:
        n = int(abs(e))
        if n == 0:
            return store(tile_to(splat(1.0, [1] * r, acc), out.shape), acc, dt)
        res, base = None, v
        while n:
            if n & 1:
                res = base if res is None else mul(res, base, acc)
            n >>= 1
            if n:
                base = mul(base, base, acc)
        if e < 0:
            res = recip(res, acc)
    else:
        res = tosa.pow(tosa_type(shape_of(v), acc), v, splat(float(e), [1] * r, acc))
    return store(res, acc, dt)
