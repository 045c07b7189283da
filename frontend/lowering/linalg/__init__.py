"""Core ATen -> linalg (+ tensor, arith, math) op table, one module per op family.

`LINALG_OPS` maps an ATen overload name to its emitter `fn(cx, args) -> Value | [Value|None]`,
where `args` are the schema-named arguments (tensor operands are `Ref`s). Named linalg ops
are used where they exist (matmul, batch_matmul, conv_2d_nchw_fchw, pooling_nchw_max/sum,
fill, transpose, softmax); linalg.generic otherwise. Shared builders live in `lowering/common.py`.
"""

from __future__ import annotations

from ..registry import OpTable
from . import (conv_pool, creation, data_movement, elementwise, indexing, linear_algebra, normalization,
               quantized, reductions, resampling)

FAMILIES = (elementwise, creation, data_movement, indexing, reductions, linear_algebra, quantized, conv_pool,
            normalization, resampling)

LINALG_OPS: OpTable = OpTable.merge("linalg", *(m.OPS for m in FAMILIES))

__all__ = ["LINALG_OPS", "FAMILIES"]
