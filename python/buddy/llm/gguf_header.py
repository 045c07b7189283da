"""A GGUF file's header through the runtime's C++ reader (`buddy._runtime.gguf_metadata`).

One job: what a GGUF says about itself, without walking its vocabulary in Python. The C++
reader memory-maps the file and parses the header (metadata and tensor table) in
milliseconds; scalar metadata comes back as Python values and array-valued keys (the
49k-entry vocabulary, merges, scores) only by their length. Tensor bytes are NumPy views
of one read-only memory map, read only when a caller touches them.

`identity()` and `header_digest()` key the compiled-model cache (buddy.llm.compiled): the
file's path, size, mtime and inode, plus a SHA-256 of the header bytes, identify a model
without hashing its weights.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .gguf_errors import GGUFFormatError

__all__ = ["GGUFHeader", "GGUFTensorInfo", "read_header"]


@dataclass(frozen=True)
class GGUFTensorInfo:
    name: str
    type_name: str          # ggml type: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K ...
    shape: tuple[int, ...]  # NumPy order (GGUF lists the fastest-varying dim first)
    offset: int             # from the start of the file
    nbytes: int


@dataclass
class GGUFHeader:
    path: Path
    version: int
    data_offset: int        # where the tensor data starts: the header's size
    file_size: int
    values: dict[str, Any]  # scalar metadata
    array_lengths: dict[str, int]
    tensors: list[GGUFTensorInfo] = field(default_factory=list)

    def has(self, key: str) -> bool:
        return key in self.values or key in self.array_lengths

    @cached_property
    def _map(self) -> np.ndarray:
        return np.memmap(self.path, dtype=np.uint8, mode="r")

    def tensor_bytes(self, t: GGUFTensorInfo) -> np.ndarray:
        """The stored bytes of `t` (a read-only uint8 view of the file's memory map)."""
        return self._map[t.offset:t.offset + t.nbytes]

    def identity(self) -> dict[str, Any]:
        """Which file this is, by the file system: resolved path, size, mtime, inode."""
        st = os.stat(self.path)
        return {"path": str(self.path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                "inode": st.st_ino}

    def header_digest(self) -> str:
        """SHA-256 of the header bytes (metadata, vocabulary, tensor table)."""
        h = hashlib.sha256()
        with open(self.path, "rb") as f:
            left = self.data_offset
            while left > 0:
                chunk = f.read(min(left, 1 << 20))
                if not chunk:
                    break
                h.update(chunk)
                left -= len(chunk)
        return h.hexdigest()


def read_header(path: str | os.PathLike[str]) -> GGUFHeader:
    """Parse `path`'s GGUF header with the C++ reader; GGUFFormatError if it is not a sound GGUF."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"GGUF model file not found: {p}")
    if not p.is_file():
        raise GGUFFormatError(f"{p}: not a regular file")
    with open(p, "rb") as f:
        magic = f.read(4)
    if magic != b"GGUF":
        raise GGUFFormatError(f"{p}: not a GGUF file (magic {magic!r}, expected b'GGUF')")
    try:
        from buddy import _runtime
    except ImportError as e:
        raise RuntimeError(f"reading {p} needs the C++ runtime module buddy._runtime: {e}") from e
    try:
        d = _runtime.gguf_metadata(str(p))
    except (RuntimeError, ValueError) as e:  # the reader names what is wrong and where
        raise GGUFFormatError(f"{p}: corrupt or truncated GGUF file ({e})") from e
    base = int(d["data_offset"])
    size = int(d["file_size"])
    tensors = []
    for t in d["tensors"]:
        info = GGUFTensorInfo(name=str(t["name"]), type_name=str(t["type_name"]),
                              shape=tuple(int(x) for x in reversed(list(t["shape"]))),
                              offset=base + int(t["offset"]), nbytes=int(t["nbytes"]))
        if info.offset + info.nbytes > size:
            raise GGUFFormatError(f"{p}: truncated GGUF file: tensor {info.name} needs bytes up to "
                              f"{info.offset + info.nbytes}, file has {size}")
        tensors.append(info)
    return GGUFHeader(path=p, version=int(d["version"]), data_offset=base, file_size=size,
                      values=dict(d["values"]), array_lengths=dict(d["array_lengths"]), tensors=tensors)
