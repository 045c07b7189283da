"""Core ATen overloads Buddy does not lower, each with the reason.

`EXCLUDED`: out of scope by design (training-only, random, data-dependent output shapes,
scalar shape queries that capture specializes away). `NOT_YET`: in scope but not lowered yet.
Both feed docs/ops.md (scripts/gen_ops_md.py); the op tests check that every Core ATen op is
either in an op table or listed here.
"""

from typing import Dict

_BACKWARD = "backward op: Buddy compiles inference graphs only (aot_autograd runs without a joint graph)"
_RANDOM = "random op: results cannot match eager bit for bit; inference graphs do not use it"
_SYM = "scalar shape query: static capture specializes it to a constant before lowering"

EXCLUDED: Dict[str, str] = {
    "aten._adaptive_avg_pool2d_backward.default": _BACKWARD,
    "aten.avg_pool2d_backward.default": _BACKWARD,
    "aten.convolution_backward.default": _BACKWARD,
    "aten.embedding_dense_backward.default": _BACKWARD,
    "aten.max_pool2d_with_indices_backward.default": _BACKWARD,
    "aten.native_group_norm_backward.default": _BACKWARD,
    "aten.native_layer_norm_backward.default": _BACKWARD,
    "aten._native_batch_norm_legit.default": "training-mode batch norm (updates running stats); eval() models use "
                                             "_native_batch_norm_legit_no_training",
    "aten._native_batch_norm_legit.no_stats": "training-mode batch norm without running stats",
    "aten.native_dropout.default": _RANDOM + "; eval() models do not emit dropout",
    "aten.rand.default": _RANDOM,
    "aten.randn.default": _RANDOM,
    "aten.randperm.default": _RANDOM,
    "aten.nonzero.default": "data-dependent output shape; Buddy compiles static shapes only",
    "aten._local_scalar_dense.default": "reads a tensor value into Python (`.item()`): data-dependent control, "
                                        "a graph break in Dynamo",
    "aten.sym_numel.default": _SYM,
    "aten.sym_size.int": _SYM,
    "aten.sym_storage_offset.default": _SYM,
    "aten.sym_stride.int": _SYM,
    "aten.as_strided.default": "arbitrary stride aliasing has no value semantics on tensors; functionalization "
                               "removes it from captured graphs",
    "aten.atan2.out": "out= variant; functional graphs use aten.atan2.default",
}

NOT_YET: Dict[str, str] = {
    "aten._fft_r2c.default": "FFT: no linalg/tosa lowering yet",
    "aten._fft_c2r.default": "FFT with complex tensors: complex dtypes unsupported",
    "aten._cdist_forward.default": "not lowered yet",
    "aten._pdist_forward.default": "not lowered yet",
    "aten._embedding_bag.default": "not lowered yet",
    "aten.grid_sampler_2d.default": "not lowered yet",
    "aten.col2im.default": "not lowered yet",
    "aten.masked_scatter.default": "data-dependent source positions; not lowered yet",
    "aten.avg_pool3d.default": "3-D pooling not lowered yet",
    "aten.max_pool3d_with_indices.default": "3-D pooling not lowered yet",
    "aten._adaptive_avg_pool3d.default": "3-D pooling not lowered yet",
    "aten.reflection_pad3d.default": "3-D padding not lowered yet",
    "aten.replication_pad3d.default": "3-D padding not lowered yet",
}


# Core ops that capture (aot_autograd with Core ATen decompositions) rewrites into other Core ops
# before lowering: they are supported through the ops they decompose into.
DECOMPOSED: Dict[str, str] = {
    "aten.avg_pool1d.default": "aten.avg_pool2d.default",
    "aten.adaptive_avg_pool1d.default": "aten.mean.dim",
    "aten.var.dim": "aten.var.correction",
    "aten.upsample_nearest2d.vec": "aten.upsample_nearest2d.default",
    "aten.upsample_bilinear2d.vec": "aten.upsample_bilinear2d.default",
}


def reason(op: str) -> str:
    return EXCLUDED.get(op) or NOT_YET.get(op) or ""
