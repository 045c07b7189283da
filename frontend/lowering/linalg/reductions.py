"""Reductions, scans and sorts along dims (linalg): sum, mean, prod, amax/amin, any,
argmax/argmin, max/min.dim, var, cumsum, sort, topk."""

from __future__ import annotations

from mlir.dialects import arith, tensor

from .. import common as C
from ..common import (cast, compare, compute_dtype, const, copy_to_output, elementwise, empty, extract_slice,
                      filled, generic, highest, is_float, lowest, maximum, minimum, reduce, reshape, shape_of)
from ..registry import OpTable

OPS = OpTable("linalg.reductions")
op = OPS.op


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
        return copy_to_output(cx, x)
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
