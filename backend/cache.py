"""Content-addressed cache of compiled artifacts.

Key = SHA-256 of the graph text, the target row, the pipeline description and
the identity of every tool used (path, size and mtime: cheap to compute, and
changes whenever a tool is upgraded). An entry is a complete artifact
directory; it becomes visible atomically (rename) once ``manifest.json`` is in.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable

MANIFEST = "manifest.json"


def cache_dir() -> Path:
    env = os.environ.get("BUDDY_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "buddy"


def tool_identity(path: Path) -> str:
    st = Path(path).resolve().stat()
    return f"{Path(path).resolve()}:{st.st_size}:{st.st_mtime_ns}"


def cache_key(graph_text: str, target: dict[str, Any], pipeline: dict[str, Any],
              tools: Iterable[Path], extra: dict[str, Any] | None = None) -> str:
    h = hashlib.sha256()
    h.update(graph_text.encode())
    meta = {"target": target, "pipeline": pipeline,
            "tools": sorted(tool_identity(t) for t in tools), "extra": extra or {}}
    h.update(json.dumps(meta, sort_keys=True).encode())
    return h.hexdigest()[:32]


def lookup(key: str, root: Path | None = None) -> Path | None:
    entry = (root or cache_dir()) / key
    return entry if (entry / MANIFEST).is_file() else None


def staging_dir(root: Path | None = None) -> Path:
    root = root or cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))


def commit(staging: Path, key: str, root: Path | None = None) -> Path:
    """Publish ``staging`` as entry ``key`` (another process may have won the race)."""
    entry = (root or cache_dir()) / key
    try:
        staging.rename(entry)
    except OSError:
        if lookup(key, root) is None:
            raise
        shutil.rmtree(staging, ignore_errors=True)
    return entry
