"""Linear algebra (linalg): mm, bmm, addmm (named linalg.matmul / batch_matmul) and pairwise
distances (cdist, pdist); the block-quantized layers are in `quantized.py`. A transposed operand (nn.Linear's weight) is emitted as
linalg.transpose; buddy-opt's --buddy-fold-transpose-into-matmul folds it into the matmul's
indexing map (the one owner of that rewrite)."""

from __future__ import annotations

from typing import Any, List, Sequence

from mlir import ir
from mlir.dialects import arith, linalg, math, tensor

from .. import common as C
from ..common import (Unsupported, cast, compare, compute_dtype, const, elementwise, empty, filled, generic,
                      index_const, is_float)
from ..registry import OpTable

OPS = OpTable("linalg.linear_algebra")
op = OPS.op


# ------------------------------------------------------------------ linear algebra
def _matmul(x: ir.Value, xdt: str, y: ir.Value, out_shape: List[int], odt: str, batch: bool) -> ir.Value:
    acc = compute_dtype(odt) if is_float(odt) else odt
    init = filled(out_shape, acc, 0)
    fn = linalg.batch_matmul if batch else linalg.matmul
    r = fn(x, y, outs=[init])
    if acc != odt:
        r = elementwise([(r, acc)], out_shape, odt, lambda v: v, cdt=acc)
    return r


@op("aten.mm.default")
def _mm(cx, a):
    return _matmul(cx.value(a["self"]), cx.dtype(a["self"]), cx.value(a["mat2"]), list(cx.out.shape),
                   cx.out.dtype, False)


@op("aten.bmm.default")
def _bmm(cx, a):
    return _matmul(cx.value(a["self"]), cx.dtype(a["self"]), cx.value(a["mat2"]), list(cx.out.shape),
                   cx.out.dtype, True)


@op("aten.addmm.default")
def _addmm(cx, a):
    odt = cx.out.dtype
    acc = compute_dtype(odt)
    m = _matmul(cx.value(a["mat1"]), cx.dtype(a["mat1"]), cx.value(a["mat2"]), list(cx.out.shape), acc, False)
    return _scaled_bias_add(cx, a, a["self"], m, acc)


def _scaled_bias_add(cx, a, bias: Any, m: ir.Value, acc: str) -> ir.Value:
    """addmm's epilogue: beta * bias + alpha * m (in `acc`), cast to the output dtype."""
    beta, alpha = a["beta"], a["alpha"]

    def body(b, p):
        if alpha != 1:
            p = C.mul(p, const(alpha, acc), acc)
        if beta == 0:
            return p
        if beta != 1:
            b = C.mul(b, const(beta, acc), acc)
        return C.add(b, p, acc)
    return elementwise([cx.operand(bias), (m, acc)], cx.out.shape, cx.out.dtype, body, cdt=acc)


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
        i = arith.index_cast(ir.IndexType.get(), tensor.extract(table, [k, index_const(0)]))
        j = arith.index_cast(ir.IndexType.get(), tensor.extract(table, [k, index_const(1)]))
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
