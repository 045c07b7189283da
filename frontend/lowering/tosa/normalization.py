"""Normalization and softmax (TOSA composites): softmax/log_softmax, layer_norm,
inference batch_norm."""

from __future__ import annotations

from ..common import compute_dtype, elem_type, normalized_dims
from ..registry import OpTable
from .builders import add, load, mul, recip, reduce, reshape, splat, store, sub, unary_op

OPS = OpTable("tosa.normalization")
op = OPS.op


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
