"""Core ATen -> TOSA op table, one module per op family.

`TOSA_OPS` maps an ATen overload to an emitter producing TOSA ops (plus `tensor.empty`-free
TOSA constants). Ops with no TOSA counterpart are absent: importing a model that uses one
with dialect="tosa" raises UnsupportedOpError suggesting dialect="linalg". bool tensors are
i8 (0/1) at the function boundary, as in the linalg path; TOSA's i1 results are cast to i8.
Shared TOSA builders live in `tosa/builders.py`.
"""

from __future__ import annotations

from ..registry import OpTable
from . import (conv_pool, creation, data_movement, elementwise, indexing, linear_algebra, normalization,
               reductions)

FAMILIES = (elementwise, creation, data_movement, indexing, reductions, linear_algebra, conv_pool,
            normalization)

TOSA_OPS: OpTable = OpTable.merge("tosa", *(m.OPS for m in FAMILIES))

__all__ = ["TOSA_OPS", "FAMILIES"]
