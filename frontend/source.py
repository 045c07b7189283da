"""User source locations of graph nodes, from the stack traces torch attaches to FX nodes.

TorchDynamo records, per FX node, `node.meta["stack_trace"]`: the Python frames (outermost
first, formatted like a traceback) that produced the op. `source_loc` picks the innermost frame
that is user code, i.e. not torch itself, the Python standard library or a generated `<...>`
file, and returns it as a `SourceLoc` (file, 1-based line and column, function, code line). The
emitter turns it into an MLIR `loc("file":line:col)`; the frontend errors quote it.
"""

from __future__ import annotations

import functools
import linecache
import os
import re
import sysconfig
from dataclasses import dataclass
from typing import List, Optional, Tuple

_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>.+?)\s*$')
_MARKS = re.compile(r"^\s*[\^~]+\s*$")   # the column markers under a code line (^^^ or ~~^~~)
_TRACEBACK_INDENT = 4                     # traceback prints code lines stripped, indented by 4


@dataclass(frozen=True)
class SourceLoc:
    file: str        # as recorded (absolute for files Dynamo traced)
    line: int        # 1-based
    col: int = 1     # 1-based column of the expression (the first marker), else of the code
    func: str = ""
    code: str = ""   # the source line, stripped

    @property
    def short(self) -> str:
        """`path:line`, the path relative to the working directory when the file is under it."""
        path = self.file
        try:
            rel = os.path.relpath(path)
            if not rel.startswith(os.pardir + os.sep) and rel != os.pardir:
                path = rel
        except ValueError:  # another drive (Windows)
            pass
        return f"{path}:{self.line}"

    def __str__(self) -> str:
        return f"{self.short} (`{self.code}`)" if self.code else self.short


def _dir(p: Optional[str]) -> Optional[str]:
    return os.path.abspath(p).rstrip(os.sep) + os.sep if p else None


def _torch_dir() -> Optional[str]:
    try:
        import torch
    except ImportError:  # pragma: no cover - the frontend always has torch
        return None
    return _dir(os.path.dirname(torch.__file__))


_TORCH = _torch_dir()
_STDLIB = tuple(d for d in {_dir(sysconfig.get_paths().get(k)) for k in ("stdlib", "platstdlib")} if d)


def is_user_file(path: str) -> bool:
    """False for torch's own files, the standard library and generated code (`<eval_with_key>`)."""
    if not path or path.startswith("<"):
        return False
    p = os.path.abspath(path)
    if _TORCH and p.startswith(_TORCH):
        return False
    if any(p.startswith(d) for d in _STDLIB) and "site-packages" not in p and "dist-packages" not in p:
        return False
    return True


def _frames(stack_trace: str) -> List[Tuple[str, int, str, str, Optional[int]]]:
    """(file, line, func, code, marker offset in the stripped code) per frame, outermost first."""
    lines = stack_trace.splitlines()
    out = []
    for i, ln in enumerate(lines):
        m = _FRAME.match(ln)
        if not m:
            continue
        code, mark = "", None
        if i + 1 < len(lines) and not _FRAME.match(lines[i + 1]) and lines[i + 1].strip():
            code = lines[i + 1].strip()
            if i + 2 < len(lines) and _MARKS.match(lines[i + 2]):
                marks = lines[i + 2]
                mark = max(0, len(marks) - len(marks.lstrip()) - _TRACEBACK_INDENT)
        out.append((m["file"], int(m["line"]), m["func"], code, mark))
    return out


@functools.lru_cache(maxsize=4096)
def source_loc(stack_trace: Optional[str]) -> Optional[SourceLoc]:
    """The innermost user-code frame of an FX stack trace, or None (no trace, or no user frame)."""
    if not stack_trace:
        return None
    for file, line, func, code, mark in reversed(_frames(stack_trace)):
        if not is_user_file(file):
            continue
        src = linecache.getline(file, line)
        indent = len(src) - len(src.lstrip()) if src.strip() else 0
        col = indent + (mark or 0) + 1
        return SourceLoc(file, line, col, func, code or src.strip())
    return None
