"""`buddy` as a user types it (tests/python/user_paths, tests/python/gemmini/
test_gemmini_target.py): ``python -m buddy ...`` as a subprocess, in a working directory
outside the source tree, with the package from the build stage; and the skip that names a
target's missing tool."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import buddy
from buddy import toolchain
from buddy.backend import targets

STAGE = Path(buddy.__file__).absolute().parent.parent  # holds the buddy package (build stage)
_SOURCE_TREE = Path(__file__).resolve().parents[3]


def run_buddy(cwd: Path, *args: str, cache: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m buddy args...`` in ``cwd`` (compile cache: ``cache``, else ``cwd/cache``)."""
    env = {**os.environ, "PYTHONPATH": str(STAGE),
           "BUDDY_CACHE_DIR": str(cache if cache is not None else cwd / "cache")}
    return subprocess.run([sys.executable, "-m", "buddy", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


def user_dir(tmp_path: Path) -> Path:
    """A fresh working directory, checked to be outside the source tree."""
    d = tmp_path / "user"
    d.mkdir()
    assert not str(d.resolve()).startswith(str(_SOURCE_TREE))
    return d


def require_target(name: str) -> None:
    """Skip (naming the missing tool and its install command) unless every tool that
    compiling, linking and running for target ``name`` needs is there."""
    try:
        targets.check_tools(targets.get_target(name), link=True, run=True)
    except toolchain.ToolNotFound as e:
        pytest.skip(str(e))
