"""Python face of Buddy's C++ runtime (the ``buddy._runtime`` extension)."""

from buddy import _runtime

__all__ = ["_runtime"]
