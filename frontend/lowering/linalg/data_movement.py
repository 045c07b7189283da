"""Data movement (linalg): views and reshapes, permute/transpose, expand, slice/select/split,
cat, flip, repeat, diagonal, as_strided and padding (constant, reflection, replication)."""

from __future__ import annotations

from typing import Any, List

from mlir import ir
from mlir.dialects import arith, tensor

from .. import common as C
from ..common import (Unsupported, elementwise, empty, extract_slice, filled, generic, index_const, insert_slice,
                      reshape, shape_of, transpose)
from ..registry import OpTable

OPS = OpTable("linalg.data_movement")
op = OPS.op


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
                    p = arith.subi(i, index_const(pad[2 * j])) if pad[2 * j] >= 0 else arith.addi(i, index_const(-pad[2 * j]))
                    if kind == "replication":
                        p = arith.maxsi(arith.minsi(p, index_const(n - 1)), index_const(0))
                    else:
                        p = arith.maxsi(p, arith.subi(index_const(0), p))  # |p|
                        q = arith.subi(index_const(n - 1), p)
                        p = arith.subi(index_const(n - 1), arith.maxsi(q, arith.subi(index_const(0), q)))
                    i = p
                idx.append(i)
            return [tensor.extract(src, idx)]
        return generic([], [(empty(out, cx.out.dtype), list(range(rank)))], ["parallel"] * rank, body)[0]
    return emit


OPS["aten.reflection_pad1d.default"] = _pad_index("reflection")
OPS["aten.reflection_pad2d.default"] = _pad_index("reflection")
OPS["aten.replication_pad2d.default"] = _pad_index("replication")
OPS["aten.replication_pad1d.default"] = _pad_index("replication")


OPS["aten.reflection_pad3d.default"] = _pad_index("reflection")
OPS["aten.replication_pad3d.default"] = _pad_index("replication")


# ------------------------------------------------------------------ as_strided
@op("aten.as_strided.default", "aten.as_strided_copy.default")
def _as_strided(cx, a):
    """A strided view of the input's row-major storage (tensors have value semantics, so the
    input is its own contiguous storage): out[i...] = flat[offset + sum(i_k * stride_k)]."""
    x = a["self"]
    shape = list(cx.shape(x))
    n = 1
    for s in shape:
        n *= s
    size, stride = list(a["size"]), list(a["stride"])
    off = int(a["storage_offset"] or 0)
    out = list(cx.out.shape)
    last = off + sum((s - 1) * st for s, st in zip(size, stride) if s > 0)
    if any(s == 0 for s in size):
        return empty(out, cx.out.dtype)
    if last >= n or off < 0 or any(st < 0 for st in stride):
        raise Unsupported(f"as_strided {size}/{stride}+{off} reads outside the {n} elements of the input")
    flat = reshape(cx.value(x), [n])
    r = len(out)

    def body(_o):
        pos = index_const(off)
        for k in range(r):
            pos = arith.addi(pos, arith.muli(C.index(k), index_const(stride[k])))
        return [tensor.extract(flat, [pos])]
    return generic([], [(empty(out, cx.out.dtype), list(range(r)))], ["parallel"] * r, body)[0]
