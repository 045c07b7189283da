"""Indexing (TOSA): embedding and index.Tensor (advanced indexing as one tosa.gather)."""

from __future__ import annotations

from mlir import ir
from mlir.dialects import tosa

from ..common import Unsupported
from ..registry import OpTable
from .builders import add, cmp, load, mul, product, reshape, select, splat, tile_to, tosa_type, transpose

OPS = OpTable("tosa.indexing")
op = OPS.op


@op("aten.embedding.default")
def _embedding(cx, a):
    w = cx.value(a["weight"])
    n, c = cx.shape(a["weight"])
    ids = cx.value(a["indices"])
    ishape = list(cx.shape(a["indices"]))
    k = 1
    for d in ishape:
        k *= d
    idx = tosa.cast(tosa_type([1, k], "i32"), reshape(ids, [1, k]))
    et = ir.RankedTensorType(w.type).element_type
    g = tosa.gather(ir.RankedTensorType.get([1, k, c], et), reshape(w, [1, n, c]), idx)
    return reshape(g, cx.out.shape)


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
    nb = product(bshape)
    flat = None
    for k, d in enumerate(pos):
        i = idx[d]
        if cx.dtype(i) == "bool":
            raise Unsupported("boolean mask indexing (data-dependent shape)")
        iv = tile_to(load(cx, i, "i64", nbr, bshape), bshape)
        neg = cmp("lt", iv, splat(0, [1] * nbr, "i64"))
        iv = select(neg, add(iv, splat(lead[k], [1] * nbr, "i64"), "i64"), iv, "i64")
        stride = product(lead[k + 1:])
        term = mul(iv, splat(stride, [1] * nbr, "i64"), "i64") if stride != 1 else iv
        flat = term if flat is None else add(flat, term, "i64")
    n, c = product(lead), product(rest)
    ids = tosa.cast(tosa_type([1, nb], "i32"), reshape(flat, [1, nb]))
    xv = cx.value(x)
    if pos + rest_dims != list(range(len(shape))):
        xv = transpose(xv, pos + rest_dims)
    et = ir.RankedTensorType(xv.type).element_type
    g = tosa.gather(ir.RankedTensorType.get([1, nb, c], et), reshape(xv, [1, n, c]), ids)
    g = reshape(g, bshape + rest)           # [B..., rest...]
    if front:                               # rest dims before the indexed ones come first
        r = len(out)
        perm = list(range(nbr, nbr + front)) + list(range(nbr)) + list(range(nbr + front, r))
        g = transpose(g, perm)
    return g
