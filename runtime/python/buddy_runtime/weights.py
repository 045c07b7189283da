"""Save and load weight files (``*.bwt``) from Python dicts of tensors."""

from __future__ import annotations

import os
from typing import Any, Mapping

from buddy._runtime import WeightFile, WeightFileWriter

from .tensors import to_numpy, to_torch


def save_weights(path: str | os.PathLike[str], tensors: Mapping[str, Any]) -> None:
    """Write ``tensors`` (torch tensors incl. bfloat16, or NumPy arrays) in order,
    one at a time, straight from their memory."""
    with WeightFileWriter(os.fspath(path)) as writer:
        for name, value in tensors.items():
            array, dtype = to_numpy(value)
            writer.add(name, array, dtype)


def load_weights(path: str | os.PathLike[str], *, as_torch: bool = False,
                 verify_data: bool = False) -> dict[str, Any]:
    """Tensors of a weight file: read-only zero-copy NumPy views of the mapping
    (bf16 as uint16 bits), or torch tensors (copied; bf16 restored)."""
    wf = WeightFile(os.fspath(path), verify_data)
    if not as_torch:
        return {name: wf[name] for name in wf.names()}
    return {s.name: to_torch(wf[s.name], s.dtype) for s in wf.specs()}


def weight_dtypes(path: str | os.PathLike[str]) -> dict[str, str]:
    """Buddy dtype name of every tensor (tells bf16 apart from uint16 views)."""
    return {s.name: s.dtype for s in WeightFile(os.fspath(path)).specs()}


__all__ = ["save_weights", "load_weights", "weight_dtypes"]
