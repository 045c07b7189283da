"""The compiled-model ABI seen from Python: memref descriptors over NumPy arrays
and the call through ``void _buddy_<f>(void **args)`` (docs/interfaces.md)."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Sequence

import numpy as np

# dtype names of docs/interfaces.md -> NumPy dtypes (bool is one byte in memory).
NUMPY_DTYPES: dict[str, np.dtype] = {
    "f32": np.dtype(np.float32),
    "f16": np.dtype(np.float16),
    "f64": np.dtype(np.float64),
    "i8": np.dtype(np.int8),
    "i16": np.dtype(np.int16),
    "i32": np.dtype(np.int32),
    "i64": np.dtype(np.int64),
    "bool": np.dtype(np.bool_),
}
# bf16 has no NumPy dtype: it travels as its raw 16 bits.
NUMPY_DTYPES["bf16"] = np.dtype(np.uint16)

MLIR_ELEMENT_TYPES: dict[str, str] = {
    "f32": "f32", "f16": "f16", "bf16": "bf16", "f64": "f64", "i8": "i8",
    "i16": "i16", "i32": "i32", "i64": "i64", "i1": "bool",
}

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


def descriptor_type(rank: int) -> type[ctypes.Structure]:
    """ctypes twin of StridedMemRefType<T, rank>."""
    fields = [
        ("allocated", ctypes.c_void_p),
        ("aligned", ctypes.c_void_p),
        ("offset", ctypes.c_int64),
    ]
    if rank:
        fields += [("sizes", ctypes.c_int64 * rank), ("strides", ctypes.c_int64 * rank)]
    return type(f"MemRef{rank}D", (ctypes.Structure,), {"_fields_": fields})


def aligned_empty(shape: Sequence[int], dtype: np.dtype) -> np.ndarray:
    """A C-contiguous array whose data starts on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, dtype=np.uint8)
    start = (-raw.ctypes.data) % ALIGNMENT
    return raw[start:start + nbytes].view(dtype).reshape(tuple(shape))


def make_descriptor(array: np.ndarray) -> ctypes.Structure:
    """Descriptor over ``array`` (which must stay alive while it is used)."""
    rank = array.ndim
    desc = descriptor_type(rank)()
    desc.allocated = desc.aligned = array.ctypes.data
    desc.offset = 0
    if rank:
        item = array.itemsize
        for i in range(rank):
            desc.sizes[i] = array.shape[i]
            desc.strides[i] = array.strides[i] // item
    return desc


def check_array(spec: ArgSpec, value: object) -> np.ndarray:
    """``value`` as a C-contiguous array of the spec's dtype/shape, or a clear error."""
    arr = np.asarray(value)
    want = NUMPY_DTYPES[spec.dtype]
    if arr.dtype != want:
        raise TypeError(f"{spec.role} {spec.name!r}: expected dtype {spec.dtype} "
                        f"({want}), got {arr.dtype}")
    if tuple(arr.shape) != spec.shape:
        raise ValueError(f"{spec.role} {spec.name!r}: expected shape {list(spec.shape)}, "
                         f"got {list(arr.shape)}")
    return np.ascontiguousarray(arr)


def call_packed(fn: ctypes._CFuncPtr, arrays: Sequence[np.ndarray]) -> None:
    """Call ``_buddy_<f>(void **args)`` with one descriptor per array."""
    descs = [make_descriptor(a) for a in arrays]
    argv = (ctypes.c_void_p * len(descs))(*[ctypes.addressof(d) for d in descs])
    fn(argv)
