"""Content-addressed cache of compiled artifacts, which checks and heals its entries.

Key = SHA-256 of the graph text, the target row, the pipeline description and
the identity of every tool and library used (path, size and mtime: cheap to compute,
and changes whenever a tool is upgraded). An entry is a complete artifact directory;
it becomes visible atomically (rename) once ``manifest.json`` is in.

The manifest lists every file of the entry with its size and SHA-256 ("files"). A hit
is trusted only after each file is found with its recorded size and, for the code
(object, library), its recorded digest; the weight file is checked by its own data
checksum (``buddy.runtime.open_weight_file``). A damaged or partial entry is moved
aside and rebuilt, never loaded: a truncated ``libmodel.so`` would otherwise SIGBUS
every later run. Staging directories have unique names (``mkdtemp``), so processes
building the same key never share one; the loser of the final rename drops its copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

MANIFEST = "manifest.json"
# Files whose digest is checked on every hit (small, and loading a bad one crashes).
_DIGESTED_ON_HIT = {"libmodel.so", "model.o"}
_HASH_CHUNK = 1 << 20


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


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_HASH_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def file_records(entry: Path) -> dict[str, dict[str, Any]]:
    """{relative name: {"size", "sha256"}} of every file of an artifact but the manifest.
    Weight files (``*.bwt``) get their size only: they carry their own data checksum."""
    out: dict[str, dict[str, Any]] = {}
    for p in sorted(entry.rglob("*")):
        if p.is_file() and p.name != MANIFEST:
            rec: dict[str, Any] = {"size": p.stat().st_size}
            if p.suffix != ".bwt":
                rec["sha256"] = file_digest(p)
            out[str(p.relative_to(entry))] = rec
    return out


class DamagedEntry(Exception):
    """An artifact whose files do not match its manifest (says which file and how)."""


def check_entry(entry: Path, *, digests: Optional[set[str]] = None) -> dict[str, Any]:
    """The manifest of ``entry`` once every file it lists is present with its recorded size
    (and digest, for the names in ``digests``: default the code files); else DamagedEntry."""
    manifest_path = entry / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise DamagedEntry(f"{manifest_path} is missing") from None
    except (OSError, ValueError) as e:
        raise DamagedEntry(f"{manifest_path} is unreadable: {e}") from None
    if not isinstance(manifest, dict):
        raise DamagedEntry(f"{manifest_path} is not a JSON object")
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise DamagedEntry(f"{manifest_path} lists no files (written by an older Buddy)")
    digests = _DIGESTED_ON_HIT if digests is None else digests
    for name, rec in files.items():
        p = entry / name
        try:
            size = p.stat().st_size
        except OSError:
            raise DamagedEntry(f"{p} is missing") from None
        if size != rec.get("size"):
            raise DamagedEntry(f"{p} has {size} bytes, the manifest says {rec.get('size')}")
        if name in digests and file_digest(p) != rec.get("sha256"):
            raise DamagedEntry(f"{p} differs from the manifest's SHA-256")
    return manifest


def discard(entry: Path) -> None:
    """Remove a cache entry safely against concurrent readers: rename it aside first."""
    trash = entry.with_name(f".trash-{os.getpid()}-{entry.name}-{os.urandom(4).hex()}")
    try:
        entry.rename(trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def lookup(key: str, root: Path | None = None,
           report: Callable[[str], None] | None = None) -> Path | None:
    """The entry of ``key`` if it exists and is intact; a damaged one is discarded (and
    reported) so that the caller rebuilds it."""
    entry = (root or cache_dir()) / key
    if not entry.exists():
        return None
    try:
        check_entry(entry)
    except DamagedEntry as e:
        if report is not None:
            report(f"cache entry {key} is damaged ({e}); rebuilding it")
        discard(entry)
        return None
    return entry


def staging_dir(root: Path | None = None) -> Path:
    root = root or cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))


def commit(staging: Path, key: str, root: Path | None = None) -> Path:
    """Publish ``staging`` as entry ``key``. If another process won the race with an intact
    entry, ours is dropped; a damaged entry in the way is replaced."""
    entry = (root or cache_dir()) / key
    for _ in range(3):
        try:
            staging.rename(entry)
            return entry
        except OSError:
            if lookup(key, root) is not None:  # an intact entry won: use it
                shutil.rmtree(staging, ignore_errors=True)
                return entry
            # lookup discarded whatever was in the way; retry the rename
    raise OSError(f"cannot publish {staging} as cache entry {entry}")
