"""MLIR building blocks shared by the op tables: types, scalar arithmetic, linalg.generic helpers."""

from __future__ import annotations

import math as pymath
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import torch
from mlir import ir
from mlir.dialects import arith, linalg, math, tensor

from ..graph import FLOAT_DTYPES, TORCH_TO_NAME, Ref, TensorSpec

Value = ir.Value
Scalar = Union[int, float, bool]


class Unsupported(Exception):
    """Raised by an emitter for an argument combination it cannot lower; becomes UnsupportedOpError."""


# ---------------------------------------------------------------- types
def elem_type(dtype: str) -> ir.Type:
    """Element type of a tensor of `dtype`. bool tensors are stored as i8 holding 0/1 (one byte
    per element, as in PyTorch); LLVM 22's memref lowering cannot load/store i1 memrefs."""
    if dtype == "bool":
        return ir.IntegerType.get_signless(8)
    return scalar_type(dtype)


def scalar_type(dtype: str) -> ir.Type:
    """Type of a scalar of `dtype` inside a linalg body (bool is i1 there)."""
    if dtype == "f32":
        return ir.F32Type.get()
    if dtype == "f16":
        return ir.F16Type.get()
    if dtype == "bf16":
        return ir.BF16Type.get()
    if dtype == "f64":
        return ir.F64Type.get()
    if dtype == "bool":
        return ir.IntegerType.get_signless(1)
    if dtype in ("i8", "i16", "i32", "i64", "u8"):
        return ir.IntegerType.get_signless(8 if dtype == "u8" else int(dtype[1:]))
    raise Unsupported(f"dtype {dtype}")


def tensor_type(shape: Sequence[int], dtype: str) -> ir.RankedTensorType:
    return ir.RankedTensorType.get(list(shape), elem_type(dtype))


def spec_type(spec: TensorSpec) -> ir.RankedTensorType:
    return tensor_type(spec.shape, spec.dtype)


def is_float(dtype: str) -> bool:
    return dtype in FLOAT_DTYPES


def compute_dtype(dtype: str) -> str:
    """Low-precision floats compute in f32 (as PyTorch's CPU kernels do), then round."""
    return "f32" if dtype in ("f16", "bf16") else dtype


def shape_of(v: Value) -> List[int]:
    return list(ir.RankedTensorType(v.type).shape)


# ---------------------------------------------------------------- scalars
def const(value: Scalar, dtype: str) -> Value:
    t = scalar_type(dtype)
    if is_float(dtype):
        v = float(value)
        return arith.constant(t, v)
    if dtype == "bool":
        return arith.constant(t, 1 if value else 0)
    return arith.constant(t, int(value))


def cast(v: Value, src: str, dst: str) -> Value:
    """Scalar conversion between dtype names with PyTorch semantics (float->int truncates).
    A bool `v` may be an i8 loaded from a bool tensor; the result is always a scalar_type(dst)."""
    if src == "bool" and isinstance(v.type, ir.IntegerType) and v.type.width == 8:
        v = arith.cmpi(arith.CmpIPredicate.ne, v, arith.constant(v.type, 0))
    if src == dst or (elem_type(src) == elem_type(dst) and src != "u8" and dst != "u8"):
        return v
    t = scalar_type(dst)
    if is_float(src) and is_float(dst):
        ws = {"f16": 16, "bf16": 16, "f32": 32, "f64": 64}
        if src in ("f16", "bf16") and dst in ("f16", "bf16"):
            return arith.truncf(t, arith.extf(ir.F32Type.get(), v))
        return arith.extf(t, v) if ws[dst] > ws[src] else arith.truncf(t, v)
    if is_float(src):
        if dst == "bool":
            return arith.cmpf(arith.CmpFPredicate.UNE, v, const(0.0, src))
        return arith.fptoui(t, v) if dst == "u8" else arith.fptosi(t, v)
    if is_float(dst):
        return arith.uitofp(t, v) if src in ("bool", "u8") else arith.sitofp(t, v)
    if dst == "bool":
        return arith.cmpi(arith.CmpIPredicate.ne, v, const(0, src))
    ws, wd = ir.IntegerType(v.type).width, ir.IntegerType(t).width
    if wd > ws:
        return arith.extui(t, v) if src in ("bool", "u8") else arith.extsi(t, v)
    return arith.trunci(t, v)


def to_storage(v: Value, dtype: str) -> Value:
    """A scalar of `dtype` as stored in a tensor (bool: i1 -> i8)."""
    if dtype == "bool" and isinstance(v.type, ir.IntegerType) and v.type.width == 1:
        return arith.extui(elem_type("bool"), v)
    return v


