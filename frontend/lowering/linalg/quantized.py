"""Block-quantized ops (linalg): `buddy.quant_linear` and `buddy.quant_embedding` (`buddy.quant`).

Both read a block-quantized weight `W[N, K]` from its planes (docs/quantization.md; the plane
formats are `buddy.quant.FORMATS`): `qweight` (i8: Q8_0/Q8_16 `[N, K]`, Q4_0/Q4_1 packed
nibbles `[N, K/2]`), `scales` and, for Q4_1, `mins` (f32 `[N, K/B]`), `w = scales * q (+ mins)`
per block of B (32; Q8_16: 16) along K. The linear layer
is one `linalg.generic` that buddy-opt's --buddy-quant-matmul-vectorize recognises; the
embedding is a gather that dequantizes only the rows it reads, so a tied embedding and LM
head share one quantized table.
"""

from __future__ import annotations

from typing import Any, Optional

from mlir import ir
from mlir.dialects import arith, tensor

from buddy.quant import FORMATS

from .. import common as C
from ..common import Unsupported, empty, filled, generic, wrap_index
from ..registry import OpTable

OPS = OpTable("linalg.quantized")
op = OPS.op

QUANT_FORMATS = tuple(FORMATS)


def packed_byte_expr(k: ir.AffineExpr, block: int) -> ir.AffineExpr:
    """Byte of element k in a row of packed 4-bit blocks: (k floordiv B) * B/2 + k mod B/2
    (GGUF order: byte j of a block holds elements j and j + B/2)."""
    half = block // 2
    return ir.AffineExpr.get_add(ir.AffineExpr.get_mul(ir.AffineExpr.get_floor_div(k, block), half),
                                 ir.AffineExpr.get_mod(k, half))


def _ci(v: int) -> ir.Value:
    return arith.constant(ir.IndexType.get(), v)


