"""Conversions between torch tensors and the NumPy arrays of ``buddy._runtime``.

bfloat16 has no NumPy dtype: it crosses as uint16 arrays holding the raw bits,
tagged with the Buddy dtype name ``"bf16"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from buddy._runtime import Function


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def to_numpy(x: Any) -> tuple[np.ndarray, str | None]:
    """``(array, dtype)``: a zero-copy NumPy view of a CPU tensor or array-like,
    with ``dtype="bf16"`` for bfloat16 (the array then holds uint16 bits)."""
    if _is_torch(x):
        import torch

        t = x.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        if t.dtype == torch.bfloat16:
            return t.contiguous().view(torch.int16).numpy().view(np.uint16), "bf16"
        return t.numpy(), None
    return np.asarray(x), None


def to_torch(array: np.ndarray, dtype: str | None = None, copy: bool | None = None) -> Any:
    """A torch tensor over ``array``; ``dtype="bf16"`` reinterprets uint16 bits.

    Zero-copy for writable arrays. Read-only arrays (weight-file views of a
    read-only mapping) are copied unless ``copy=False``; then the tensor must
    never be written (that would fault).
    """
    import torch

    if copy is None:
        copy = not array.flags.writeable
    if copy:
        array = np.array(array, copy=True)
    if dtype == "bf16":
        return _from_numpy(array.view(np.int16)).view(torch.bfloat16)
    if dtype is not None and dtype != _buddy_dtype(array):
        raise TypeError(f"array of {array.dtype} cannot be a {dtype} tensor")
    return _from_numpy(array)


def _from_numpy(array: np.ndarray) -> Any:
    import warnings

    import torch

    with warnings.catch_warnings():  # read-only views are allowed when copy=False
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(array)


_NUMPY_TO_BUDDY = {"float32": "f32", "float16": "f16", "float64": "f64", "int8": "i8",
                   "int16": "i16", "int32": "i32", "int64": "i64", "bool": "bool"}


def _buddy_dtype(array: np.ndarray) -> str | None:
    return _NUMPY_TO_BUDDY.get(array.dtype.name)


def call(function: Function, *args: Any, as_torch: bool = False) -> list[Any]:
    """Call a compiled ``Function`` on tensors or arrays; outputs as NumPy arrays
    (or torch tensors sharing their memory with ``as_torch=True``)."""
    outs = function(*(to_numpy(a)[0] for a in args))
    if not as_torch:
        return outs
    return [to_torch(o, spec.dtype) for o, spec in zip(outs, function.outputs)]
