"""Sample inputs for every op in the frontend's op tables (used by test_frontend_ops.py and
scripts/gen_ops_md.py). Each sample case builds `(fn, args)`: `fn` calls the ATen overload
directly; the frontend traces it with make_fx, lowers it and runs it through the JIT, and the
result is compared with `fn(*args)` in eager mode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

aten = torch.ops.aten
Case = Callable[[torch.dtype, torch.Generator], Tuple[Callable, Tuple[Any, ...]]]

# odd sizes, size-1 dims, and a rank-3 shape with a size-1 middle dim
SHAPES: List[Tuple[int, ...]] = [(3, 5), (1, 1), (2, 1, 7)]
FLOATS = (torch.float32, torch.float16, torch.bfloat16)
INTS = (torch.int32, torch.int64)


@dataclass
class Sample:
    cases: List[Case]
    dtypes: Sequence[torch.dtype] = (torch.float32,)
    check_values: bool = True
    atol: Optional[float] = None
    expect_op: Optional[str] = None  # the op the sample traces to, if capture decomposes this one
    # extra dtypes are tested on the first case only (keeps the suite fast)


def rand(shape, dtype, gen, lo=-2.0, hi=2.0):
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=gen).bool()
    if not dtype.is_floating_point:
        return torch.randint(int(lo) if lo > -50 else -5, max(int(hi), int(lo) + 1) + 1, shape, generator=gen).to(dtype)
    return (torch.rand(shape, generator=gen) * (hi - lo) + lo).to(dtype)


def unary(op, lo=-2.0, hi=2.0, dtypes=FLOATS) -> Sample:
    return Sample([lambda dt, g, s=s: (op, (rand(s, dt, g, lo, hi),)) for s in SHAPES], dtypes)


def binary(op, lo=-2.0, hi=2.0, dtypes=FLOATS, nonzero=False, **kw) -> Sample:
    def mk(s, bshape):
        def case(dt, g):
            y = rand(bshape, dt, g, lo, hi)
            if nonzero:
                y = torch.where(y == 0, torch.ones_like(y), y)
            return (lambda a, b: op(a, b, **kw)), (rand(s, dt, g, lo, hi), y)
        return case
    return Sample([mk((3, 5), (3, 5)), mk((1, 1), (1, 1)), mk((2, 1, 7), (4, 1)), mk((3, 5), ())], dtypes)


def with_scalar(op, scalar, lo=-2.0, hi=2.0, dtypes=FLOATS, **kw) -> Sample:
    return Sample([lambda dt, g, s=s: ((lambda a: op(a, scalar, **kw)), (rand(s, dt, g, lo, hi),)) for s in SHAPES],
                  dtypes)


def custom(*cases: Case, dtypes=(torch.float32,), **kw) -> Sample:
    return Sample(list(cases), dtypes, **kw)


SAMPLES: Dict[str, Sample] = {}
for name, lo, hi in [("exp", -2, 2), ("log", 0.1, 3), ("sqrt", 0.1, 3), ("rsqrt", 0.1, 3), ("sin", -3, 3),
                     ("cos", -3, 3), ("tan", -1, 1), ("tanh", -3, 3), ("erf", -2, 2), ("log2", 0.1, 3),
                     ("log10", 0.1, 3), ("log1p", -0.5, 3), ("expm1", -2, 2), ("asin", -0.9, 0.9),
                     ("acos", -0.9, 0.9), ("atan", -3, 3), ("sinh", -2, 2), ("cosh", -2, 2), ("asinh", -3, 3),
                     ("acosh", 1.1, 3), ("atanh", -0.9, 0.9), ("ceil", -3, 3), ("floor", -3, 3), ("trunc", -3, 3),
                     ("round", -3, 3), ("sigmoid", -3, 3), ("reciprocal", 0.5, 3), ("relu", -2, 2),
                     ("gelu", -3, 3)]:
    SAMPLES[f"aten.{name}.default"] = unary(getattr(aten, name).default, lo, hi)
SAMPLES["aten.neg.default"] = unary(aten.neg.default, dtypes=FLOATS + INTS)
SAMPLES["aten.abs.default"] = unary(aten.abs.default, dtypes=FLOATS + INTS)
SAMPLES["aten.sign.default"] = unary(aten.sign.default, dtypes=FLOATS + INTS)
SAMPLES["aten.bitwise_not.default"] = unary(aten.bitwise_not.default, dtypes=INTS + (torch.bool,))
SAMPLES["aten.logical_not.default"] = unary(aten.logical_not.default, dtypes=(torch.float32, torch.int64, torch.bool))
SAMPLES["aten.isnan.default"] = custom(
    lambda dt, g: (aten.isnan.default, (torch.tensor([1.0, float("nan"), float("inf"), -2.0]),)),
    lambda dt, g: (aten.isnan.default, (rand((2, 3), dt, g),)))
SAMPLES["aten.isinf.default"] = custom(
    lambda dt, g: (aten.isinf.default, (torch.tensor([1.0, float("nan"), float("inf"), -float("inf")]),)),
    lambda dt, g: (aten.isinf.default, (rand((2, 3), dt, g),)))
SAMPLES["aten.leaky_relu.default"] = with_scalar(aten.leaky_relu.default, 0.1)
SAMPLES["aten.elu.default"] = unary(aten.elu.default)
SAMPLES["aten.hardtanh.default"] = with_scalar(lambda x, lo: aten.hardtanh.default(x, lo, 1.0), -0.5)
SAMPLES["aten.clamp.default"] = with_scalar(lambda x, lo: aten.clamp.default(x, lo, 1.0), -0.5,
                                            dtypes=FLOATS + INTS)
SAMPLES["aten.clamp.Tensor"] = binary(lambda x, lo: aten.clamp.Tensor(x, lo, None))

for ov in ("add", "sub"):
    SAMPLES[f"aten.{ov}.Tensor"] = binary(getattr(aten, ov).Tensor, dtypes=FLOATS + INTS, alpha=2)
    SAMPLES[f"aten.{ov}.Scalar"] = with_scalar(getattr(aten, ov).Scalar, 1.5)
SAMPLES["aten.mul.Tensor"] = binary(aten.mul.Tensor, dtypes=FLOATS + INTS + (torch.bool,))
SAMPLES["aten.mul.Scalar"] = with_scalar(aten.mul.Scalar, 3, dtypes=FLOATS + INTS)
SAMPLES["aten.div.Tensor"] = binary(aten.div.Tensor, nonzero=True, dtypes=FLOATS + INTS)
SAMPLES["aten.div.Scalar"] = with_scalar(aten.div.Scalar, 3.0)
SAMPLES["aten.div.Tensor_mode"] = binary(aten.div.Tensor_mode, -9, 9, nonzero=True, dtypes=(torch.float32,) + INTS,
                                         rounding_mode="floor")
SAMPLES["aten.div.Scalar_mode"] = with_scalar(aten.div.Scalar_mode, -3, -9, 9, dtypes=(torch.float32,) + INTS,
                                              rounding_mode="trunc")
for k in ("eq", "ne", "lt", "le", "gt", "ge"):
    SAMPLES[f"aten.{k}.Tensor"] = binary(getattr(aten, k).Tensor, -2, 2, dtypes=(torch.float32, torch.int64))
    SAMPLES[f"aten.{k}.Scalar"] = with_scalar(getattr(aten, k).Scalar, 1, -2, 2, dtypes=(torch.float32, torch.int64))
for k in ("bitwise_and", "bitwise_or", "bitwise_xor"):
    SAMPLES[f"aten.{k}.Tensor"] = binary(getattr(aten, k).Tensor, -9, 9, dtypes=INTS + (torch.bool,))
    SAMPLES[f"aten.{k}.Scalar"] = with_scalar(getattr(aten, k).Scalar, 6, -9, 9, dtypes=INTS)
for k in ("logical_and", "logical_or", "logical_xor"):
    SAMPLES[f"aten.{k}.default"] = binary(getattr(aten, k).default, -1, 1, dtypes=(torch.float32, torch.bool))
SAMPLES["aten.remainder.Tensor"] = binary(aten.remainder.Tensor, -9, 9, nonzero=True, dtypes=(torch.float32,) + INTS)
SAMPLES["aten.remainder.Scalar"] = with_scalar(aten.remainder.Scalar, -4, -9, 9, dtypes=(torch.float32,) + INTS)
SAMPLES["aten.fmod.Tensor"] = binary(aten.fmod.Tensor, -9, 9, nonzero=True, dtypes=(torch.float32,) + INTS)
SAMPLES["aten.fmod.Scalar"] = with_scalar(aten.fmod.Scalar, 4, -9, 9, dtypes=(torch.float32,) + INTS)
SAMPLES["aten.maximum.default"] = binary(aten.maximum.default, dtypes=FLOATS + INTS)
SAMPLES["aten.minimum.default"] = binary(aten.minimum.default, dtypes=FLOATS + INTS)
SAMPLES["aten.atan2.default"] = binary(aten.atan2.default)
SAMPLES["aten.pow.Tensor_Tensor"] = binary(aten.pow.Tensor_Tensor, 0.5, 2)
SAMPLES["aten.pow.Tensor_Scalar"] = Sample(
    with_scalar(aten.pow.Tensor_Scalar, 2).cases + with_scalar(aten.pow.Tensor_Scalar, 3, 0.5, 2).cases[:1]
    + with_scalar(aten.pow.Tensor_Scalar, 0.7, 0.5, 2).cases[:1], FLOATS)
SAMPLES["aten.pow.Scalar"] = custom(lambda dt, g: ((lambda e: aten.pow.Scalar(2.0, e)), (rand((3, 5), dt, g),)),
                                    dtypes=FLOATS)
SAMPLES["aten.where.self"] = custom(
    lambda dt, g: (aten.where.self, (rand((3, 5), torch.bool, g), rand((3, 5), dt, g), rand((5,), dt, g))),
    lambda dt, g: (aten.where.self, (rand((2, 1, 4), torch.bool, g), rand((1, 3, 1), dt, g), rand((), dt, g))),
    dtypes=FLOATS + INTS)

# casts, copies, creation
SAMPLES["aten._to_copy.default"] = custom(
    lambda dt, g: ((lambda x: aten._to_copy.default(x, dtype=torch.float16)), (rand((3, 5), dt, g),)),
    lambda dt, g: ((lambda x: aten._to_copy.default(x, dtype=torch.int32)), (rand((3, 5), dt, g, -9, 9),)),
    lambda dt, g: ((lambda x: aten._to_copy.default(x, dtype=torch.bool)), (rand((2, 1, 3), dt, g, -1, 1),)),
    lambda dt, g: ((lambda x: aten._to_copy.default(x, dtype=torch.float32)),
                   (rand((4,), torch.bool, g),)),
    dtypes=(torch.float32, torch.bfloat16, torch.int64))
SAMPLES["aten.clone.default"] = unary(aten.clone.default, dtypes=FLOATS + INTS + (torch.bool,))
SAMPLES["aten.alias.default"] = unary(lambda x: aten.alias.default(x) + 1)
SAMPLES["aten.copy.default"] = custom(lambda dt, g: (aten.copy.default, (rand((3, 5), dt, g), rand((5,), dt, g))),
                                      dtypes=FLOATS + INTS)
SAMPLES["aten.full.default"] = custom(lambda dt, g: ((lambda x: aten.full.default([2, 3], 1.5) + x),
                                                     (rand((2, 3), dt, g),)))
SAMPLES["aten.full_like.default"] = custom(lambda dt, g: ((lambda x: aten.full_like.default(x, 7)),
                                                          (rand((1, 4), dt, g),)), dtypes=FLOATS + INTS)
SAMPLES["aten.scalar_tensor.default"] = custom(lambda dt, g: ((lambda x: aten.scalar_tensor.default(2.5) * x),
                                                              (rand((3,), dt, g),)))
SAMPLES["aten.fill.Scalar"] = custom(lambda dt, g: ((lambda x: aten.fill.Scalar(x, 3)), (rand((2, 5), dt, g),)),
                                     dtypes=FLOATS + INTS)
SAMPLES["aten.empty.memory_format"] = custom(
    lambda dt, g: ((lambda x: aten.empty.memory_format([2, 3], dtype=torch.float32)), (rand((1,), dt, g),)),
    check_values=False)
SAMPLES["aten.empty_strided.default"] = custom(
    lambda dt, g: ((lambda x: aten.empty_strided.default([2, 3], [3, 1], dtype=torch.float32)), (rand((1,), dt, g),)),
    check_values=False)
SAMPLES["aten.arange.start_step"] = custom(
    lambda dt, g: ((lambda x: aten.arange.start_step(1, 12, 3, dtype=torch.int64) + x), (rand((4,), dt, g),)),
    lambda dt, g: ((lambda x: aten.arange.start_step(-1.0, 1.0, 0.25, dtype=torch.float32) * x),
                   (rand((8,), torch.float32, g),)),
    dtypes=(torch.int64,))

# shapes and views
SAMPLES["aten.view.default"] = custom(
    lambda dt, g: ((lambda x: aten.view.default(x, [5, 3])), (rand((3, 5), dt, g),)),
    lambda dt, g: ((lambda x: aten.view.default(x, [1])), (rand((1, 1), dt, g),)),
    lambda dt, g: ((lambda x: aten.view.default(x, [])), (rand((1, 1), dt, g),)),
    lambda dt, g: ((lambda x: aten.view.default(x, [7, 2])), (rand((2, 1, 7), dt, g),)), dtypes=FLOATS + INTS)
SAMPLES["aten.squeeze.dim"] = custom(lambda dt, g: ((lambda x: aten.squeeze.dim(x, 1)), (rand((2, 1, 7), dt, g),)))
SAMPLES["aten.squeeze.dims"] = custom(lambda dt, g: ((lambda x: aten.squeeze.dims(x, [0, 1])),
                                                     (rand((1, 1, 7), dt, g),)))
SAMPLES["aten.unsqueeze.default"] = custom(lambda dt, g: ((lambda x: aten.unsqueeze.default(x, -1)),
                                                          (rand((3, 5), dt, g),)),
                                           lambda dt, g: ((lambda x: aten.unsqueeze.default(x, 0)), (rand((), dt, g),)))
SAMPLES["aten.permute.default"] = custom(
    lambda dt, g: ((lambda x: aten.permute.default(x, [1, 0])), (rand((3, 5), dt, g),)),
    lambda dt, g: ((lambda x: aten.permute.default(x, [2, 0, 1])), (rand((2, 1, 7), dt, g),)), dtypes=FLOATS + INTS)
SAMPLES["aten.expand.default"] = custom(
    lambda dt, g: ((lambda x: aten.expand.default(x, [3, 5])), (rand((1, 5), dt, g),)),
    lambda dt, g: ((lambda x: aten.expand.default(x, [2, 4, 7])), (rand((2, 1, 7), dt, g),)), dtypes=FLOATS + INTS)
SAMPLES["aten.slice.Tensor"] = custom(
    lambda dt, g: ((lambda x: aten.slice.Tensor(x, 1, 1, 4)), (rand((3, 5), dt, g),)),
    lambda dt, g: ((lambda x: aten.slice.Tensor(x, 0, 0, 9223372036854775807, 2)), (rand((5, 3), dt, g),)),
    lambda dt, g: ((lambda x: aten.slice.Tensor(x, -1, -3)), (rand((2, 1, 7), dt, g),)), dtypes=FLOATS + INTS)
SAMPLES["aten.select.int"] = custom(
    lambda dt, g: ((lambda x: aten.select.int(x, 1, -1)), (rand((3, 5), dt, g),)),
    lambda dt, g: ((lambda x: aten.select.int(x, 0, 0)), (rand((1, 1), dt, g),)), dtypes=FLOATS + INTS)
SAMPLES["aten.split_with_sizes.default"] = custom(
    lambda dt, g: ((lambda x: aten.split_with_sizes.default(x, [2, 3], 1)), (rand((3, 5), dt, g),)))
SAMPLES["aten.cat.default"] = custom(
    lambda dt, g: ((lambda a, b: aten.cat.default([a, b], 1)), (rand((3, 5), dt, g), rand((3, 1), dt, g))),
    lambda dt, g: ((lambda a, b: aten.cat.default([a, b, a])), (rand((1, 1), dt, g), rand((2, 1), dt, g))),
    dtypes=FLOATS + INTS + (torch.bool,))
SAMPLES["aten.constant_pad_nd.default"] = custom(
    lambda dt, g: ((lambda x: aten.constant_pad_nd.default(x, [1, 2], 0.5)), (rand((3, 5), dt, g),)),
    lambda dt, g: ((lambda x: aten.constant_pad_nd.default(x, [1, -1, 0, 2])), (rand((2, 1, 7), dt, g),)))
SAMPLES["aten.flip.default"] = custom(lambda dt, g: ((lambda x: aten.flip.default(x, [0, -1])),
                                                     (rand((3, 5), dt, g),)), dtypes=FLOATS + INTS)
SAMPLES["aten.repeat.default"] = custom(
    lambda dt, g: ((lambda x: aten.repeat.default(x, [2, 1, 3])), (rand((3, 5), dt, g),)))
SAMPLES["aten.embedding.default"] = custom(
    lambda dt, g: (aten.embedding.default, (rand((10, 4), dt, g), torch.randint(0, 10, (2, 3), generator=g))),
    lambda dt, g: (aten.embedding.default, (rand((1, 3), dt, g), torch.zeros(1, dtype=torch.int64))), dtypes=FLOATS)
SAMPLES["aten.index_select.default"] = custom(
    lambda dt, g: ((lambda x, i: aten.index_select.default(x, 1, i)),
                   (rand((3, 5), dt, g), torch.tensor([4, 0, 0, 2]))))
SAMPLES["aten.index.Tensor"] = custom(
    lambda dt, g: ((lambda x, i: aten.index.Tensor(x, [i])), (rand((5, 3), dt, g), torch.tensor([[4, 0], [1, -1]]))),
    lambda dt, g: ((lambda x, i, j: aten.index.Tensor(x, [None, i, j])),
                   (rand((2, 4, 5), dt, g), torch.tensor([3, 0, 1]), torch.tensor([[1], [4]]))),
    lambda dt, g: ((lambda x, i, j: aten.index.Tensor(x, [i, None, j])),
                   (rand((2, 4, 5), dt, g), torch.tensor([1, 0, 1]), torch.tensor([2, 4, 0]))),
    lambda dt, g: ((lambda x, i, j: aten.index.Tensor(x, [None, i, j])),
                   (rand((2, 4, 5, 3), dt, g), torch.tensor([[3], [-4]]), torch.tensor([0, -1, 2]))))
SAMPLES["aten.gather.default"] = custom(
    lambda dt, g: ((lambda x, i: aten.gather.default(x, 1, i)),
                   (rand((3, 5), dt, g), torch.randint(0, 5, (3, 2), generator=g))))
SAMPLES["aten.diagonal.default"] = custom(
    lambda dt, g: ((lambda x: aten.diagonal.default(x) * 1), (rand((3, 5), dt, g),)),
    lambda dt, g: ((lambda x: aten.diagonal.default(x, 1, 0, 2) * 1), (rand((4, 2, 5), dt, g),)))

# reductions
SAMPLES["aten.sum.dim_IntList"] = custom(
    lambda dt, g: ((lambda x: aten.sum.dim_IntList(x, [1])), (rand((3, 5), dt, g),)),
    lambda dt, g: ((lambda x: aten.sum.dim_IntList(x, [0, 2], True)), (rand((2, 1, 7), dt, g),)),
    lambda dt, g: ((lambda x: aten.sum.dim_IntList(x, None)), (rand((1, 1), dt, g),)), dtypes=FLOATS + INTS)
SAMPLES["aten.mean.dim"] = custom(
    lambda dt, g: ((lambda x: aten.mean.dim(x, [-1], True)), (rand((3, 5), dt, g),)),
    lambda dt, g: ((lambda x: aten.mean.dim(x, [0, 2])), (rand((2, 1, 7), dt, g),)), dtypes=FLOATS)
SAMPLES["aten.mean.default"] = unary(aten.mean.default)
SAMPLES["aten.prod.default"] = unary(aten.prod.default, 0.5, 1.5)
SAMPLES["aten.prod.dim_int"] = custom(lambda dt, g: ((lambda x: aten.prod.dim_int(x, 0)),
                                                     (rand((3, 5), dt, g, 0.5, 1.5),)), dtypes=FLOATS + INTS)
SAMPLES["aten.amax.default"] = custom(lambda dt, g: ((lambda x: aten.amax.default(x, [1])), (rand((3, 5), dt, g),)),
                                      lambda dt, g: ((lambda x: aten.amax.default(x, [0, 2], True)),
                                                     (rand((2, 1, 7), dt, g),)), dtypes=FLOATS + INTS)
SAMPLES["aten.amin.default"] = custom(lambda dt, g: ((lambda x: aten.amin.default(x, [0])), (rand((3, 5), dt, g),)),
                                      dtypes=FLOATS + INTS)
SAMPLES["aten.any.default"] = unary(aten.any.default, -1, 1, dtypes=(torch.bool, torch.int64))
SAMPLES["aten.any.dim"] = custom(lambda dt, g: ((lambda x: aten.any.dim(x, 1)), (rand((3, 5), dt, g, -1, 1),)),
                                 dtypes=(torch.bool, torch.float32))
SAMPLES["aten.any.dims"] = custom(lambda dt, g: ((lambda x: aten.any.dims(x, [0, 2])), (rand((2, 3, 4), dt, g),)),
                                  dtypes=(torch.bool,))
SAMPLES["aten.argmax.default"] = custom(lambda dt, g: ((lambda x: aten.argmax.default(x, 1)), (rand((3, 5), dt, g),)),
                                        lambda dt, g: ((lambda x: aten.argmax.default(x)), (rand((2, 1, 7), dt, g),)),
                                        dtypes=FLOATS + INTS)
SAMPLES["aten.argmin.default"] = custom(lambda dt, g: ((lambda x: aten.argmin.default(x, 0, True)),
                                                       (rand((3, 5), dt, g),)), dtypes=FLOATS + INTS)
SAMPLES["aten.max.dim"] = custom(lambda dt, g: ((lambda x: aten.max.dim(x, 1)), (rand((3, 5), dt, g),)),
                                 dtypes=FLOATS + INTS)
SAMPLES["aten.min.dim"] = custom(lambda dt, g: ((lambda x: aten.min.dim(x, 0, True)), (rand((3, 5), dt, g),)),
                                 dtypes=FLOATS + INTS)
SAMPLES["aten.var.correction"] = custom(
    lambda dt, g: ((lambda x: aten.var.correction(x, [1], correction=1)), (rand((3, 5), dt, g),)),
    lambda dt, g: ((lambda x: aten.var.correction(x, None, correction=0, keepdim=True)), (rand((2, 1, 7), dt, g),)))
SAMPLES["aten.var.dim"] = custom(lambda dt, g: ((lambda x: aten.var.dim(x, [0])), (rand((3, 5), dt, g),)),
                                 expect_op="aten.var.correction")
SAMPLES["aten.cumsum.default"] = custom(
    lambda dt, g: ((lambda x: aten.cumsum.default(x, 1)), (rand((3, 5), dt, g),)),
    lambda dt, g: ((lambda x: aten.cumsum.default(x, 0)), (rand((1, 1), dt, g),)), dtypes=(torch.float32, torch.int64))

# linear algebra, convolution, pooling
SAMPLES["aten.mm.default"] = custom(
    lambda dt, g: (aten.mm.default, (rand((3, 5), dt, g), rand((5, 7), dt, g))),
    lambda dt, g: (aten.mm.default, (rand((1, 1), dt, g), rand((1, 3), dt, g))), dtypes=FLOATS + INTS)
SAMPLES["aten.bmm.default"] = custom(lambda dt, g: (aten.bmm.default, (rand((2, 3, 5), dt, g), rand((2, 5, 1), dt, g))),
                                     dtypes=FLOATS)
SAMPLES["aten.addmm.default"] = custom(
    lambda dt, g: (aten.addmm.default, (rand((7,), dt, g), rand((3, 5), dt, g), rand((5, 7), dt, g))),
    lambda dt, g: ((lambda b, x, y: aten.addmm.default(b, x, y, beta=0.5, alpha=2)),
                   (rand((1, 1), dt, g), rand((1, 3), dt, g), rand((3, 1), dt, g))), dtypes=FLOATS)
SAMPLES["aten.convolution.default"] = custom(
    lambda dt, g: ((lambda x, w, b: aten.convolution.default(x, w, b, [1, 1], [1, 1], [1, 1], False, [0, 0], 1)),
                   (rand((1, 3, 7, 5), dt, g), rand((4, 3, 3, 3), dt, g), rand((4,), dt, g))),
    lambda dt, g: ((lambda x, w: aten.convolution.default(x, w, None, [2, 1], [0, 1], [1, 2], False, [0, 0], 2)),
                   (rand((2, 4, 9, 6), dt, g), rand((6, 2, 3, 2), dt, g))), dtypes=FLOATS)
SAMPLES["aten.max_pool2d_with_indices.default"] = custom(
    lambda dt, g: ((lambda x: aten.max_pool2d_with_indices.default(x, [2, 2])[0]), (rand((1, 2, 7, 5), dt, g),)),
    lambda dt, g: ((lambda x: aten.max_pool2d_with_indices.default(x, [3, 3], [2, 2], [1, 1])[0]),
                   (rand((2, 3, 6, 6), dt, g),)), dtypes=FLOATS)
SAMPLES["aten.avg_pool2d.default"] = custom(
    lambda dt, g: ((lambda x: aten.avg_pool2d.default(x, [2, 2])), (rand((1, 2, 7, 5), dt, g),)),
    lambda dt, g: ((lambda x: aten.avg_pool2d.default(x, [3, 3], [2, 2], [1, 1])), (rand((2, 3, 6, 6), dt, g),)),
    dtypes=FLOATS)
SAMPLES["aten._adaptive_avg_pool2d.default"] = custom(
    lambda dt, g: ((lambda x: aten._adaptive_avg_pool2d.default(x, [1, 1])), (rand((2, 3, 5, 7), dt, g),)),
    lambda dt, g: ((lambda x: aten._adaptive_avg_pool2d.default(x, [2, 3])), (rand((1, 2, 4, 6), dt, g),)))

# normalization and softmax
SAMPLES["aten._softmax.default"] = custom(
    lambda dt, g: ((lambda x: aten._softmax.default(x, 1, False)), (rand((3, 5), dt, g, -4, 4),)),
    lambda dt, g: ((lambda x: aten._softmax.default(x, 0, False)), (rand((1, 1), dt, g),)),
    lambda dt, g: ((lambda x: aten._softmax.default(x, -1, False)), (rand((2, 1, 7), dt, g),)), dtypes=FLOATS)
SAMPLES["aten._log_softmax.default"] = custom(
    lambda dt, g: ((lambda x: aten._log_softmax.default(x, 1, False)), (rand((3, 5), dt, g, -4, 4),)),
    lambda dt, g: ((lambda x: aten._log_softmax.default(x, 0, False)), (rand((2, 1, 7), dt, g),)), dtypes=FLOATS)
SAMPLES["aten.native_layer_norm.default"] = custom(
    lambda dt, g: ((lambda x, w, b: aten.native_layer_norm.default(x, [5], w, b, 1e-5)),
                   (rand((3, 5), dt, g), rand((5,), dt, g), rand((5,), dt, g))),
    lambda dt, g: ((lambda x: aten.native_layer_norm.default(x, [1, 7], None, None, 1e-5)),
                   (rand((2, 1, 7), dt, g),)), dtypes=FLOATS)
SAMPLES["aten._native_batch_norm_legit_no_training.default"] = custom(
    lambda dt, g: ((lambda x, w, b, m, v: aten._native_batch_norm_legit_no_training.default(x, w, b, m, v, 0.1, 1e-5)[0]),
                   (rand((2, 3, 4, 5), dt, g), rand((3,), dt, g), rand((3,), dt, g), rand((3,), dt, g),
                    rand((3,), dt, g, 0.5, 1.5))),
    lambda dt, g: ((lambda x, m, v: aten._native_batch_norm_legit_no_training.default(x, None, None, m, v, 0.1, 1e-3)[0]),
                   (rand((1, 1, 3), dt, g), rand((1,), dt, g), rand((1,), dt, g, 0.5, 1.5))), dtypes=FLOATS)


# aliases and non-core overloads that still reach the tables
SAMPLES["aten._unsafe_view.default"] = custom(lambda dt, g: ((lambda x: aten._unsafe_view.default(x, [5, 3])),
                                                             (rand((3, 5), dt, g),)))
SAMPLES["aten.arange.default"] = custom(lambda dt, g: ((lambda x: aten.arange.default(5) * x), (rand((5,), dt, g),)),
                                        dtypes=(torch.int64,))
SAMPLES["aten.arange.start"] = custom(lambda dt, g: ((lambda x: aten.arange.start(-2, 3) * x), (rand((5,), dt, g),)),
                                      dtypes=(torch.int64,))
SAMPLES["aten.squeeze.default"] = custom(lambda dt, g: ((lambda x: aten.squeeze.default(x)), (rand((2, 1, 7), dt, g),)))
SAMPLES["aten.sum.default"] = unary(aten.sum.default, dtypes=FLOATS + INTS)
SAMPLES["aten.t.default"] = custom(lambda dt, g: ((lambda x: aten.t.default(x)), (rand((3, 5), dt, g),)))
SAMPLES["aten.transpose.int"] = custom(lambda dt, g: ((lambda x: aten.transpose.int(x, 0, -1)),
                                                      (rand((2, 1, 7), dt, g),)))
SAMPLES["aten.split.Tensor"] = custom(lambda dt, g: ((lambda x: aten.split.Tensor(x, 2, 1)), (rand((3, 5), dt, g),)))
SAMPLES["aten.expand_copy.default"] = custom(lambda dt, g: ((lambda x: aten.expand_copy.default(x, [3, 5])),
                                                            (rand((1, 5), dt, g),)))
SAMPLES["aten.slice_copy.Tensor"] = custom(lambda dt, g: ((lambda x: aten.slice_copy.Tensor(x, 1, 1, 3)),
                                                          (rand((3, 5), dt, g),)))
SAMPLES["aten.view_copy.default"] = custom(lambda dt, g: ((lambda x: aten.view_copy.default(x, [15])),
                                                          (rand((3, 5), dt, g),)))
SAMPLES["aten.lift_fresh_copy.default"] = custom(lambda dt, g: ((lambda x: aten.lift_fresh_copy.default(x)),
                                                                (rand((3, 5), dt, g),)))
SAMPLES["aten.avg_pool1d.default"] = custom(lambda dt, g: ((lambda x: aten.avg_pool1d.default(x, [2])),
                                                           (rand((2, 3, 7), dt, g),)), expect_op="aten.avg_pool2d.default")
SAMPLES["aten.adaptive_avg_pool1d.default"] = custom(
    lambda dt, g: ((lambda x: aten.adaptive_avg_pool1d.default(x, [1])), (rand((2, 3, 7), dt, g),)),
    expect_op="aten.mean.dim")

# scatters, padding, resampling, group norm
SAMPLES["aten.scatter.src"] = custom(
    lambda dt, g: ((lambda x, i, s: aten.scatter.src(x, 1, i, s)),
                   (rand((3, 5), dt, g), torch.tensor([[4, 0], [1, 1], [2, 3]]), rand((3, 4), dt, g))),
    lambda dt, g: ((lambda x, i, s: aten.scatter.src(x, 0, i, s)),
                   (rand((4, 3), dt, g), torch.tensor([[3, 0, 1]]), rand((2, 3), dt, g))), dtypes=FLOATS + INTS)
SAMPLES["aten.scatter.value"] = custom(
    lambda dt, g: ((lambda x, i: aten.scatter.value(x, 1, i, 2.5)),
                   (rand((3, 5), dt, g), torch.tensor([[4, 0], [1, 2], [2, 3]]))))
SAMPLES["aten.scatter_add.default"] = custom(
    lambda dt, g: ((lambda x, i, s: aten.scatter_add.default(x, 1, i, s)),
                   (rand((3, 5), dt, g), torch.tensor([[4, 4, 0], [1, 1, 1], [2, 3, 2]]), rand((3, 3), dt, g))),
    dtypes=(torch.float32, torch.int64))
SAMPLES["aten.scatter_reduce.two"] = custom(*[
    (lambda dt, g, r=r, inc=inc: ((lambda x, i, s: aten.scatter_reduce.two(x, 0, i, s, r, include_self=inc)),
                                  (rand((4, 3), dt, g), torch.tensor([[3, 0, 3], [3, 1, 0]]), rand((2, 3), dt, g))))
    for r in ("sum", "prod", "mean", "amax", "amin") for inc in (True, False)])
SAMPLES["aten.index_put.default"] = custom(
    lambda dt, g: ((lambda x, i, v: aten.index_put.default(x, [i], v)),
                   (rand((5, 3), dt, g), torch.tensor([4, 0, -2]), rand((3, 3), dt, g))),
    lambda dt, g: ((lambda x, i, v: aten.index_put.default(x, [None, None, i], v)),
                   (rand((1, 2, 6, 4), dt, g), torch.tensor([5]), rand((1, 2, 1, 4), dt, g))),
    lambda dt, g: ((lambda x, i, j, v: aten.index_put.default(x, [i, j], v, True)),
                   (rand((4, 5), dt, g), torch.tensor([0, 3, 0]), torch.tensor([1, 1, 1]), rand((), dt, g))),
    # KV-cache form cache[layer, :, pos] = kv: non-adjacent indices (values lead with n), and
    # n = 1 with the unit dim already dropped from the values.
    lambda dt, g: ((lambda x, i, j, v: aten.index_put.default(x, [i, None, j], v)),
                   (rand((3, 4, 6, 2), dt, g), torch.tensor([2, 0]), torch.tensor([5, -1]), rand((2, 4, 2), dt, g))),
    lambda dt, g: ((lambda x, i, j, v: aten.index_put.default(x, [i, None, j], v)),
                   (rand((3, 4, 6, 2), dt, g), torch.tensor([1]), torch.tensor([3]), rand((4, 2), dt, g))),
    dtypes=FLOATS + INTS)
SAMPLES["aten.select_scatter.default"] = custom(
    lambda dt, g: ((lambda x, s: aten.select_scatter.default(x, s, 1, -1)), (rand((3, 5), dt, g), rand((3,), dt, g))))
SAMPLES["aten.slice_scatter.default"] = custom(
    lambda dt, g: ((lambda x, s: aten.slice_scatter.default(x, s, 1, 1, 5, 2)), (rand((3, 5), dt, g),
                                                                              rand((3, 2), dt, g))))
SAMPLES["aten.reflection_pad1d.default"] = custom(
    lambda dt, g: ((lambda x: aten.reflection_pad1d.default(x, [2, 3])), (rand((2, 5), dt, g),)))
SAMPLES["aten.reflection_pad2d.default"] = custom(
    lambda dt, g: ((lambda x: aten.reflection_pad2d.default(x, [1, 2, 2, 0])), (rand((1, 2, 4, 5), dt, g),)))
SAMPLES["aten.replication_pad2d.default"] = custom(
    lambda dt, g: ((lambda x: aten.replication_pad2d.default(x, [1, 2, 3, 0])), (rand((1, 2, 1, 5), dt, g),)))
SAMPLES["aten.upsample_nearest2d.vec"] = custom(
    lambda dt, g: ((lambda x: aten.upsample_nearest2d.vec(x, None, [2.0, 3.0])), (rand((1, 2, 3, 5), dt, g),)),
    lambda dt, g: ((lambda x: aten.upsample_nearest2d.vec(x, [5, 7], None)), (rand((2, 1, 3, 4), dt, g),)),
    dtypes=FLOATS, expect_op="aten.upsample_nearest2d.default")
SAMPLES["aten.upsample_nearest2d.default"] = custom(
    lambda dt, g: ((lambda x: aten.upsample_nearest2d.default(x, [6, 4])), (rand((1, 2, 3, 5), dt, g),)))
SAMPLES["aten.replication_pad1d.default"] = custom(
    lambda dt, g: ((lambda x: aten.replication_pad1d.default(x, [3, 1])), (rand((2, 5), dt, g),)))
SAMPLES["aten.native_group_norm.default"] = custom(
    lambda dt, g: ((lambda x, w, b: aten.native_group_norm.default(x, w, b, 2, 6, 12, 3, 1e-5)),
                   (rand((2, 6, 3, 4), dt, g), rand((6,), dt, g), rand((6,), dt, g))),
    lambda dt, g: ((lambda x: aten.native_group_norm.default(x, None, None, 1, 4, 5, 1, 1e-5)),
                   (rand((1, 4, 5), dt, g),)), dtypes=FLOATS)

# sorting and bilinear resampling
SAMPLES["aten.sort.default"] = custom(
    lambda dt, g: ((lambda x: aten.sort.default(x, -1)), (rand((3, 5), dt, g),)),
    lambda dt, g: ((lambda x: aten.sort.default(x, 0, True)), (rand((4, 1, 3), dt, g),)),
    lambda dt, g: ((lambda x: aten.sort.default(x)), (torch.tensor([2.0, float("nan"), -1.0, 2.0, 0.5]),)),
    lambda dt, g: ((lambda x: aten.sort.default(x, 1, True)), (torch.tensor([[3, 1, 3, 0, 1]]),)),
    dtypes=(torch.float32, torch.int64, torch.float16))
SAMPLES["aten.sort.stable"] = custom(
    lambda dt, g: ((lambda x: aten.sort.stable(x, stable=True, dim=0)), (torch.tensor([[1, 2], [0, 2], [1, 0]]),)),
    dtypes=(torch.int64,))
SAMPLES["aten.topk.default"] = custom(
    lambda dt, g: ((lambda x: aten.topk.default(x, 2)), (torch.randperm(15, generator=g).view(3, 5).to(dt),)),
    lambda dt, g: ((lambda x: aten.topk.default(x, 3, 0, False)), (torch.randperm(8, generator=g).view(4, 2).to(dt),)),
    dtypes=(torch.float32, torch.int64))
SAMPLES["aten.upsample_bilinear2d.vec"] = custom(
    lambda dt, g: ((lambda x: aten.upsample_bilinear2d.vec(x, None, False, [2.0, 1.5])), (rand((1, 2, 3, 5), dt, g),)),
    dtypes=FLOATS, expect_op="aten.upsample_bilinear2d.default")
SAMPLES["aten.upsample_bilinear2d.default"] = custom(
    lambda dt, g: ((lambda x: aten.upsample_bilinear2d.default(x, [7, 4], False)), (rand((2, 1, 3, 5), dt, g),)),
    lambda dt, g: ((lambda x: aten.upsample_bilinear2d.default(x, [6, 9], True)), (rand((1, 2, 3, 5), dt, g),)),
    lambda dt, g: ((lambda x: aten.upsample_bilinear2d.default(x, [1, 1], True)), (rand((1, 1, 4, 4), dt, g),)),
    dtypes=FLOATS)

# 3-D pooling and padding, distances, embedding_bag, masked_scatter, col2im, grid_sampler
SAMPLES["aten.max_pool3d_with_indices.default"] = custom(
    lambda dt, g: ((lambda x: aten.max_pool3d_with_indices.default(x, [2, 2, 2])[0]), (rand((1, 2, 5, 4, 7), dt, g),)),
    lambda dt, g: ((lambda x: aten.max_pool3d_with_indices.default(x, [3, 1, 3], [2, 1, 2], [1, 0, 1])[0]),
                   (rand((2, 1, 5, 3, 6), dt, g),)),
    lambda dt, g: ((lambda x: aten.max_pool3d_with_indices.default(x, [1, 1, 1])[0]), (rand((1, 1, 1, 1, 1), dt, g),)),
    lambda dt, g: ((lambda x: aten.max_pool3d_with_indices.default(x, [2, 2, 2], [1, 1, 1], [0, 0, 0], [2, 1, 1],
                                                                    True)[0]), (rand((3, 4, 5, 4), dt, g),)),
    dtypes=FLOATS + (torch.int64,))
SAMPLES["aten.avg_pool3d.default"] = custom(
    lambda dt, g: ((lambda x: aten.avg_pool3d.default(x, [2, 2, 2])), (rand((1, 2, 5, 4, 7), dt, g),)),
    lambda dt, g: ((lambda x: aten.avg_pool3d.default(x, [3, 3, 1], [2, 2, 1], [1, 1, 0])),
                   (rand((2, 3, 5, 6, 1), dt, g),)),
    lambda dt, g: ((lambda x: aten.avg_pool3d.default(x, [1, 2, 2], divisor_override=3)), (rand((2, 1, 4, 5), dt, g),)),
    dtypes=(torch.float32, torch.float64))  # eager has no f16/bf16 avg_pool3d on CPU
SAMPLES["aten._adaptive_avg_pool3d.default"] = custom(
    lambda dt, g: ((lambda x: aten._adaptive_avg_pool3d.default(x, [1, 1, 1])), (rand((2, 3, 5, 4, 7), dt, g),)),
    lambda dt, g: ((lambda x: aten._adaptive_avg_pool3d.default(x, [2, 3, 4])), (rand((1, 2, 5, 7, 4), dt, g),)),
    lambda dt, g: ((lambda x: aten._adaptive_avg_pool3d.default(x, [3, 1, 2])), (rand((2, 1, 1, 3), dt, g),)),
    dtypes=FLOATS)
SAMPLES["aten.reflection_pad3d.default"] = custom(
    lambda dt, g: ((lambda x: aten.reflection_pad3d.default(x, [1, 2, 0, 1, 2, 1])), (rand((1, 2, 3, 4, 5), dt, g),)),
    lambda dt, g: ((lambda x: aten.reflection_pad3d.default(x, [0, 0, 1, 1, 1, 0])), (rand((2, 3, 2, 7), dt, g),)),
    dtypes=FLOATS + INTS)
SAMPLES["aten.replication_pad3d.default"] = custom(
    lambda dt, g: ((lambda x: aten.replication_pad3d.default(x, [1, 2, 0, 1, 3, 1])), (rand((1, 2, 3, 4, 5), dt, g),)),
    lambda dt, g: ((lambda x: aten.replication_pad3d.default(x, [2, 2, 1, 1, 1, 1])), (rand((1, 1, 1, 1), dt, g),)),
    dtypes=FLOATS + INTS)
SAMPLES["aten._cdist_forward.default"] = custom(
    lambda dt, g: ((lambda a, b: aten._cdist_forward.default(a, b, 2.0, None)), (rand((5, 3), dt, g), rand((4, 3), dt, g))),
    lambda dt, g: ((lambda a, b: aten._cdist_forward.default(a, b, 1.0, None)),
                   (rand((2, 3, 7), dt, g), rand((2, 1, 7), dt, g))),
    lambda dt, g: ((lambda a, b: aten._cdist_forward.default(a, b, float("inf"), None)),
                   (rand((1, 1), dt, g), rand((3, 1), dt, g))),
    lambda dt, g: ((lambda a, b: aten._cdist_forward.default(a, b, 3.0, None)), (rand((3, 5), dt, g), rand((3, 5), dt, g))),
    lambda dt, g: ((lambda a, b: aten._cdist_forward.default(a, b, 0.0, None)),
                   (rand((3, 4), dt, g, -2, 2).round(), rand((2, 4), dt, g, -2, 2).round())),
    dtypes=(torch.float32, torch.float64))
SAMPLES["aten._pdist_forward.default"] = custom(
    lambda dt, g: ((lambda x: aten._pdist_forward.default(x, 2.0)), (rand((5, 3), dt, g),)),
    lambda dt, g: ((lambda x: aten._pdist_forward.default(x, 1.0)), (rand((4, 1), dt, g),)),
    lambda dt, g: ((lambda x: aten._pdist_forward.default(x, float("inf"))), (rand((7, 2), dt, g),)),
    lambda dt, g: ((lambda x: aten._pdist_forward.default(x, 1.5)), (rand((2, 5), dt, g),)),
    dtypes=(torch.float32, torch.float64))
SAMPLES["aten._embedding_bag.default"] = custom(
    lambda dt, g: ((lambda w, i, o: aten._embedding_bag.default(w, i, o, False, 0)[0]),
                   (rand((10, 3), dt, g), torch.tensor([1, 2, 4, 5, 4, 3, 2, 9]), torch.tensor([0, 4, 4, 7]))),
    lambda dt, g: ((lambda w, i, o: aten._embedding_bag.default(w, i, o, False, 1)[0]),
                   (rand((10, 5), dt, g), torch.tensor([1, 2, 4, 5, 4, 3, 2]), torch.tensor([0, 3, 3]))),
    lambda dt, g: ((lambda w, i, o: aten._embedding_bag.default(w, i, o, False, 2)[0]),
                   (rand((6, 4), dt, g), torch.tensor([0, 5, 5, 1, 2]), torch.tensor([0, 2, 2]))),
    lambda dt, g: ((lambda w, i, o, p: aten._embedding_bag.default(w, i, o, False, 0, False, p, True)[0]),
                   (rand((1, 1), dt, g), torch.tensor([0, 0, 0]), torch.tensor([0, 1, 3]), rand((3,), dt, g))),
    lambda dt, g: ((lambda w, i, o: aten._embedding_bag.default(w, i, o, False, 1, False, None, False, 2)[0]),
                   (rand((5, 3), dt, g), torch.tensor([2, 1, 2, 2, 4]), torch.tensor([0, 2, 3]))),
    dtypes=FLOATS)
SAMPLES["aten.masked_scatter.default"] = custom(
    lambda dt, g: (aten.masked_scatter.default, (rand((3, 5), dt, g), rand((3, 5), torch.bool, g), rand((4, 5), dt, g))),
    lambda dt, g: (aten.masked_scatter.default, (rand((2, 1, 7), dt, g), rand((7,), torch.bool, g), rand((15,), dt, g))),
    lambda dt, g: (aten.masked_scatter.default, (rand((1, 1), dt, g), torch.ones(1, 1, dtype=torch.bool),
                                                 rand((1,), dt, g))),
    dtypes=FLOATS + INTS)
SAMPLES["aten.col2im.default"] = custom(
    lambda dt, g: ((lambda x: aten.col2im.default(x, [4, 5], [2, 2], [1, 1], [0, 0], [1, 1])),
                   (rand((1, 3 * 4, 12), dt, g),)),
    lambda dt, g: ((lambda x: aten.col2im.default(x, [5, 7], [3, 2], [1, 2], [1, 0], [2, 1])),
                   (rand((2, 2 * 6, 15), dt, g),)),
    lambda dt, g: ((lambda x: aten.col2im.default(x, [1, 1], [1, 1], [1, 1], [0, 0], [1, 1])), (rand((1, 1), dt, g),)),
    dtypes=FLOATS)
SAMPLES["aten.grid_sampler_2d.default"] = custom(*[
    (lambda dt, g, m=m, p=p, al=al, n=n: ((lambda x, gr: aten.grid_sampler_2d.default(x, gr, m, p, al)),
                                          (rand((n, 2, 4, 5), dt, g), rand((n, 3, 7, 2), dt, g, -1.2, 1.2))))
    for m, p, al, n in [(0, 0, False, 2), (0, 1, True, 1), (1, 0, True, 2), (1, 1, False, 1), (0, 0, True, 1)]]
    + [lambda dt, g: ((lambda x, gr: aten.grid_sampler_2d.default(x, gr, 0, 0, False)),
                      (rand((1, 1, 1, 1), dt, g), rand((1, 1, 1, 2), dt, g, -1, 1)))],
    dtypes=(torch.float32, torch.float16))  # eager bf16 computes sample coordinates in bf16; Buddy in f32

SAMPLES["aten.as_strided.default"] = custom(
    lambda dt, g: ((lambda x: aten.as_strided.default(x, [3, 3], [1, 4], 1) * 1), (rand((3, 5), dt, g),)),
    lambda dt, g: ((lambda x: aten.as_strided.default(x, [2, 2, 3], [0, 7, 2], 0) * 1), (rand((2, 1, 7), dt, g),)),
    lambda dt, g: ((lambda x: aten.as_strided.default(x, [1], [1]) * 1), (rand((1, 1), dt, g),)),
    dtypes=FLOATS + INTS)

SAMPLES["aten._embedding_bag_forward_only.default"] = custom(
    lambda dt, g: ((lambda w, i, o: aten._embedding_bag_forward_only.default(w, i, o, False, 1)[0]),
                   (rand((9, 3), dt, g), torch.tensor([8, 2, 4, 5, 0]), torch.tensor([0, 1, 1, 4]))))
SAMPLES["aten.as_strided_copy.default"] = custom(
    lambda dt, g: ((lambda x: aten.as_strided_copy.default(x, [2, 3], [3, 1], 2)), (rand((3, 5), dt, g),)))

SAMPLES["aten._native_batch_norm_legit.no_stats"] = custom(
    lambda dt, g: ((lambda x, w, b: aten._native_batch_norm_legit.no_stats(x, w, b, True, 0.1, 1e-5)),
                   (rand((2, 3, 4, 5), dt, g), rand((3,), dt, g), rand((3,), dt, g))),
    lambda dt, g: ((lambda x: aten._native_batch_norm_legit.no_stats(x, None, None, True, 0.1, 1e-5)),
                   (rand((3, 2, 7), dt, g),)),
    lambda dt, g: ((lambda x, w: aten._native_batch_norm_legit.no_stats(x, w, None, True, 0.1, 1e-3)),
                   (rand((1, 1, 1), dt, g), rand((1,), dt, g))),
    dtypes=FLOATS)

# ------------------------------------------------------------------ running a case
TOL = {torch.float32: (1e-5, 1e-4), torch.float16: (1e-2, 1e-2), torch.bfloat16: (2e-2, 2e-2),
       torch.float64: (1e-7, 1e-7)}


def cases(op: str) -> List[Tuple[torch.dtype, int]]:
    """(dtype, case index) pairs for `op`: every case in the first dtype, case 0 in the others."""
    s = SAMPLES[op]
    return [(s.dtypes[0], k) for k in range(len(s.cases))] + [(dt, 0) for dt in s.dtypes[1:]]


def run_case(op: str, dialect: str, dtype: torch.dtype, k: int) -> None:
    """Trace, lower, JIT and compare one sample case with eager; raises on any mismatch."""
    from torch.fx.experimental.proxy_tensor import make_fx
    import buddy.frontend as bf

    s = SAMPLES[op]
    gen = torch.Generator().manual_seed(1000 + k)
    fn, args = s.cases[k](dtype, gen)
    gm = make_fx(fn)(*args)
    assert (s.expect_op or op) in {str(n.target) for n in gm.graph.nodes if n.op == "call_function"}, \
        f"sample for {op} does not trace to it: {[str(n.target) for n in gm.graph.nodes]}"
    imported = bf.import_fx(gm, args, dialect=dialect)
    before = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
    got = imported.run(*args)
    for a, b in zip(args, before):  # compiled code must not write into its inputs
        if isinstance(a, torch.Tensor):
            assert torch.equal(a, b) or (a.is_floating_point() and torch.equal(a.isnan(), b.isnan())), \
                "compiled code wrote into an input"
    want = fn(*args)
    want = list(want) if isinstance(want, (tuple, list)) else [want]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape, (g.shape, w.shape)
        assert g.dtype == w.dtype, (g.dtype, w.dtype)
        if s.check_values:
            atol, rtol = TOL.get(w.dtype, (0, 0))
            torch.testing.assert_close(g, w, atol=s.atol or atol, rtol=rtol, equal_nan=True)
