"""Where the package keeps the C++ sources of the Gemmini simulator that riscv64-gemmini
executables link (docs/gemmini.md, "Running the riscv64 binary"): RoccTrap, the SIGILL
handler that executes the RoCC words, and the functional model it runs them on.

They ship as package data in ``buddy/_gemmini_sim/`` with the layout of
``runtime/gemmini/`` (cmake/BuddyPython.cmake: the build stage links that folder there,
``pip install`` copies its headers and sources) and are compiled for the target on first
use by ``buddy.backend.gemmini_sim``, not by CMake: the host build needs no cross compiler.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from buddy.toolchain import ToolNotFound

__all__ = ["PACKAGE_DIR", "SimSources", "sim_sources"]

PACKAGE_DIR = "_gemmini_sim"  # inside the buddy package
_SOURCES = ("sim/RoccTrap.cpp", "lib/Model.cpp")
_HEADERS = ("sim/RoccTrap.h", "include/buddy/gemmini/Model.h", "include/buddy/gemmini/Isa.h")
_INCLUDE_DIRS = ("include", "sim")


@dataclass(frozen=True)
class SimSources:
    """The simulator's files under ``root``."""

    root: Path

    def sources(self) -> list[Path]:
        """The translation units, one object each."""
        return [self.root / f for f in _SOURCES]

    def include_dirs(self) -> list[Path]:
        return [self.root / d for d in _INCLUDE_DIRS]

    def digest(self) -> str:
        """SHA-256 over every file's name and bytes: a change in any of them is a new build."""
        h = hashlib.sha256()
        for name in (*_SOURCES, *_HEADERS):
            h.update(name.encode() + b"\0" + (self.root / name).read_bytes())
        return h.hexdigest()


def sim_sources() -> SimSources:
    """The sources in this package; ToolNotFound (naming what is missing) if it has none."""
    root = Path(__file__).parent.parent / PACKAGE_DIR  # not resolved: the build stage links
    missing = [f for f in (*_SOURCES, *_HEADERS) if not (root / f).is_file()]
    if missing:
        raise ToolNotFound(f"the Gemmini simulator sources are not in the package ({root}: "
                           f"missing {', '.join(missing)}); reinstall with `pip install .` "
                           "from the source tree")
    return SimSources(root)
