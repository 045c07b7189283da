"""Parameter data: the tensors behind `ParamSpec`s, and pluggable weight-file writing.

Parameters may live on the meta device (a model built under `torch.device("meta")`, captured
without any weight memory). Such parameters are *materialized* only while the weight file is
written: `write(path, materialize=fn)` calls `fn(spec)` for one meta parameter at a time,
streams the tensor to the file and drops it before the next one, so peak memory stays about
one parameter above the capture's own footprint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import torch

from .graph import ParamSpec

# writer(path, (name, contiguous tensor) pairs) -> None. The pairs are a list when every
# parameter is in memory, a one-pass iterator when some are materialized lazily: a writer
# must consume them in order and not keep references to earlier tensors.
ParamWriter = Callable[[Path, Iterable[Tuple[str, torch.Tensor]]], None]
# materialize(spec) -> CPU tensor of spec's shape and dtype, for a parameter on the meta device.
Materialize = Callable[[ParamSpec], torch.Tensor]


def runtime_writer() -> Optional[ParamWriter]:
    """The runtime's streaming weight-file writer (`buddy.runtime.WeightFileWriter`, one
    tensor at a time), or None when the runtime extension is not built."""
    try:
        from buddy.runtime import WeightFileWriter, to_numpy  # type: ignore
    except ImportError:
        return None

    def write(path: Path, tensors: Iterable[Tuple[str, torch.Tensor]]) -> None:
        with WeightFileWriter(str(path)) as w:
            for name, t in tensors:
                array, dtype = to_numpy(t)
                w.add(name, array, dtype)
                del array, t  # free a materialized tensor before the next one is made
    return write


class Params:
    """Ordered parameters of an imported graph: in-memory torch tensors, or meta tensors that
    are materialized one at a time when written."""

    def __init__(self, specs: Sequence[ParamSpec], values: Dict[str, torch.Tensor]) -> None:
        self.specs: List[ParamSpec] = list(specs)
        self.values = values
        for s in self.specs:
            _check(s, values[s.name], "tensor")

    @property
    def lazy(self) -> List[str]:
        """Names of the parameters on the meta device (no data until materialized)."""
        return [s.name for s in self.specs if self.values[s.name].is_meta]

    def tensors(self) -> List[torch.Tensor]:
        lazy = self.lazy
        if lazy:
            raise RuntimeError(f"{len(lazy)} parameters are on the meta device (e.g. {lazy[0]!r}): write them "
                               "with write_params(path, materialize=...) and run the compiled module from the file")
        return [self.values[s.name].detach().contiguous() for s in self.specs]

    def materialized(self, materialize: Optional[Materialize] = None) -> Iterator[Tuple[str, torch.Tensor]]:
        """(name, tensor) in parameter order; meta parameters come from `materialize(spec)`,
        made only when the iterator reaches them."""
        for s in self.specs:
            t = self.values[s.name]
            if t.is_meta:
                if materialize is None:
                    raise RuntimeError(f"parameter {s.name} is on the meta device: pass materialize= to write it")
                t = materialize(s)
                _check(s, t, "materialize() returned a tensor that")
                if t.is_meta:
                    raise ValueError(f"materialize() returned a meta tensor for {s.name}")
            t = (t.detach() if t.requires_grad else t).contiguous()  # the same object when already plain
            yield s.name, t
            del t

    def write(self, path: Union[str, Path], writer: Optional[ParamWriter] = None,
              materialize: Optional[Materialize] = None) -> Path:
        path = Path(path)
        writer = writer or runtime_writer()
        if writer is None:
            raise RuntimeError("no weight-file writer: build the runtime (buddy._runtime.WeightFileWriter) "
                               "or pass writer=")
        if self.lazy:
            writer(path, self.materialized(materialize))
        else:
            writer(path, list(self.materialized()))
        return path


def _check(s: ParamSpec, t: torch.Tensor, what: str) -> None:
    if tuple(t.shape) != s.shape or t.dtype != s.torch_dtype:
        raise ValueError(f"parameter {s.name}: {what} {t.dtype}{list(t.shape)} does not match "
                         f"{s.dtype}{list(s.shape)}")
