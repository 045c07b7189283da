"""The errors of reading a GGUF file (one owner: gguf_header and gguf_loader raise these)."""
from __future__ import annotations

__all__ = ["GGUFError", "GGUFFormatError", "UnsupportedModelError"]


class GGUFError(ValueError):
    """Base class of the errors raised while loading a GGUF file."""


class GGUFFormatError(GGUFError):
    """The file is not a readable GGUF file (bad magic, truncated, corrupt)."""


class UnsupportedModelError(GGUFError):
    """The file is a valid GGUF but holds something this loader cannot use."""
