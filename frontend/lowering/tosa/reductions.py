"""Reductions and scans (TOSA): sum, mean, var, amax/amin, any, argmax, cumsum."""

from __future__ import annotations

import numpy as np
import torch
from mlir import ir
from mlir.dialects import tosa

from ..common import Unsupported, compute_dtype, is_float, scalar_type
from ..registry import OpTable
from .builders import (batch_matmul, cast, load, mul, product, reduce, reshape, shape_of, splat, store, sub,
                       tosa_type, transpose)

OPS = OpTable("tosa.reductions")
op = OPS.op


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
    oshape = [s for i, s in enumerate(shape_of(v)) if i != dim]
    r = tosa.argmax(tosa_type(oshape, "i32"), v, ir.IntegerAttr.get(ir.IntegerType.get_signless(32), dim))
    return reshape(tosa.cast(tosa_type(oshape, "i64"), r), cx.out.shape)


def _const(arr: np.ndarray, dtype: str) -> ir.Value:
    """A dense TOSA constant of `dtype` (a float or integer dtype name) from a NumPy array."""
    np_dt = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64}[dtype]
    attr = ir.DenseElementsAttr.get(np.ascontiguousarray(arr, dtype=np_dt), type=scalar_type(dtype))
    return tosa.const(attr)


@op("aten.cumsum.default")
def _cumsum(cx, a):
    """Floats: a matmul with a triangular 0/1 constant (x[M, L] @ T[L, L], T[j, i] = j <= i), in f32.
    Integers: x[M, 1, L] * T[1, L, L] summed over the last axis (exact in the integer type)."""
    x = a["self"]
    shape = list(cx.shape(x))
    dt = cx.out.dtype
    acc = "f32" if dt in ("f16", "bf16", "f32") else dt
    if dt == "f64":
        acc = "f64"
    rank = len(shape)
    if rank == 0:
        return store(load(cx, x, acc), acc, dt)
    dim = a["dim"] % rank
    L = shape[dim]
    perm = [d for d in range(rank) if d != dim] + [dim]
    v = load(cx, x, acc)
    if perm != list(range(rank)):
        v = transpose(v, perm)
    lead = [shape[d] for d in perm[:-1]]
    m = product(lead)
    j, i = np.meshgrid(np.arange(L), np.arange(L), indexing="ij")
    tri = (j <= i).astype(np.int64)  # tri[j, i]: element j contributes to output i
    if is_float(acc) and acc != "f64":
        r, rdt = batch_matmul(reshape(v, [1, m, L]), _const(tri[None], "f32"), "f32")
        res = cast(r, rdt, acc)
    else:
        if acc not in ("i32", "i64", "f64"):
            raise Unsupported(f"cumsum in {acc}")
        prod = mul(reshape(v, [m, 1, L]), _const(tri.T[None], acc), acc)  # [m, i, j] = x[j] * (j <= i)
        res = reduce("sum", prod, [2], acc)
    res = reshape(res, lead + [L])
    if perm != list(range(rank)):
        inv = [perm.index(d) for d in range(rank)]
        res = transpose(res, inv)
    return store(res, acc, dt)
