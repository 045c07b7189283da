"""Indexing (linalg): embedding, index_select, index.Tensor, gather, the scatters, index_put,
select/slice_scatter, masked_scatter, embedding_bag. Gathers read with `tensor.extract`
inside linalg.generic bodies; negative indices wrap like PyTorch's."""

from __future__ import annotations

from typing import Optional

import torch
from mlir import ir
from mlir.dialects import arith, tensor

from ...graph import Ref
from .. import common as C
from ..common import (Unsupported, cast, compare, compute_dtype, const, elementwise, empty, extract_slice, filled,
                      generic, highest, index_const, insert_slice, is_float, lowest, maximum, minimum, reshape,
                      wrap_index)
from ..registry import OpTable

OPS = OpTable("linalg.indexing")
op = OPS.op


@op("aten.embedding.default")
def _embedding(cx, a):
    w = cx.value(a["weight"])
    ids = a["indices"]
    ishape = list(cx.shape(ids))
    out = cx.out
    r = len(out.shape)
    n = cx.shape(a["weight"])[0]
    idt = cx.dtype(ids)
    cx.check_indices(ids, n)

    def body(i, o):
        return [tensor.extract(w, [wrap_index(i, idt, n), C.index(r - 1)])]
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
    cx.check_indices(a["index"], shape[dim])

    def body(i, o):
        idx = [C.index(d) for d in range(rank)]
        idx[dim] = wrap_index(i, idt, shape[dim])
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
    for i in pos:
        cx.check_indices(indices[i], shape[i], negative_ok=True)

    def body(*args):
        vals = list(args[:-1])
        idx = []
        for d in range(len(shape)):
            if indices[d] is None:
                idx.append(C.index(loop_of[d]))
            else:
                idx.append(wrap_index(vals[pos.index(d)], cx.dtype(indices[d]), shape[d]))
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
    cx.check_indices(a["index"], shape[dim])

    def body(i, o):
        idx = [C.index(d) for d in range(rank)]
        idx[dim] = wrap_index(i, idt, shape[dim])
        return [tensor.extract(src, idx)]
    return generic([(cx.value(a["index"]), list(range(rank)))], [(empty(out.shape, out.dtype), list(range(rank)))],
                   ["parallel"] * rank, body)[0]


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
    cx.check_indices(a["index"], shape[dim])
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
            ok = arith.cmpi(arith.CmpIPredicate.ult, p, index_const(ishape[d]))
            valid = ok if valid is None else arith.andi(valid, ok)
            coords.append(arith.minui(p, index_const(ishape[d] - 1)))
        target = wrap_index(tensor.extract(index, coords), idt, shape[dim])
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
    for d in dims:
        cx.check_indices(idx[d], shape[d], negative_ok=True)
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
            raw = cast(tensor.extract(cx.value(idx[d]), [index_const(j)]), cx.dtype(idx[d]), "i64")
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
    for i in pos:
        cx.check_indices(indices[i], shape[i], negative_ok=True)
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
            coords = [index_const(0) if tsh[j] == 1 else C.index(b_loop(off + j)) for j in range(len(tsh))]
            tgt = wrap_index(tensor.extract(cx.value(t), coords), cx.dtype(t), shape[i])
            eq = arith.cmpi(arith.CmpIPredicate.eq, tgt, C.index(i))
            hit = eq if hit is None else arith.andi(hit, eq)
        loops = [C.index(d) if kind == "f" else C.index(b_loop(d)) for kind, d in res_dims]
        voff = len(loops) - len(vshape)
        vc = [index_const(0) if vshape[j] == 1 else loops[voff + j] for j in range(len(vshape))]
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


