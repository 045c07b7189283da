"""Save and load weight files (``*.bwt``) from Python dicts of tensors."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Mapping, Optional

from buddy._runtime import WeightFile, WeightFileWriter

from .tensors import to_numpy, to_torch


def save_weights(path: str | os.PathLike[str], tensors: Mapping[str, Any]) -> None:
    """Write ``tensors`` (torch tensors incl. bfloat16, or NumPy arrays) in order,
    one at a time, straight from their memory."""
    with WeightFileWriter(os.fspath(path)) as writer:
        for name, value in tensors.items():
            array, dtype = to_numpy(value)
            writer.add(name, array, dtype)


def load_weights(path: str | os.PathLike[str], *, as_torch: bool = False,
                 verify_data: bool = False) -> dict[str, Any]:
    """Tensors of a weight file: read-only zero-copy NumPy views of the mapping
    (bf16 as uint16 bits), or torch tensors (copied; bf16 restored)."""
    wf = WeightFile(os.fspath(path), verify_data)
    if not as_torch:
        return {name: wf[name] for name in wf.names()}
    return {s.name: to_torch(wf[s.name], s.dtype) for s in wf.specs()}


def _memo_name(path: str) -> str:
    """Identity of a file's current contents as far as the file system tells (cheap): a
    rewrite, truncation or copy over it changes the size, mtime or inode."""
    st = os.stat(path)
    ident = f"{os.path.realpath(path)}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_dev}"
    return hashlib.sha256(ident.encode()).hexdigest()[:32]


def open_weight_file(path: str | os.PathLike[str], *,
                     memo_dir: Optional[str | os.PathLike[str]] = None) -> WeightFile:
    """Open a weight file and verify its data checksum before any of it is used.

    Opening always checks the header, the table and the header checksum. The data checksum
    reads every byte (about 0.1 s per GB from the page cache), so it runs the first time a
    file is seen and is remembered in ``memo_dir`` against the file's path, size, mtime and
    inode; without ``memo_dir`` (or when it is not writable) every open verifies. A file
    that fails raises ``WeightFileError`` naming the file and the checksums."""
    p = os.fspath(path)
    memo: Optional[Path] = None
    if memo_dir is not None:
        try:
            memo = Path(memo_dir) / _memo_name(p)
        except OSError:
            memo = None  # WeightFile() below reports the missing file
    wf = WeightFile(p, memo is None or not memo.is_file())
    if memo is not None and not memo.is_file():
        try:
            memo.parent.mkdir(parents=True, exist_ok=True)
            memo.write_text(p + "\n")
        except OSError:
            pass  # a read-only cache: verify again next time
    return wf


def weight_dtypes(path: str | os.PathLike[str]) -> dict[str, str]:
    """Buddy dtype name of every tensor (tells bf16 apart from uint16 views)."""
    return {s.name: s.dtype for s in WeightFile(os.fspath(path)).specs()}


__all__ = ["save_weights", "load_weights", "open_weight_file", "weight_dtypes"]
