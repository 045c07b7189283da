"""Less common Core ATen inference ops for the linalg table: 3-D pooling and padding, distances
(cdist/pdist), embedding_bag, masked_scatter, col2im and grid_sampler_2d.

Registered into `linalg.OPS` (imported at the end of linalg.py). Everything is a linalg.generic
over static shapes; gathers read with `tensor.extract` inside the body.
"""

from __future__ import annotations

from typing import Any, List, Sequence

from mlir import ir
from mlir.dialects import arith, math, tensor

from ..graph import Ref
from . import common as C
from .common import (Unsupported, cast, compare, compute_dtype, const, elementwise, empty, filled, generic,
                     insert_slice, lowest, reshape)
from .linalg import OPS, _idx, _ix, _pad_index, op


def _d(k: int) -> ir.AffineExpr:
    return ir.AffineDimExpr.get(k)


def _triple(v: Sequence[int], default: Sequence[int]) -> List[int]:
    v = list(v) if v else list(default)
    return v * 3 if len(v) == 1 else v


def _batched(cx, x: Ref, spatial: int):
    """(value, shape with a batch dim, was_unbatched) for N,C,spatial... pooling inputs."""
    shape = list(cx.shape(x))
    v = cx.value(x)
    if len(shape) == spatial + 1:
        return reshape(v, [1] + shape), [1] + shape, True
    if len(shape) != spatial + 2:
        raise Unsupported(f"input of rank {len(shape)}")
    return v, shape, False


def _window_reduce(x: ir.Value, xdt: str, out: List[int], ks: List[int], stride: List[int], dil: List[int],
                   acc: str, init: Any, combine) -> ir.Value:
    """out[n, c, o...] = combine over window k... of x[n, c, o*stride + k*dil] (x already padded)."""
    s = len(ks)
    x_map = [0, 1] + [_d(2 + i) * stride[i] + _d(2 + s + i) * dil[i] for i in range(s)]

    def body(e, _w, o):
        return [combine(cast(e, xdt, acc), o)]
    return generic([(x, x_map), (empty(ks, acc), [2 + s + i for i in range(s)])],
                   [(filled(out, acc, init), list(range(2 + s)))],
                   ["parallel"] * (2 + s) + ["reduction"] * s, body)[0]


def _pad_to(x: ir.Value, shape: List[int], dt: str, pad: List[int], need: List[int], value: Any) -> ir.Value:
    s = len(pad)
    full = shape[:2] + [max(need[i], shape[2 + i] + pad[i]) for i in range(s)]
    if full == shape and not any(pad):
        return x
    return insert_slice(x, filled(full, dt, value), [0, 0] + pad, shape, [1] * len(shape))


@op("aten.max_pool3d_with_indices.default")
def _maxpool3d(cx, a):
    x, shape, unb = _batched(cx, a["self"], 3)
    ks = _triple(a["kernel_size"], [])
    stride = _triple(a["stride"], ks)
    pad = _triple(a["padding"], [0])
    dil = _triple(a["dilation"], [1])
    dt = cx.dtype(a["self"])
    out = list(cx.outs(0).shape)
    out = [1] + out if unb else out
    need = [(out[2 + i] - 1) * stride[i] + (ks[i] - 1) * dil[i] + 1 for i in range(3)]
    x = _pad_to(x, shape, dt, pad, need, lowest(dt))
    acc = compute_dtype(dt)
    r = _window_reduce(x, dt, out, ks, stride, dil, acc, lowest(acc), lambda e, o: C.maximum(e, o, acc))
    r = elementwise([(r, acc)], out, dt, lambda v: v, cdt=acc)
    return [reshape(r, out[1:]) if unb else r, None]


@op("aten.avg_pool3d.default")
def _avgpool3d(cx, a):
    x, shape, unb = _batched(cx, a["self"], 3)
    ks = _triple(a["kernel_size"], [])
    stride = _triple(a["stride"], ks)
    pad = _triple(a["padding"], [0])
    if a["ceil_mode"]:
        raise Unsupported("ceil_mode=True")
    if any(pad) and not a["count_include_pad"]:
        raise Unsupported("count_include_pad=False with padding")
    dt = cx.dtype(a["self"])
    acc = compute_dtype(dt)
    out = list(cx.out.shape)
    out = [1] + out if unb else out
    need = [(out[2 + i] - 1) * stride[i] + ks[i] for i in range(3)]
    x = _pad_to(x, shape, dt, pad, need, 0)
    s = _window_reduce(x, dt, out, ks, stride, [1, 1, 1], acc, 0, lambda e, o: C.add(e, o, acc))
    div = float(a["divisor_override"] or ks[0] * ks[1] * ks[2])
    r = elementwise([(s, acc)], out, dt, lambda v: arith.divf(v, const(div, acc)), cdt=acc)
    return reshape(r, out[1:]) if unb else r