# ------------------------------------------------------------------ embedding_bag
@op("aten._embedding_bag.default", "aten._embedding_bag_forward_only.default")
def _embedding_bag(cx, a):
    """Output 0 only (the bag reductions); offset2bag/bag_size/max_indices are training helpers."""
    w, ind, offs = a["weight"], a["indices"], a["offsets"]
    mode = int(a["mode"])
    psw = a.get("per_sample_weights")
    pad_idx = a.get("padding_idx")
    pad_idx = -1 if pad_idx is None else int(pad_idx)
    include_last = bool(a["include_last_offset"])
    ishape = list(cx.shape(ind))
    if len(ishape) != 1:
        raise Unsupported("2-D indices reach _embedding_bag flattened; got rank " + str(len(ishape)))
    nt = ishape[0]
    nrows, dim = cx.shape(w)
    cx.check_indices(ind, nrows)
    nb = cx.shape(offs)[0] - (1 if include_last else 0)
    dt = cx.outs(0).dtype
    acc = compute_dtype(dt)
    wv, iv, ov = cx.value(w), cx.value(ind), cx.value(offs)
    idt, odt = cx.dtype(ind), cx.dtype(offs)
    pv = cx.value(psw) if isinstance(psw, Ref) else None
    noffs = cx.shape(offs)[0]
    init = lowest(acc) if mode == 2 else 0

    def in_bag(b: ir.Value, t: ir.Value):
        lo = arith.index_cast(ir.IndexType.get(), cast(tensor.extract(ov, [b]), odt, "i64"))
        nxt = arith.addi(b, index_const(1))
        hi_raw = arith.index_cast(ir.IndexType.get(), cast(
            tensor.extract(ov, [arith.minui(nxt, index_const(noffs - 1))]), odt, "i64"))
        last = arith.cmpi(arith.CmpIPredicate.uge, nxt, index_const(noffs))
        hi = arith.select(last, index_const(nt), hi_raw)
        ok = arith.andi(arith.cmpi(arith.CmpIPredicate.ule, lo, t), arith.cmpi(arith.CmpIPredicate.ult, t, hi))
        row = tensor.extract(iv, [t])
        if pad_idx >= 0:
            ok = arith.andi(ok, compare("ne", cast(row, idt, "i64"), const(pad_idx, "i64"), "i64"))
        return ok, wrap_index(row, idt, nrows)

    def body(_w, o, cnt):
        b, d, t = C.index(0), C.index(1), C.index(2)
        ok, r = in_bag(b, t)
        e = cast(tensor.extract(wv, [r, d]), cx.dtype(w), acc)
        if pv is not None:
            e = arith.mulf(e, cast(tensor.extract(pv, [t]), cx.dtype(psw), acc))
        new = C.maximum(e, o, acc) if mode == 2 else arith.addf(e, o)
        one = arith.addi(cnt, const(1, "i64"))
        return [arith.select(ok, new, o), arith.select(ok, one, cnt)]
    if nt == 0:
        return [filled([nb, dim], dt, 0), None, None, None]
    s, cnt = generic([(empty([nt], acc), [2])], [(filled([nb, dim], acc, init), [0, 1]),
                                                 (filled([nb, dim], "i64", 0), [0, 1])],
                     ["parallel", "parallel", "reduction"], body)

    def fin(v, c, _o):
        empty_bag = compare("eq", c, const(0, "i64"), "i64")
        if mode == 1:
            v = arith.divf(v, arith.sitofp(C.scalar_type(acc), arith.maxsi(c, const(1, "i64"))))
        v = arith.select(empty_bag, const(0, acc), v)
        return [C.to_storage(cast(v, acc, dt), dt)]
    r = generic([(s, [0, 1]), (cnt, [0, 1])], [(empty([nb, dim], dt), [0, 1])], ["parallel"] * 2, fin)[0]
    return [r, None, None, None]


# ------------------------------------------------------------------ masked_scatter
@op("aten.masked_scatter.default")
def _masked_scatter(cx, a):
    """out = self; the k-th true position of mask (row-major) takes source.flatten()[k].
    The exclusive prefix count of mask is a reduction over earlier positions."""
    x, mask, src = a["self"], a["mask"], a["source"]
    shape = list(cx.out.shape)
    dt = cx.out.dtype
    n = 1
    for s in shape:
        n *= s
    nsrc = 1
    for s in cx.shape(src):
        nsrc *= s
    m = elementwise([(cx.value(mask), "bool")], shape, "i64", lambda v: v, cdt="bool")
    mflat = reshape(m, [n])
    sflat = reshape(cx.value(src), [nsrc])
    xflat = reshape(elementwise([cx.operand(x)], shape, dt, lambda v: v, cdt=cx.dtype(x)), [n])

    def count(e, o):
        take = arith.cmpi(arith.CmpIPredicate.ult, C.index(1), C.index(0))
        return [arith.select(take, arith.addi(o, e), o)]
    pos = generic([(mflat, [1])], [(filled([n], "i64", 0), [0])], ["parallel", "reduction"], count)[0]

    def pick(xe, me, pe, _o):
        on = compare("ne", me, const(0, "i64"), "i64")
        k = arith.index_cast(ir.IndexType.get(), arith.minsi(pe, const(max(nsrc - 1, 0), "i64")))
        se = tensor.extract(sflat, [k]) if nsrc else xe
        return [arith.select(on, se, xe)]
    r = generic([(xflat, [0]), (mflat, [0]), (pos, [0])], [(empty([n], dt), [0])], ["parallel"], pick)[0]
    return reshape(r, shape)
