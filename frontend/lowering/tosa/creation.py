"""Copies / dtype casts (_to_copy, clone, alias) and constants (full, arange) for the TOSA table."""

from __future__ import annotations

import torch
from mlir import ir
from mlir.dialects import tosa

from ..registry import OpTable
from .builders import load, scalar_attr, splat, store, tosa_type

OPS = OpTable("tosa.creation")
op = OPS.op


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
    tt = tosa_type(out.shape, out.dtype)
    attrs = [scalar_attr(v, out.dtype) for v in t.tolist()]
    return tosa.const(ir.DenseElementsAttr.get(attrs, type=tt) if attrs else
                      ir.DenseElementsAttr.get_splat(tt, scalar_attr(0, out.dtype)))
