"""The compiled-model ABI seen from Python: argument specs, dtypes and aligned buffers.

Calls through ``void _buddy_<f>(void **args)`` (docs/interfaces.md) go through the C++
runtime, ``buddy._runtime.Library(path).function(...)`` (runtime/README.md), which builds
the memref descriptors; this module has no descriptor code of its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from buddy.runtime.dtypes import DTYPES

# Views of the one dtype table (buddy.runtime.dtypes), restricted to the dtypes the
# runtime can call compiled code with.
# Buddy dtype name -> NumPy dtype (bf16 travels as its raw uint16 bits; bool is one byte).
NUMPY_DTYPES: dict[str, np.dtype] = {n: r.numpy for n, r in DTYPES.items() if r.callable}
# MLIR element type -> Buddy dtype name.
MLIR_ELEMENT_TYPES: dict[str, str] = {r.mlir: n for n, r in DTYPES.items() if r.callable}

ALIGNMENT = 64


@dataclass(frozen=True)
class ArgSpec:
    """One argument of the lowered function: role is param, input or output."""

    role: str
    name: str
    dtype: str
    shape: tuple[int, ...]

    def as_dict(self) -> dict[str, object]:
        return {"role": self.role, "name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @staticmethod
    def from_dict(d: dict) -> "ArgSpec":
        return ArgSpec(d["role"], d["name"], d["dtype"], tuple(int(x) for x in d["shape"]))


def aligned_empty(shape: Sequence[int], dtype: np.dtype) -> np.ndarray:
    """A C-contiguous array whose data starts on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, dtype=np.uint8)
    start = (-raw.ctypes.data) % ALIGNMENT
    return raw[start:start + nbytes].view(dtype).reshape(tuple(shape))


def as_array(value: Any) -> np.ndarray:
    """``value`` as a NumPy array without copying where possible (torch tensors are
    detached and moved to the CPU; bf16 tensors become their uint16 bits)."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach"):  # torch.Tensor
        t = value.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        if str(t.dtype) == "torch.bfloat16":
            import torch

            t = t.view(torch.uint16)
        return t.numpy()
    return np.asarray(value)