def _f(dtype: str) -> bool:
    return is_float(dtype)


def add(a: Value, b: Value, dt: str) -> Value:
    return arith.addf(a, b) if _f(dt) else (arith.ori(a, b) if dt == "bool" else arith.addi(a, b))


def sub(a: Value, b: Value, dt: str) -> Value:
    return arith.subf(a, b) if _f(dt) else arith.subi(a, b)


def mul(a: Value, b: Value, dt: str) -> Value:
    return arith.mulf(a, b) if _f(dt) else (arith.andi(a, b) if dt == "bool" else arith.muli(a, b))


def div(a: Value, b: Value, dt: str) -> Value:
    return arith.divf(a, b) if _f(dt) else arith.divsi(a, b)


def maximum(a: Value, b: Value, dt: str) -> Value:
    if _f(dt):
        return arith.maximumf(a, b)
    return arith.maxui(a, b) if dt in ("bool", "u8") else arith.maxsi(a, b)


def minimum(a: Value, b: Value, dt: str) -> Value:
    if _f(dt):
        return arith.minimumf(a, b)
    return arith.minui(a, b) if dt in ("bool", "u8") else arith.minsi(a, b)


_FPRED = {"eq": "OEQ", "ne": "UNE", "lt": "OLT", "le": "OLE", "gt": "OGT", "ge": "OGE"}
_IPRED = {"eq": "eq", "ne": "ne", "lt": "slt", "le": "sle", "gt": "sgt", "ge": "sge"}
_UPRED = {"eq": "eq", "ne": "ne", "lt": "ult", "le": "ule", "gt": "ugt", "ge": "uge"}


def compare(kind: str, a: Value, b: Value, dt: str) -> Value:
    if _f(dt):
        return arith.cmpf(getattr(arith.CmpFPredicate, _FPRED[kind]), a, b)
    table = _UPRED if dt in ("bool", "u8") else _IPRED
    return arith.cmpi(getattr(arith.CmpIPredicate, table[kind]), a, b)


def lowest(dt: str) -> Scalar:
    if _f(dt):
        return -pymath.inf
    if dt in ("bool", "u8"):
        return 0
    return -(1 << (int(dt[1:]) - 1))


def highest(dt: str) -> Scalar:
    if _f(dt):
        return pymath.inf
    if dt == "bool":
        return 1
    if dt == "u8":
        return 255
    return (1 << (int(dt[1:]) - 1)) - 1


# ---------------------------------------------------------------- tensors
def empty(shape: Sequence[int], dtype: str) -> Value:
    return tensor.empty(list(shape), elem_type(dtype))


def filled(shape: Sequence[int], dtype: str, value: Scalar) -> Value:
    return linalg.fill(to_storage(const(value, dtype), dtype), outs=[empty(shape, dtype)])


def _iter_attr(kind: str) -> ir.Attribute:
    return ir.Attribute.parse(f"#linalg.iterator_type<{kind}>")


DimExpr = Union[int, None, ir.AffineExpr]


def affine_map(n_loops: int, exprs: Sequence[DimExpr]) -> ir.AffineMap:
    out = []
    for e in exprs:
        if e is None:
            out.append(ir.AffineConstantExpr.get(0))
        elif isinstance(e, int):
            out.append(ir.AffineDimExpr.get(e))
        else:
            out.append(e)
    return ir.AffineMap.get(n_loops, 0, out)


def generic(inputs: Sequence[Tuple[Value, Sequence[DimExpr]]],
            outputs: Sequence[Tuple[Value, Sequence[DimExpr]]],
            iterators: Sequence[str],
            body: Callable[..., Sequence[Value]]) -> List[Value]:
    """A linalg.generic; `body(*scalars)` receives the block arguments and returns the yields."""
    n = len(iterators)
    ins = [v for v, _ in inputs]
    outs = [v for v, _ in outputs]
    maps = ir.ArrayAttr.get([ir.AffineMapAttr.get(affine_map(n, e)) for _, e in list(inputs) + list(outputs)])
    its = ir.ArrayAttr.get([_iter_attr(k) for k in iterators])
    op = linalg.GenericOp([o.type for o in outs], ins, outs, maps, its)
    types = [ir.RankedTensorType(v.type).element_type for v in ins + outs]
    block = op.regions[0].blocks.append(*types)
    with ir.InsertionPoint(block):
        res = body(*block.arguments)
        linalg.YieldOp(list(res))
    return list(op.results)


