"""Linear algebra (linalg): mm, bmm, addmm (named linalg.matmul / batch_matmul) and pairwise
distances (cdist, pdist), and the block-quantized linear layer buddy.quant_linear
(`buddy.quant`). A transposed operand (nn.Linear's weight) is emitted as
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


# ------------------------------------------------------------------ quantized linear
QUANT_BLOCK = 32  # elements per scale (buddy.quant.BLOCK)
QUANT_FORMATS = ("Q8_0", "Q4_0", "Q4_1")  # buddy.quant.FORMATS


def packed_byte_expr(k: ir.AffineExpr) -> ir.AffineExpr:
    """Byte of element k in a row of packed 4-bit blocks: (k floordiv 32) * 16 + k mod 16
    (GGUF order: byte j of a block holds elements j and j + 16)."""
    half = QUANT_BLOCK // 2
    return ir.AffineExpr.get_add(ir.AffineExpr.get_mul(ir.AffineExpr.get_floor_div(k, QUANT_BLOCK), half),
                                 ir.AffineExpr.get_mod(k, half))


def _nibble(byte: ir.Value) -> ir.Value:
    """The 4-bit weight of the current element k (loop 2) in its packed byte, as i8 in [0, 15]:
    (byte >> 4 * ((k mod 32) floordiv 16)) & 15."""
    i8, idx = ir.IntegerType.get_signless(8), ir.IndexType.get()

    def ci(v: int) -> ir.Value:
        return arith.constant(idx, v)
    half = arith.divui(arith.remui(C.index(2), ci(QUANT_BLOCK)), ci(QUANT_BLOCK // 2))
    shift = arith.index_cast(i8, arith.muli(half, ci(4)))
    return arith.andi(arith.shrui(byte, shift), arith.constant(i8, 15))


@op("buddy.quant_linear.default")
def _quant_linear(cx, a):
    """y[..., n] = sum_k x[..., k] * (scales[n, k / 32] * q[n, k] (+ mins[n, k / 32])).

    One linalg.generic over (m, n, k) on x collapsed to [M, K]: i8 weight operand (Q8_0: one
    byte per weight at (n, k); Q4_0/Q4_1: packed nibbles at (n, (k floordiv 32) * 16 + k mod 16),
    the nibble picked with linalg.index), scale (and min) operands indexed with
    `k floordiv 32`, f32 accumulation (docs/quantization.md). It is a complete lowering by
    itself; buddy-opt's --buddy-quant-matmul-vectorize recognises this structure and replaces
    it with vector kernels."""
    x, q, s, mn, fmt = a["x"], a["qweight"], a["scales"], a["mins"], a["fmt"]
    xs, qs, ss = list(cx.shape(x)), list(cx.shape(q)), list(cx.shape(s))
    where = (f"`{cx.node.name}` ({fmt}): x {cx.dtype(x)}{xs}, qweight {cx.dtype(q)}{qs}, "
             f"scales {cx.dtype(s)}{ss}{'' if mn is None else f', mins {list(cx.shape(mn))}'}")
    if fmt not in QUANT_FORMATS:
        raise Unsupported(f"quant_linear {where}: format {fmt!r} (supported: {', '.join(QUANT_FORMATS)})")
    if cx.dtype(x) != "f32" or cx.dtype(q) != "i8" or cx.dtype(s) != "f32" or len(qs) != 2 or not xs:
        raise Unsupported(f"quant_linear {where}: needs f32 x [..., K], i8 qweight, f32 scales")
    k = xs[-1]
    n = qs[0]
    if k % QUANT_BLOCK or k == 0:
        raise Unsupported(f"quant_linear {where}: K = {k} is not a positive multiple of {QUANT_BLOCK}")
    pk = fmt != "Q8_0"
    if qs != [n, k // 2 if pk else k] or ss != [n, k // QUANT_BLOCK] or (mn is None) != (fmt != "Q4_1") or \
            (mn is not None and (list(cx.shape(mn)) != ss or cx.dtype(mn) != "f32")):
        raise Unsupported(f"quant_linear {where}: shapes do not fit (need qweight [{n}, {k // 2 if pk else k}], "
                          f"scales{' and mins' if fmt == 'Q4_1' else ''} [{n}, {k // QUANT_BLOCK}])")
    m = 1
    for d in xs[:-1]:
        m *= d
    x2 = C.reshape(cx.value(x), [m, k])
    kd = ir.AffineDimExpr.get(2)
    kb = ir.AffineExpr.get_floor_div(kd, QUANT_BLOCK)
    ins = [(x2, [0, 2]), (cx.value(q), [1, packed_byte_expr(kd) if pk else 2]), (cx.value(s), [1, kb])]
    if mn is not None:
        ins.append((cx.value(mn), [1, kb]))
    f32, i8 = ir.F32Type.get(), ir.IntegerType.get_signless(8)

    def body(xv, qv, d, *rest):
        *m_, acc = rest
        if pk:
            qv = _nibble(qv)
            if fmt == "Q4_0":
                qv = arith.subi(qv, arith.constant(i8, 8))
        w = arith.mulf(d, arith.sitofp(f32, qv))
        if m_:
            w = arith.addf(w, m_[0])
        return [arith.addf(acc, arith.mulf(xv, w))]
    y = generic(ins, [(filled([m, n], "f32", 0), [0, 1])], ["parallel", "parallel", "reduction"], body)[0]
    return C.reshape(y, list(cx.out.shape))


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
