"""TOSA forms of ops used by the LLaMA mask/RMSNorm code: pow with a scalar exponent, cumsum and
index.Tensor (advanced indexing as one tosa.gather). Registered into `tosa.OPS` (imported at the
end of tosa.py)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from mlir import ir
from mlir.dialects import tosa

from .common import Unsupported, compute_dtype, is_float, scalar_type
from .tosa import (_bmm, _shape, _tile_to, _transpose, _tt, add, cast, cmp, load, mul, op, recip, reduce,
                   reshape, select, splat, store)


def _const(arr: np.ndarray, dtype: str) -> ir.Value:
    """A dense TOSA constant of `dtype` (a float or integer dtype name) from a NumPy array."""
    np_dt = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64}[dtype]
    attr = ir.DenseElementsAttr.get(np.ascontiguousarray(arr, dtype=np_dt), type=scalar_type(dtype))
    return tosa.const(attr)


def _prod(xs: Sequence[int]) -> int:
    n = 1
    for x in xs:
        n *= x
    return n


@op("aten.pow.Tensor_Scalar")
def _pow_scalar(cx, a):
    """Small integer exponents as multiplications (exact, and defined for negative bases as in
    PyTorch); other exponents with tosa.pow."""
    out = cx.out
    dt = out.dtype
    if not is_float(dt):
        raise Unsupported("integer pow")
    e = a["exponent"]
    acc = compute_dtype(dt)
    r = len(out.shape)
    v = load(cx, a["self"], acc, r)
    if float(e).is_integer() and abs(e) <= 16:
        n = int(abs(e))
        if n == 0:
            return store(_tile_to(splat(1.0, [1] * r, acc), out.shape), acc, dt)
        res, base = None, v
        while n:
            if n & 1:
                res = base if res is None else mul(res, base, acc)
            n >>= 1
            if n:
                base = mul(base, base, acc)
        if e < 0:
            res = recip(res, acc)
    else:
        res = tosa.pow(_tt(_shape(v), acc), v, splat(float(e), [1] * r, acc))
    return store(res, acc, dt)


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
        v = _transpose(v, perm)
    lead = [shape[d] for d in perm[:-1]]
    m = _prod(lead)
    j, i = np.meshgrid(np.arange(L), np.arange(L), indexing="ij")
    tri = (j <= i).astype(np.int64)  # tri[j, i]: element j contributes to output i
    if is_float(acc) and acc != "f64":
        r, rdt = _bmm(reshape(v, [1, m, L]), _const(tri[None], "f32"), "f32")
        res = cast(r, rdt, acc)
    else:
        if acc not in ("i32", "i64", "f64"):
            raise Unsupported(f"cumsum in {acc}")
        prod = mul(reshape(v, [m, 1, L]), _const(tri.T[None], acc), acc)  # [m, i, j] = x[j] * (j <= i)
        res = reduce("sum", prod, [2], acc)
    res = reshape(res, lead + [L])
    if perm != list(range(rank)):
        inv = [perm.index(d) for d in range(rank)]
        res = _transpose(res, inv)
    return store(res, acc, dt)


@op("aten.index.Tensor")
def _index(cx, a):
    """x[..., i0, ..., ik-1, ...] with index tensors (broadcast together) as one tosa.gather: the
    indexed dims are transposed to the front and flattened; negative indices wrap like PyTorch's.
    As in PyTorch, the index dims replace the indexed dims when those are adjacent, else lead."""
    x = a["self"]
    idx = list(a["indices"])
    shape = list(cx.shape(x))
    idx += [None] * (len(shape) - len(idx))
    pos = [d for d, i in enumerate(idx) if i is not None]
    if not pos:
        raise Unsupported("index.Tensor without index tensors")
    rest_dims = [d for d in range(len(shape)) if idx[d] is None]
    lead, rest = [shape[d] for d in pos], [shape[d] for d in rest_dims]
    out = list(cx.out.shape)
    nbr = len(out) - len(rest)   # rank of the broadcast index shape
    adjacent = pos == list(range(pos[0], pos[-1] + 1))
    front = pos[0] if adjacent else 0   # where the index dims sit in the output
    bshape = out[front:front + nbr]
    nb = _prod(bshape)
    flat = None
    for k, d in enumerate(pos):
        i = idx[d]
        if cx.dtype(i) == "bool":
            raise Unsupported("boolean mask indexing (data-dependent shape)")
        iv = _tile_to(load(cx, i, "i64", nbr, bshape), bshape)
        neg = cmp("lt", iv, splat(0, [1] * nbr, "i64"))
        iv = select(neg, add(iv, splat(lead[k], [1] * nbr, "i64"), "i64"), iv, "i64")
        stride = _prod(lead[k + 1:])
        term = mul(iv, splat(stride, [1] * nbr, "i64"), "i64") if stride != 1 else iv
        flat = term if flat is None else add(flat, term, "i64")
    n, c = _prod(lead), _prod(rest)
    ids = tosa.cast(_tt([1, nb], "i32"), reshape(flat, [1, nb]))
    xv = cx.value(x)
    if pos + rest_dims != list(range(len(shape))):
        xv = _transpose(xv, pos + rest_dims)
    et = ir.RankedTensorType(xv.type).element_type
    g = tosa.gather(ir.RankedTensorType.get([1, nb, c], et), reshape(xv, [1, n, c]), ids)
    g = reshape(g, bshape + rest)           # [B..., rest...]
    if front:                               # rest dims before the indexed ones come first
        r = len(out)
        perm = list(range(nbr, nbr + front)) + list(range(nbr)) + list(range(nbr + front, r))
        g = _transpose(g, perm)
    return g