def index(dim: int) -> Value:
    """The current iteration index of loop `dim` inside a linalg.generic body."""
    return linalg.IndexOp(dim).result


def broadcast_exprs(in_shape: Sequence[int], out_shape: Sequence[int]) -> List[DimExpr]:
    """Right-aligned NumPy broadcasting of `in_shape` into loops over `out_shape`."""
    off = len(out_shape) - len(in_shape)
    if off < 0:
        raise Unsupported(f"cannot broadcast {list(in_shape)} to {list(out_shape)}")
    exprs: List[DimExpr] = []
    for i, d in enumerate(in_shape):
        if d == out_shape[off + i]:
            exprs.append(off + i)
        elif d == 1:
            exprs.append(None)
        else:
            raise Unsupported(f"cannot broadcast {list(in_shape)} to {list(out_shape)}")
    return exprs


Operand = Union[Value, Scalar]


def elementwise(operands: Sequence[Tuple], out_shape: Sequence[int], out_dtype: str,
                body: Callable[..., Value], cdt: Optional[str] = None) -> Value:
    """Broadcasting elementwise op. `operands` are (tensor value or Python scalar, dtype name[, own cdt]);
    every operand is converted to the compute dtype `cdt` (default: the output's compute dtype)
    before `body(*scalars)`; the result is converted to `out_dtype`."""
    cdt = cdt or compute_dtype(out_dtype)
    operands = [(o[0], o[1], o[2] if len(o) > 2 else None) for o in operands]
    tensors = [(v, dt) for v, dt, _ in operands if isinstance(v, Value)]
    rank = len(out_shape)
    inputs = [(v, broadcast_exprs(shape_of(v), out_shape)) for v, _ in tensors]
    init = empty(out_shape, out_dtype)

    def fn(*args: Value) -> List[Value]:
        it = iter(args)
        scalars = []
        for v, dt, own in operands:  # `own`: this operand's compute dtype, if not cdt
            if isinstance(v, Value):
                scalars.append(cast(next(it), dt, own or cdt))
            else:
                scalars.append(const(v, own or cdt))
        r = body(*scalars)
        rdt = "bool" if isinstance(r.type, ir.IntegerType) and r.type.width == 1 else cdt
        return [to_storage(cast(r, rdt, out_dtype), out_dtype)]

    return generic(inputs, [(init, list(range(rank)))], ["parallel"] * rank, fn)[0]


def reduce(x: Value, x_dtype: str, dims: Sequence[int], keepdim: bool, out_dtype: str,
           init: Scalar, combine: Callable[[Value, Value], Value], acc_dtype: Optional[str] = None,
           pre: Optional[Callable[[Value], Value]] = None) -> Value:
    """Reduce `dims` of `x` with `combine(element, acc)` in `acc_dtype`; result cast to out_dtype."""
    shape = shape_of(x)
    rank = len(shape)
    dims = sorted({d % rank for d in dims}) if rank else []
    acc_dtype = acc_dtype or compute_dtype(out_dtype)
    kept = [i for i in range(rank) if i not in dims]
    acc_shape = [shape[i] for i in kept]
    acc = filled(acc_shape, acc_dtype, init)
    iters = ["reduction" if i in dims else "parallel" for i in range(rank)]

    def fn(a: Value, b: Value) -> List[Value]:
        e = cast(a, x_dtype, acc_dtype)
        if pre is not None:
            e = pre(e)
        return [to_storage(combine(e, cast(b, acc_dtype, acc_dtype)), acc_dtype)]

    r = generic([(x, list(range(rank)))], [(acc, kept)], iters, fn)[0]
    if acc_dtype != out_dtype:
        r = elementwise([(r, acc_dtype)], acc_shape, out_dtype, lambda v: v, cdt=acc_dtype)
    if keepdim:
        r = reshape(r, [1 if i in dims else shape[i] for i in range(rank)])
    return r


def reshape(x: Value, new_shape: Sequence[int]) -> Value:
    """Row-major reshape: collapse to 1-D, then expand (both always valid for static shapes)."""
    old = shape_of(x)
    new_shape = list(new_shape)
    if old == new_shape:
        return x
    et = ir.RankedTensorType(x.type).element_type
    numel = 1
    for d in old:
        numel *= d
    flat_t = ir.RankedTensorType.get([numel], et)
    if not old:  # rank 0 -> [1]
        flat = tensor.expand_shape(flat_t, x, [], [], [1])
    elif len(old) == 1:
        flat = x
    else:
        flat = tensor.collapse_shape(flat_t, x, [list(range(len(old)))])
    if len(new_shape) == 1:
        return flat
    rt = ir.RankedTensorType.get(new_shape, et)
    if not new_shape:  # [1] -> rank 0
        return tensor.collapse_shape(rt, flat, [])
    return tensor.expand_shape(rt, flat, [list(range(len(new_shape)))], [], new_shape)