def _nibble(byte: ir.Value, k: ir.Value, block: int) -> ir.Value:
    """The 4-bit weight of element `k` (an index) in its packed byte, as i8 in [0, 15]:
    (byte >> 4 * ((k mod B) floordiv B/2)) & 15."""
    i8 = ir.IntegerType.get_signless(8)
    half = arith.divui(arith.remui(k, _ci(block)), _ci(block // 2))
    shift = arith.index_cast(i8, arith.muli(half, _ci(4)))
    return arith.andi(arith.shrui(byte, shift), arith.constant(i8, 15))


def _weight(fmt: str, qv: ir.Value, k: ir.Value, d: ir.Value, mn: Optional[ir.Value]) -> ir.Value:
    """One dequantized f32 weight from its byte `qv` (element `k` of its row), scale and min."""
    f32, i8 = ir.F32Type.get(), ir.IntegerType.get_signless(8)
    pf = FORMATS[fmt]
    if pf.packed:
        qv = _nibble(qv, k, pf.block)
    if pf.offset:
        qv = arith.subi(qv, arith.constant(i8, pf.offset))
    w = arith.mulf(d, arith.sitofp(f32, qv))
    return arith.addf(w, mn) if mn is not None else w


def _check_planes(cx, what: str, q: Any, s: Any, mn: Any, fmt: str, k: int) -> int:
    """N of the weight after checking the planes' dtypes and shapes for K = `k`; raises
    Unsupported naming the node, format and shapes."""
    qs, ss = list(cx.shape(q)), list(cx.shape(s))
    where = (f"`{cx.node.name}` ({fmt}): qweight {cx.dtype(q)}{qs}, scales {cx.dtype(s)}{ss}"
             f"{'' if mn is None else f', mins {cx.dtype(mn)}{list(cx.shape(mn))}'}")
    if fmt not in QUANT_FORMATS:
        raise Unsupported(f"{what} {where}: format {fmt!r} (supported: {', '.join(QUANT_FORMATS)})")
    if cx.dtype(q) != "i8" or cx.dtype(s) != "f32" or len(qs) != 2:
        raise Unsupported(f"{what} {where}: needs an i8 [N, K or K/2] qweight and f32 scales")
    pf = FORMATS[fmt]
    if k % pf.block or k == 0:
        raise Unsupported(f"{what} {where}: K = {k} is not a positive multiple of {pf.block}")
    n = qs[0]
    pk = pf.packed
    if qs != [n, k // 2 if pk else k] or ss != [n, k // pf.block] or (mn is None) == pf.mins or \
            (mn is not None and (list(cx.shape(mn)) != ss or cx.dtype(mn) != "f32")):
        raise Unsupported(f"{what} {where}: shapes do not fit (need qweight [{n}, {k // 2 if pk else k}], "
                          f"scales{' and mins' if pf.mins else ''} [{n}, {k // pf.block}])")
    return n


@op("buddy.quant_linear.default")
def _quant_linear(cx, a):
    """y[..., n] = sum_k x[..., k] * (scales[n, k / B] * q[n, k] (+ mins[n, k / B])).

    One linalg.generic over (m, n, k) on x collapsed to [M, K]: i8 weight operand (Q8_0: one
    byte per weight at (n, k); Q4_0/Q4_1: packed nibbles at (n, (k floordiv 32) * 16 + k mod 16),
    the nibble picked with linalg.index), scale (and min) operands indexed with
    `k floordiv 32`, f32 accumulation (docs/quantization.md). It is a complete lowering by
    itself; buddy-opt's --buddy-quant-matmul-vectorize recognises this structure and replaces
    it with vector kernels."""
    x, q, s, mn, fmt = a["x"], a["qweight"], a["scales"], a["mins"], a["fmt"]
    xs = list(cx.shape(x))
    if cx.dtype(x) != "f32" or not xs:
        raise Unsupported(f"quant_linear `{cx.node.name}` ({fmt}): needs f32 x [..., K], got "
                          f"{cx.dtype(x)}{xs}")
    k = xs[-1]
    n = _check_planes(cx, "quant_linear", q, s, mn, fmt, k)
    pf = FORMATS[fmt]
    pk = pf.packed
    m = 1
    for d in xs[:-1]:
        m *= d
    x2 = C.reshape(cx.value(x), [m, k])
    kd = ir.AffineDimExpr.get(2)
    kb = ir.AffineExpr.get_floor_div(kd, pf.block)
    ins = [(x2, [0, 2]), (cx.value(q), [1, packed_byte_expr(kd, pf.block) if pk else 2]), (cx.value(s), [1, kb])]
    if mn is not None:
        ins.append((cx.value(mn), [1, kb]))

    def body(xv, qv, d, *rest):
        *m_, acc = rest
        w = _weight(fmt, qv, C.index(2) if pk else None, d, m_[0] if m_ else None)
        return [arith.addf(acc, arith.mulf(xv, w))]
    y = generic(ins, [(filled([m, n], "f32", 0), [0, 1])], ["parallel", "parallel", "reduction"], body)[0]
    return C.reshape(y, list(cx.out.shape))


@op("buddy.quant_embedding.default")
def _quant_embedding(cx, a):
    """out[..., k] = W[ids[...], k], dequantized from the planes: one linalg.generic over
    (ids dims..., k) that reads the id, then its row's byte, scale (and min) with tensor.extract.
    Only the rows looked up are dequantized; ids are clamped into the table (never a read outside it) and
    reported by the index checks."""
    ids, q, s, mn, fmt = a["ids"], a["qweight"], a["scales"], a["mins"], a["fmt"]
    out = cx.out
    k = int(out.shape[-1]) if out.shape else 0
    n = _check_planes(cx, "quant_embedding", q, s, mn, fmt, k)
    idt = cx.dtype(ids)
    if idt not in ("i64", "i32"):
        raise Unsupported(f"quant_embedding `{cx.node.name}`: indices must be int64 or int32, got {idt}")
    cx.check_indices(ids, n)
    r = len(out.shape)
    qv_t, sv_t = cx.value(q), cx.value(s)
    mv_t = cx.value(mn) if mn is not None else None

    def body(i, o):
        row = wrap_index(i, idt, n)
        kk = C.index(r - 1)
        pf = FORMATS[fmt]
        kb = arith.divui(kk, _ci(pf.block))
        if not pf.packed:
            byte = kk
        else:  # (k floordiv B) * B/2 + k mod B/2
            byte = arith.addi(arith.muli(kb, _ci(pf.block // 2)), arith.remui(kk, _ci(pf.block // 2)))
        qv = tensor.extract(qv_t, [row, byte])
        d = tensor.extract(sv_t, [row, kb])
        m = tensor.extract(mv_t, [row, kb]) if mv_t is not None else None
        return [_weight(fmt, qv, kk, d, m)]
    return generic([(cx.value(ids), list(range(r - 1)))], [(empty(out.shape, "f32"), list(range(r)))],
                   ["parallel"] * r, body)[0]
