"""The one table of Buddy element types (``buddy.runtime.dtypes``).

Each row names a dtype as docs/interfaces.md does (``f32``, ``bf16``, ``bool`` ...) and
gives its NumPy dtype (bf16 travels as its uint16 raw bits; bool is one byte), the MLIR
element type, the C type of a driver buffer, the item size, the torch dtype (looked up
lazily: importing this module does not import torch) and whether the runtime can call
compiled code with it (``callable``; ``u8`` is known to the frontend but not to the ABI).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional

import numpy as np


@dataclass(frozen=True)
class DType:
    name: str           # Buddy's name (docs/interfaces.md, manifest signatures)
    numpy: np.dtype     # what the runtime hands out / accepts (bf16: uint16 bits)
    mlir: str           # MLIR element type
    ctype: str          # C type of a buffer element (cdriver)
    itemsize: int
    torch_name: str     # attribute of the torch module (torch.float32 ...)
    callable: bool = True  # the runtime (buddy._runtime, the ABI) passes it

    @property
    def torch(self) -> Any:
        """The torch dtype (imports torch on first use)."""
        import torch

        return getattr(torch, self.torch_name)


_ROWS = [
    DType("f32", np.dtype(np.float32), "f32", "float", 4, "float32"),
    DType("f16", np.dtype(np.float16), "f16", "uint16_t", 2, "float16"),
    DType("bf16", np.dtype(np.uint16), "bf16", "uint16_t", 2, "bfloat16"),
    DType("f64", np.dtype(np.float64), "f64", "double", 8, "float64"),
    DType("i8", np.dtype(np.int8), "i8", "int8_t", 1, "int8"),
    DType("i16", np.dtype(np.int16), "i16", "int16_t", 2, "int16"),
    DType("i32", np.dtype(np.int32), "i32", "int32_t", 4, "int32"),
    DType("i64", np.dtype(np.int64), "i64", "int64_t", 8, "int64"),
    DType("bool", np.dtype(np.bool_), "i1", "bool", 1, "bool"),
    DType("u8", np.dtype(np.uint8), "ui8", "uint8_t", 1, "uint8", callable=False),
]

DTYPES: Dict[str, DType] = {r.name: r for r in _ROWS}
CALLABLE = tuple(r.name for r in _ROWS if r.callable)


def get(name: str) -> DType:
    """The row of ``name``, or ValueError listing the known names."""
    try:
        return DTYPES[name]
    except KeyError:
        raise ValueError(f"unknown Buddy dtype {name!r} (known: {', '.join(DTYPES)})") from None


def check_callable(name: str, what: str = "argument") -> DType:
    """The row of ``name`` if compiled code can be called with it, else a clear error."""
    row = get(name)
    if not row.callable:
        raise TypeError(f"{what}: dtype {name} is not supported by the Buddy runtime/ABI "
                        f"(callable dtypes: {', '.join(CALLABLE)})")
    return row


def numpy_dtype(name: str) -> np.dtype:
    return get(name).numpy


def from_mlir(elem: str) -> Optional[str]:
    """Buddy name of an MLIR element type (``i1`` -> ``bool``), or None."""
    return _BY_MLIR.get(elem)


def from_torch(dtype: Any) -> str:
    """Buddy name of a torch dtype, or TypeError."""
    name = str(dtype)
    name = name[len("torch."):] if name.startswith("torch.") else name
    row = _BY_TORCH.get(name)
    if row is None:
        raise TypeError(f"Buddy does not support tensors of dtype {dtype}")
    return row.name


def to_numpy(t: Any) -> np.ndarray:
    """A torch tensor as the NumPy array the runtime takes (bf16 as uint16 bits; contiguous)."""
    import torch

    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    t = t.contiguous()
    return t.view(torch.uint16).numpy() if t.dtype == torch.bfloat16 else t.numpy()


def to_torch(a: np.ndarray, name: str) -> Any:
    """A runtime array as a torch tensor of Buddy dtype ``name`` (no copy)."""
    import torch

    t = torch.from_numpy(a)
    want = get(name).torch
    return t.view(want) if t.dtype != want else t


_BY_MLIR = {r.mlir: r.name for r in _ROWS}
_BY_TORCH = {r.torch_name: r for r in _ROWS}
