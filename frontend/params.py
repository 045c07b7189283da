"""Parameter data: the tensors behind `ParamSpec`s, and pluggable weight-file writing."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Union

import torch

from .graph import ParamSpec

# writer(path, [(name, contiguous tensor)]) -> None
ParamWriter = Callable[[Path, Sequence[tuple]], None]


def runtime_writer() -> Optional[ParamWriter]:
    """The runtime's weight-file writer (`buddy.runtime.save_weights`, backed by
    `buddy._runtime.WeightFileWriter`), or None when the runtime extension is not built."""
    try:
        from buddy.runtime import save_weights  # type: ignore
    except ImportError:
        return None

    def write(path: Path, tensors: Sequence[tuple]) -> None:
        save_weights(path, dict(tensors))
    return write


class Params:
    """Ordered parameters of an imported graph, held as in-memory torch tensors."""

    def __init__(self, specs: Sequence[ParamSpec], values: Dict[str, torch.Tensor]) -> None:
        self.specs: List[ParamSpec] = list(specs)
        self.values = values
        for s in self.specs:
            t = values[s.name]
            if tuple(t.shape) != s.shape or t.dtype != s.torch_dtype:
                raise ValueError(f"parameter {s.name}: tensor {t.dtype}{list(t.shape)} does not match "
                                 f"{s.dtype}{list(s.shape)}")

    def tensors(self) -> List[torch.Tensor]:
        return [self.values[s.name].detach().contiguous() for s in self.specs]

    def write(self, path: Union[str, Path], writer: Optional[ParamWriter] = None) -> Path:
        path = Path(path)
        writer = writer or runtime_writer()
        if writer is None:
            raise RuntimeError("no weight-file writer: build the runtime (buddy._runtime.WeightFileWriter) "
                               "or pass writer=")
        writer(path, [(s.name, self.values[s.name].detach().contiguous()) for s in self.specs])
        return path
