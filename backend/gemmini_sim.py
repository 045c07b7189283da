"""The Gemmini simulator objects of a ``simulator="gemmini"`` target row (RoccTrap.o and
Model.o from ``buddy.gemmini.sim``), compiled with the row's cross compiler on first use and
cached in ``$BUDDY_CACHE_DIR/gemmini-sim/<key>/`` (key: the sources' digest, the compiler's
identity and the flags); and the counters RoccTrap writes at exit to ``$BUDDY_GEMMINI_STATS``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

from buddy.gemmini.sim import sim_sources
from buddy.toolchain import find_tool

from . import cache
from .pipeline import run_tool
from .targets import Target

CXX_FLAGS = ("-std=c++17", "-O2")
STATS_ENV = "BUDDY_GEMMINI_STATS"  # RoccTrap writes its report there at exit
_CACHE_SUBDIR = "gemmini-sim"


def _compile(target: Target, out: Path) -> None:
    src = sim_sources()
    cxx = find_tool(target.cc)
    includes = [f"-I{d}" for d in src.include_dirs()]
    for unit in src.sources():
        run_tool("gemmini-sim", [cxx, *CXX_FLAGS, *includes, "-c", unit,
                                 "-o", out / f"{unit.stem}.o"], input_file=unit)


def _object_names() -> list[str]:
    return [f"{unit.stem}.o" for unit in sim_sources().sources()]


def sim_objects(target: Target, scratch: Path) -> list[Path]:
    """RoccTrap.o and Model.o for ``target``: from the cache, else compiled into it (into
    ``scratch`` when the cache cannot be written)."""
    cxx = find_tool(target.cc)
    key = hashlib.sha256(json.dumps([sim_sources().digest(), cache.tool_identity(cxx),
                                     target.triple, CXX_FLAGS]).encode()).hexdigest()[:16]
    entry = cache.cache_dir() / _CACHE_SUBDIR / key
    objs = [entry / name for name in _object_names()]
    if all(o.is_file() for o in objs):
        return objs
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=entry.parent))
    except OSError:  # a read-only cache: build next to the executable
        _compile(target, scratch)
        return [scratch / name for name in _object_names()]
    try:
        _compile(target, staging)
        try:
            staging.rename(entry)  # atomic: a reader sees all objects or none
        except OSError:
            if not all(o.is_file() for o in objs):  # not another process's finished copy
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return objs


def parse_report(text: str) -> dict[str, int]:
    """RoccTrap's report (``key value`` lines: traps, instructions, funct.<name>, bytes_in,
    bytes_out, macs) as a dict."""
    counters: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key:
            counters[key] = int(value)
    return counters
