"""Buddy: an MLIR compiler from PyTorch models to native CPU code.

Pipeline: ``buddy.frontend`` (TorchDynamo -> MLIR + weights), ``buddy-opt``
(midend passes), ``buddy.backend`` (per-target codegen), ``buddy.runtime``
(C++ runtime bindings).
"""

__version__ = "0.1.0"

__all__ = ["__version__", "compile", "load"]


def __getattr__(name: str):
    # `buddy.compile` / `buddy.load` live in the backend; importing it lazily
    # keeps `import buddy` (and the CLI) fast.
    if name in ("compile", "load"):
        from buddy.backend import compiler

        return getattr(compiler, name)
    raise AttributeError(f"module 'buddy' has no attribute {name!r}")