@op("aten._adaptive_avg_pool3d.default")
def _adaptive_avg3d(cx, a):
    """Adaptive windows [floor(o*I/O), ceil((o+1)*I/O)): loops over the largest window, masked."""
    x, shape, unb = _batched(cx, a["self"], 3)
    dt = cx.dtype(a["self"])
    acc = compute_dtype(dt)
    osz = list(a["output_size"])
    ins = shape[2:]
    out = shape[:2] + osz
    starts = [[(o * ins[i]) // osz[i] for o in range(osz[i])] for i in range(3)]
    ends = [[-((-(o + 1) * ins[i]) // osz[i]) for o in range(osz[i])] for i in range(3)]
    kmax = [max(e - s for s, e in zip(starts[i], ends[i])) for i in range(3)]

    def bounds(i: int, o: ir.Value):
        # start = o*I floordiv O; end = ceil((o+1)*I / O), in index arithmetic
        st = arith.divui(arith.muli(o, _ix(ins[i])), _ix(osz[i]))
        en = arith.divui(arith.addi(arith.muli(arith.addi(o, _ix(1)), _ix(ins[i])), _ix(osz[i] - 1)), _ix(osz[i]))
        return st, en

    def body(_w, o):
        idx = [C.index(0), C.index(1)]
        ok = None
        for i in range(3):
            st, en = bounds(i, C.index(2 + i))
            p = arith.addi(st, C.index(5 + i))
            inside = arith.cmpi(arith.CmpIPredicate.ult, p, en)
            ok = inside if ok is None else arith.andi(ok, inside)
            idx.append(arith.minui(p, _ix(ins[i] - 1)))
        e = cast(tensor.extract(x, idx), dt, acc)
        return [arith.select(ok, C.add(o, e, acc), o)]
    s = generic([(empty(kmax, acc), [5, 6, 7])], [(filled(out, acc, 0), [0, 1, 2, 3, 4])],
                ["parallel"] * 5 + ["reduction"] * 3, body)[0]

    def div(v, _o):
        cnt = None
        for i in range(3):
            st, en = bounds(i, C.index(2 + i))
            n = arith.subi(en, st)
            cnt = n if cnt is None else arith.muli(cnt, n)
        f = arith.sitofp(C.scalar_type(acc), arith.index_cast(C.scalar_type("i64"), cnt))
        return [C.to_storage(cast(arith.divf(v, f), acc, dt), dt)]
    r = generic([(s, [0, 1, 2, 3, 4])], [(empty(out, dt), [0, 1, 2, 3, 4])], ["parallel"] * 5, div)[0]
    return reshape(r, out[1:]) if unb else r


OPS["aten.reflection_pad3d.default"] = _pad_index("reflection")
OPS["aten.replication_pad3d.default"] = _pad_index("replication")


# ------------------------------------------------------------------ distances
def _dist_parts(p: float, acc: str):
    """(per-element term of |d|, combine, finalize) of the p-norm of differences, as PyTorch defines it."""
    inf = p == float("inf")
    if inf:
        return (lambda d: d), (lambda t, o: C.maximum(t, o, acc)), (lambda v: v)
    if p == 0:
        return (lambda d: arith.select(compare("ne", d, const(0, acc), acc), const(1, acc), const(0, acc))), \
            (lambda t, o: arith.addf(t, o)), (lambda v: v)
    if p == 1:
        return (lambda d: d), (lambda t, o: arith.addf(t, o)), (lambda v: v)
    if p == 2:
        return (lambda d: arith.mulf(d, d)), (lambda t, o: arith.addf(t, o)), (lambda v: math.sqrt(v))
    return (lambda d: math.powf(d, const(p, acc))), (lambda t, o: arith.addf(t, o)), \
        (lambda v: math.powf(v, const(1.0 / p, acc)))


@op("aten._cdist_forward.default")
def _cdist(cx, a):
    x1, x2 = a["x1"], a["x2"]
    p = float(a["p"])
    if p < 0:
        raise Unsupported(f"p={p}")
    s1, s2 = list(cx.shape(x1)), list(cx.shape(x2))
    out = list(cx.out.shape)
    dt = cx.out.dtype
    acc = compute_dtype(dt)
    if len(s1) != len(s2) or len(s1) < 2:
        raise Unsupported(f"cdist of {s1} and {s2}")
    nb = len(out) - 2   # batch dims (broadcast)
    term, combine, fin = _dist_parts(p, acc)
    r = len(out)
    b1 = C.broadcast_exprs(s1[:-2], out[:-2]) if nb else []
    b2 = C.broadcast_exprs(s2[:-2], out[:-2]) if nb else []
    m1 = b1 + [r - 2, r]
    m2 = b2 + [r - 1, r]

    def body(u, v, o):
        d = math.absf(arith.subf(cast(u, cx.dtype(x1), acc), cast(v, cx.dtype(x2), acc)))
        return [combine(term(d), o)]
    s = generic([(cx.value(x1), m1), (cx.value(x2), m2)], [(filled(out, acc, 0), list(range(r)))],
                ["parallel"] * r + ["reduction"], body)[0]
    return elementwise([(s, acc)], out, dt, fin, cdt=acc)


@op("aten._pdist_forward.default")
def _pdist(cx, a):
    x = a["self"]
    n, m = cx.shape(x)
    p = float(a["p"])
    dt = cx.out.dtype
    acc = compute_dtype(dt)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    if not pairs:
        return empty([0], dt)
    table = _i64_const([[i, j] for i, j in pairs])  # pair k -> (i, j), i < j, row-major
    term, combine, fin = _dist_parts(p, acc)
    xv = cx.value(x)
    xdt = cx.dtype(x)

    def body(_w, o):
        k, c = C.index(0), C.index(1)
        i = arith.index_cast(ir.IndexType.get(), tensor.extract(table, [k, _ix(0)]))
        j = arith.index_cast(ir.IndexType.get(), tensor.extract(table, [k, _ix(1)]))
        d = math.absf(arith.subf(cast(tensor.extract(xv, [i, c]), xdt, acc),
                                 cast(tensor.extract(xv, [j, c]), xdt, acc)))
        return [combine(term(d), o)]
    s = generic([(empty([m], acc), [1])], [(filled([len(pairs)], acc, 0), [0])], ["parallel", "reduction"], body)[0]
    return elementwise([(s, acc)], [len(pairs)], dt, fin, cdt=acc)


def _i64_const(rows: Sequence[Sequence[int]]) -> ir.Value:
    import numpy as np
    arr = np.asarray(rows, dtype=np.int64)
    attr = ir.DenseElementsAttr.get(arr, type=ir.IntegerType.get_signless(64))
    return arith.constant(attr.type, attr)


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
        nxt = arith.addi(b, _ix(1))
        hi_raw = arith.index_cast(ir.IndexType.get(), cast(
            tensor.extract(ov, [arith.minui(nxt, _ix(noffs - 1))]), odt, "i64"))
        last = arith.cmpi(arith.CmpIPredicate.uge, nxt, _ix(noffs))
        hi = arith.select(last, _ix(nt), hi_raw)
        ok = arith.andi(arith.cmpi(arith.CmpIPredicate.ule, lo, t), arith.cmpi(arith.CmpIPredicate.ult, t, hi))
        row = tensor.extract(iv, [t])
        if pad_idx >= 0:
            ok = arith.andi(ok, compare("ne", cast(row, idt, "i64"), const(pad_idx, "i64"), "i64"))
        return ok, _idx(row, idt, nrows)

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


# ------------------------------------------------------------------ col2im
@op("aten.col2im.default")
def _col2im(cx, a):
    x = a["self"]
    xs = list(cx.shape(x))
    unb = len(xs) == 2
    v = reshape(cx.value(x), [1] + xs) if unb else cx.value(x)
    xs = [1] + xs if unb else xs
    H, W = a["output_size"]
    kh, kw = a["kernel_size"]
    dh, dw = a["dilation"]
    ph, pw = a["padding"]
    sh, sw = a["stride"]
    nbh = (H + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    nbw = (W + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    c = xs[1] // (kh * kw)
    dt = cx.dtype(x)
    acc = compute_dtype(dt)
    out = [xs[0], c, H, W]

    def axis(o, k, dil, pad, st, nblk):
        # block b with b*st - pad + k*dil == o
        t = arith.subi(arith.addi(o, _ix(pad)), arith.muli(k, _ix(dil)))
        ti = arith.index_cast(C.scalar_type("i64"), t)
        ok = arith.cmpi(arith.CmpIPredicate.sge, ti, const(0, "i64"))
        ok = arith.andi(ok, compare("eq", arith.remsi(ti, const(st, "i64")), const(0, "i64"), "i64"))
        b = arith.divsi(ti, const(st, "i64"))
        ok = arith.andi(ok, arith.cmpi(arith.CmpIPredicate.slt, b, const(nblk, "i64")))
        b = arith.maxsi(arith.minsi(b, const(nblk - 1, "i64")), const(0, "i64"))
        return ok, arith.index_cast(ir.IndexType.get(), b)

    def body(_w, o):
        n, ch, h, w_, i, j = (C.index(k) for k in range(6))
        ok1, bh = axis(h, i, dh, ph, sh, nbh)
        ok2, bw = axis(w_, j, dw, pw, sw, nbw)
        row = arith.addi(arith.muli(ch, _ix(kh * kw)), arith.addi(arith.muli(i, _ix(kw)), j))
        col = arith.addi(arith.muli(bh, _ix(nbw)), bw)
        e = cast(tensor.extract(v, [n, row, col]), dt, acc)
        return [arith.select(arith.andi(ok1, ok2), arith.addf(o, e), o)]
    s = generic([(empty([kh, kw], acc), [4, 5])], [(filled(out, acc, 0), [0, 1, 2, 3])],
                ["parallel"] * 4 + ["reduction"] * 2, body)[0]
    r = elementwise([(s, acc)], out, dt, lambda q: q, cdt=acc)
    return reshape(r, out[1:]) if unb else r


# ------------------------------------------------------------------ grid_sampler_2d
@op("aten.grid_sampler_2d.default")
def _grid_sampler(cx, a):
    x, grid = a["input"], a["grid"]
    mode, padding, align = int(a["interpolation_mode"]), int(a["padding_mode"]), bool(a["align_corners"])
    if mode not in (0, 1):
        raise Unsupported("bicubic interpolation")
    if padding not in (0, 1):
        raise Unsupported("reflection padding")
    n, c, H, W = cx.shape(x)
    out = list(cx.out.shape)
    dt = cx.out.dtype
    acc = "f32" if dt != "f64" else "f64"
    src, gv, gdt = cx.value(x), cx.value(grid), cx.dtype(grid)

    def unnorm(g, size):
        one = const(1.0, acc)
        if align:
            f = arith.mulf(arith.divf(arith.addf(g, one), const(2.0, acc)), const(size - 1, acc))
        else:
            f = arith.divf(arith.subf(arith.mulf(arith.addf(g, one), const(size, acc)), one), const(2.0, acc))
        if padding == 1:
            f = arith.minimumf(arith.maximumf(f, const(0.0, acc)), const(size - 1, acc))
        return f

    def pixel(nn, ch, yi, xi):
        """x[n, c, y, x] if (y, x) in range else 0; yi, xi are i64."""
        ok = arith.andi(arith.andi(arith.cmpi(arith.CmpIPredicate.sge, yi, const(0, "i64")),
                                   arith.cmpi(arith.CmpIPredicate.slt, yi, const(H, "i64"))),
                        arith.andi(arith.cmpi(arith.CmpIPredicate.sge, xi, const(0, "i64")),
                                   arith.cmpi(arith.CmpIPredicate.slt, xi, const(W, "i64"))))
        cl = lambda v, hi: arith.index_cast(ir.IndexType.get(), arith.maxsi(  # noqa: E731
            arith.minsi(v, const(hi - 1, "i64")), const(0, "i64")))
        e = cast(tensor.extract(src, [nn, ch, cl(yi, H), cl(xi, W)]), cx.dtype(x), acc)
        return arith.select(ok, e, const(0.0, acc))

    def body(o):
        nn, ch, h, w = (C.index(k) for k in range(4))
        gx = cast(tensor.extract(gv, [nn, h, w, _ix(0)]), gdt, acc)
        gy = cast(tensor.extract(gv, [nn, h, w, _ix(1)]), gdt, acc)
        fx, fy = unnorm(gx, W), unnorm(gy, H)
        i64 = C.scalar_type("i64")
        if mode == 1:
            r = pixel(nn, ch, arith.fptosi(i64, math.roundeven(fy)), arith.fptosi(i64, math.roundeven(fx)))
        else:
            x0f, y0f = math.floor(fx), math.floor(fy)
            wx, wy = arith.subf(fx, x0f), arith.subf(fy, y0f)
            x0, y0 = arith.fptosi(i64, x0f), arith.fptosi(i64, y0f)
            x1, y1 = arith.addi(x0, const(1, "i64")), arith.addi(y0, const(1, "i64"))
            one = const(1.0, acc)
            top = arith.addf(arith.mulf(arith.subf(one, wx), pixel(nn, ch, y0, x0)),
                             arith.mulf(wx, pixel(nn, ch, y0, x1)))
            bot = arith.addf(arith.mulf(arith.subf(one, wx), pixel(nn, ch, y1, x0)),
                             arith.mulf(wx, pixel(nn, ch, y1, x1)))
            r = arith.addf(arith.mulf(arith.subf(one, wy), top), arith.mulf(wy, bot))
        return [C.to_storage(cast(r, acc, dt), dt)]
    return generic([], [(empty(out, dt), [0, 1, 2, 3])], ["parallel"] * 4, body)[0]


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
        pos = _ix(off)
        for k in range(r):
            pos = arith.addi(pos, arith.muli(C.index(k), _ix(stride[k])))
        return [tensor.extract(flat, [pos])]
    return generic([], [(empty(out, cx.out.dtype), list(range(r)))], ["parallel"] * r, body)[0]


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
