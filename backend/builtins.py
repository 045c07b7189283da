"""Compiler-runtime routines that LLVM's code may call and the host C library lacks.

On an x86 CPU without AVX512-BF16, LLVM lowers an f32 -> bf16 conversion to a call of
``__truncsfbf2``, which compiler-rt provides but GCC 12's libgcc (Debian 12) does not: any bf16
model failed to load with "undefined symbol: __truncsfbf2". This C source defines it (round to
nearest even, NaN kept quiet, as the hardware instruction does), weak and hidden, so a
library that has a real one wins and the model's .so exports nothing new. Linked only when an
object references it (``needed``); ``link.link_shared`` / ``link_executable`` do that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .targets import Target

# The x86-64 psABI returns __bf16 in %xmm0 like _Float16, which GCC 12 has (it lacks
# arithmetic __bf16): the bits are built as an integer and returned through a _Float16.
SOURCE = r"""#include <stdint.h>
#include <string.h>

__attribute__((weak, visibility("hidden"))) _Float16 __truncsfbf2(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  uint16_t r;
  if ((u & 0x7fffffffu) > 0x7f800000u)
    r = (uint16_t)((u >> 16) | 0x0040u); /* NaN: keep sign and payload top, make it quiet */
  else
    r = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16); /* round to nearest even */
  _Float16 h;
  memcpy(&h, &r, sizeof h);
  return h;
}
"""

SYMBOLS = (b"__truncsfbf2",)


def needed(objs: Sequence[Path], target: Target) -> bool:
    """Whether an object calls a routine defined here (x86 targets only)."""
    if target.llvm_arch != "x86-64":
        return False
    return any(Path(o).suffix == ".o" and any(s in Path(o).read_bytes() for s in SYMBOLS) for o in objs)


def write_source(directory: Path) -> Path:
    path = Path(directory) / "buddy_builtins.c"
    path.write_text(SOURCE)
    return path
