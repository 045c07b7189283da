"""Elementwise ops (linalg): unary math and activations, binary arithmetic and comparisons,
pow, where. Each is one broadcasting linalg.generic (common.elementwise)."""

from __future__ import annotations

import math as pymath
from typing import Any, Callable, Optional, Sequence

from mlir import ir
from mlir.dialects import arith, math

from .. import common as C
from ..common import compare, compute_dtype, const, elementwise, filled, is_float, maximum, minimum, promote
from ..registry import OpTable

OPS = OpTable("linalg.elementwise")
op = OPS.op


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
           "expm1", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh"]:
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
            cdt = compute_dtype(promote(cx, x, y))
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
