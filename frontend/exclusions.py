"""Core ATen overloads Buddy does not lower, each with the reason.

`EXCLUDED`: not inference tensor ops (backward / training-only ops, random ops, scalar shape
queries and `.item()`, an out= variant) or ops without static output shapes (nonzero); the
coverage in docs/ops.md is counted over the Core overloads that are *not* excluded (the
inference overloads). `NOT_YET`: inference ops not lowered yet.
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
    "aten.native_dropout.default": _RANDOM + "; eval() models do not emit dropout",
    "aten.rand.default": _RANDOM,
    "aten.randn.default": _RANDOM,
    "aten.randperm.default": _RANDOM,
    "aten.nonzero.default": "data-dependent output shape; Buddy compiles static shapes only",
    "aten._local_scalar_dense.default": "reads a tensor value into a Python scalar (`.item()`): not a tensor "
                                        "op; data-dependent control flow, a graph break in Dynamo",
    "aten.sym_is_contiguous.default": _SYM,
    "aten.sym_numel.default": _SYM,
    "aten.sym_size.int": _SYM,
    "aten.sym_storage_offset.default": _SYM,
    "aten.sym_stride.int": _SYM,
    "aten.atan2.out": "out= variant (writes into a caller buffer): functionalized graphs contain "
                      "aten.atan2.default instead, which is lowered",
}

NOT_YET: Dict[str, str] = {
    "aten._fft_r2c.default": "FFT: its result is a complex tensor; Buddy has no complex dtypes",
    "aten._fft_c2r.default": "FFT: its input is a complex tensor; Buddy has no complex dtypes",
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