def extract_slice(x: Value, offsets: Sequence[int], sizes: Sequence[int], strides: Sequence[int],
                  result_shape: Optional[Sequence[int]] = None) -> Value:
    et = ir.RankedTensorType(x.type).element_type
    rt = ir.RankedTensorType.get(list(result_shape if result_shape is not None else sizes), et)
    return tensor.extract_slice(rt, x, [], [], [], list(offsets), list(sizes), list(strides))


def insert_slice(src: Value, dst: Value, offsets: Sequence[int], sizes: Sequence[int],
                 strides: Sequence[int]) -> Value:
    return tensor.insert_slice(src, dst, [], [], [], list(offsets), list(sizes), list(strides))


def transpose(x: Value, perm: Sequence[int]) -> Value:
    shape = shape_of(x)
    et = ir.RankedTensorType(x.type).element_type
    init = tensor.empty([shape[p] for p in perm], et)
    return linalg.transpose(x, outs=[init], permutation=list(perm)).result


def pool_window(a: dict) -> tuple[list[int], list[int], list[int]]:
    """2-D pooling kernel, stride and padding from an ATen pool node's args
    (one value means both dims; an empty stride means stride = kernel)."""
    def pair(v: list[int]) -> list[int]:
        return v * 2 if len(v) == 1 else v

    ks = pair(list(a["kernel_size"]))
    stride = pair(list(a["stride"]) or ks)
    return ks, stride, pair(list(a["padding"]))


def normalized_dims(shape: list[int], k: int) -> tuple[list[int], int]:
    """The last ``k`` dims of ``shape`` (layer norm's normalized dims) and the
    number of elements they span."""
    dims = list(range(len(shape) - k, len(shape)))
    n = 1
    for d in dims:
        n *= shape[d]
    return dims, n


# ------------------------------------------------------------------ helpers shared by op families
def promote(cx, *xs: Any) -> str:
    """PyTorch type promotion over tensor operands and Python scalars (a dtype name)."""
    vals = []
    for x in xs:
        if isinstance(x, Ref):
            s = cx.spec(x)
            vals.append(torch.empty((1,) if s.rank else (), dtype=s.torch_dtype))
        elif x is not None:
            vals.append(x)
    r = vals[0]
    dt = r.dtype if isinstance(r, torch.Tensor) else torch.tensor(r).dtype
    acc = torch.empty((), dtype=dt) if not isinstance(r, torch.Tensor) else r
    for v in vals[1:]:
        dt = torch.result_type(acc, v)
        acc = torch.empty((1,) if (isinstance(acc, torch.Tensor) and acc.dim()) or
                          (isinstance(v, torch.Tensor) and v.dim()) else (), dtype=dt)
    return TORCH_TO_NAME[acc.dtype if isinstance(acc, torch.Tensor) else dt]


def index_const(c: int) -> Value:
    """An `index` constant."""
    return arith.constant(ir.IndexType.get(), c)


def wrap_index(v: Value, dt: str, size: int) -> Value:
    """An integer tensor element as an `index`, with negative values wrapped, and clamped into
    [0, size): an index out of range never reads or writes outside the tensor (the emitter's
    index checks report it, see EmitContext.check_indices)."""
    i64 = cast(v, dt, "i64")
    wrapped = arith.select(compare("lt", i64, const(0, "i64"), "i64"), arith.addi(i64, const(size, "i64")), i64)
    clamped = arith.minsi(arith.maxsi(wrapped, const(0, "i64")), const(max(size - 1, 0), "i64"))
    return arith.index_cast(ir.IndexType.get(), clamped)


def copy_to_output(cx, x: Any) -> Value:
    """Operand `x` as the current node's output (its dtype and shape): the value itself when they
    already match, else an elementwise copy with the dtype conversion."""
    src = cx.dtype(x)
    dst = cx.out.dtype
    if src == dst and list(cx.shape(x)) == list(cx.out.shape):
        return cx.value(x)
    return elementwise([cx.operand(x)], cx.out.shape, dst, lambda v: v, cdt=src)
