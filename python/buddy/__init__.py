"""Buddy: an MLIR compiler from PyTorch models to native CPU code.

Pipeline: ``buddy.frontend`` (TorchDynamo -> MLIR + weights), ``buddy-opt``
(midend passes), ``buddy.backend`` (per-target codegen), ``buddy.runtime``
(C++ runtime bindings).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
