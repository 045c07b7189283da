"""Normalization and softmax (linalg): softmax/log_softmax, buddy.rms_norm (in the form
buddy-opt's row kernel matches, include/buddy/RmsNorm.h), layer_norm, batch_norm (inference and batch statistics),
group_norm."""

from __future__ import annotations

from mlir import ir
from mlir.dialects import arith, linalg, math

from ...graph import Ref
from .. import common as C
from ..common import (Unsupported, cast, compute_dtype, const, elementwise, empty, filled, generic, lowest,
                      maximum, normalized_dims, reduce, reshape, shape_of)
from ..registry import OpTable

OPS = OpTable("linalg.normalization")
op = OPS.op


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
    """x * rsqrt(mean(x^2, -1) + eps) [* w] (frontend/passes/rmsnorm.py; f32, last dim) as a zero-filled
    sum-of-squares reduction and one elementwise scale generic: the form midend/include/buddy/RmsNorm.h
    defines by its arithmetic, which buddy-opt's --buddy-rmsnorm-vectorize turns into one row kernel (and a
    correct lowering as is). No attribute marks it (docs/interfaces.md)."""
    x, w, eps = a["input"], a["weight"], float(a["eps"])
    shape = list(cx.shape(x))
    n = shape[-1]
    xv = cx.value(x)
    ss = reduce(xv, "f32", [len(shape) - 1], True, "f32", 0, lambda e, b: arith.addf(e, b), "f32",
                pre=lambda v: arith.mulf(v, v))
    ops = [(xv, "f32"), (ss, "f32")] + ([cx.operand(w)] if w is not None else [])

    def body(u, s, *wv):
        r = math.rsqrt(arith.addf(arith.divf(s, const(float(n), "f32")), const(eps, "f32")))
        y = arith.mulf(u, r)
        return arith.mulf(y, wv[0]) if wv else y
    return elementwise(ops, shape, "f32", body, cdt="f32")


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


# ------------------------------------------------------------------ batch statistics (instance norm)
@op("aten._native_batch_norm_legit.no_stats")
def _batch_norm_no_stats(cx, a):
    """Normalization with the input's own per-channel statistics (what InstanceNorm lowers to in
    eval mode): (out, mean, rstd) with the biased variance, like PyTorch."""
    x = a["input"]
    shape = list(cx.shape(x))
    r = len(shape)
    if r < 2:
        raise Unsupported(f"input of rank {r}")
    dt = cx.dtype(x)
    acc = compute_dtype(dt)
    c = shape[1]
    cnt = 1
    for d in range(r):
        cnt *= shape[d] if d != 1 else 1
    xv = cx.value(x)
    iters = ["parallel" if d == 1 else "reduction" for d in range(r)]
    full = list(range(r))

    def total(e, o):
        return [arith.addf(o, cast(e, dt, acc))]
    s = generic([(xv, full)], [(filled([c], acc, 0), [1])], iters, total)[0]
    mean = elementwise([(s, acc)], [c], acc, lambda v: arith.divf(v, const(float(cnt), acc)), cdt=acc)

    def sq(e, m, o):
        d = arith.subf(cast(e, dt, acc), m)
        return [arith.addf(o, arith.mulf(d, d))]
    ss = generic([(xv, full), (mean, [1])], [(filled([c], acc, 0), [1])], iters, sq)[0]
    eps = float(a["eps"])
    rstd = elementwise([(ss, acc)], [c], acc, lambda v: math.rsqrt(
        arith.addf(arith.divf(v, const(float(cnt), acc)), const(eps, acc))), cdt=acc)
    w, b = a.get("weight"), a.get("bias")
    ins = [(xv, full), (mean, [1]), (rstd, [1])]
    if isinstance(w, Ref):
        ins.append((cx.value(w), [1]))
    if isinstance(b, Ref):
        ins.append((cx.value(b), [1]))

    def norm(e, m, rs, *rest):
        v = arith.mulf(arith.subf(cast(e, dt, acc), m), rs)
        k = 0
        if isinstance(w, Ref):
            v = arith.mulf(v, cast(rest[0], cx.dtype(w), acc))
            k = 1
        if isinstance(b, Ref):
            v = arith.addf(v, cast(rest[k], cx.dtype(b), acc))
        return [C.to_storage(cast(v, acc, dt), dt)]
    out = generic(ins, [(empty(shape, dt), full)], ["parallel"] * r, norm)[0]
    stats = []
    for i, v in ((1, mean), (2, rstd)):
        odt = cx.outs(i).dtype
        stats.append(v if odt == acc else elementwise([(v, acc)], [c], odt, lambda q: q, cdt=acc))
    return [out] + stats
