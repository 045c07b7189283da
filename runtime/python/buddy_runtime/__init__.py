"""Python face of Buddy's C++ runtime (the ``buddy._runtime`` extension).

The logic lives in C++ (runtime/include/buddy); this package only adapts
torch tensors (bfloat16 included) to the NumPy arrays the bindings take.
"""

from buddy import _runtime
from buddy._runtime import (BoundCall, Function, Library, LibraryError, TensorSpec, WeightFile,
                            WeightFileError, WeightFileWriter, aligned_empty)

from .tensors import call, to_numpy, to_torch
from .weights import load_weights, open_weight_file, save_weights

__all__ = [
    "_runtime", "BoundCall", "Function", "Library", "LibraryError", "TensorSpec", "WeightFile",
    "WeightFileError", "WeightFileWriter", "aligned_empty", "call", "to_numpy", "to_torch",
    "load_weights", "open_weight_file", "save_weights",
]
