"""Data movement (TOSA): views and reshapes, permute, expand (tosa.tile), slice/select/split,
cat, constant padding."""

from __future__ import annotations

from mlir import ir
from mlir.dialects import tosa

from ..common import Unsupported
from ..registry import OpTable
from .builders import load, reshape, scalar_attr, shape_of, shape_value, static_slice, store, transpose

OPS = OpTable("tosa.data_movement")
op = OPS.op


@op("aten.view.default", "aten._unsafe_view.default", "aten.squeeze.dim", "aten.squeeze.dims",
    "aten.squeeze.default", "aten.unsqueeze.default")
def _view(cx, a):
    return reshape(cx.value(a["self"]), cx.out.shape)


@op("aten.permute.default")
def _permute(cx, a):
    rank = len(cx.shape(a["self"]))
    return transpose(cx.value(a["self"]), [d % rank for d in a["dims"]]) if rank else cx.value(a["self"])


@op("aten.expand.default")
def _expand(cx, a):
    out = list(cx.out.shape)
    v = cx.value(a["self"])
    v = reshape(v, [1] * (len(out) - len(shape_of(v))) + shape_of(v))
    mult = [o // s for o, s in zip(out, shape_of(v))]
    if all(m == 1 for m in mult):
        return v
    et = ir.RankedTensorType(v.type).element_type
    return tosa.tile(ir.RankedTensorType.get(out, et), v, shape_value(mult))


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
    return static_slice(cx.value(a["self"]), starts, cx.out.shape)


@op("aten.select.int")
def _select(cx, a):
    shape = list(cx.shape(a["self"]))
    dim = a["dim"] % len(shape)
    starts = [0] * len(shape)
    starts[dim] = a["index"] % shape[dim]
    sizes = list(shape)
    sizes[dim] = 1
    return reshape(static_slice(cx.value(a["self"]), starts, sizes), cx.out.shape)


@op("aten.split_with_sizes.default")
def _split(cx, a):
    shape = list(cx.shape(a["self"]))
    dim = a["dim"] % len(shape)
    res, off = [], 0
    for spec in cx.node.outputs:
        starts = [0] * len(shape)
        starts[dim] = off
        res.append(static_slice(cx.value(a["self"]), starts, spec.shape))
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
                                                   scalar_attr(a["value"] or 0, "i8" if dt == "bool" else dt)))
    return tosa.pad(ir.RankedTensorType.get(list(cx.out.shape), et), v, shape_value(pads), pc)
