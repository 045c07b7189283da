"""The `buddy` TorchDynamo backend: `torch.compile(model, backend="buddy")`.

Each Dynamo graph goes through aot_autograd (inference, Core ATen), Buddy's graph IR and
the linalg lowering, and runs through the JIT (`buddy.frontend.jit`). Graphs are compiled per
concrete input signature: symbolic sizes are specialized (with a warning) rather than rejected.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Callable, Dict, List, Sequence, Tuple

import torch

log = logging.getLogger("buddy.frontend")

BACKEND_NAME = "buddy"


def _key(args: Sequence[Any]) -> Tuple:
    return tuple((tuple(a.shape), a.dtype) if isinstance(a, torch.Tensor) else ("s", int(a)) for a in args)


class BuddyCompiled:
    """Callable handed back to Dynamo: compiles on first use of each input signature."""

    def __init__(self, gm: torch.fx.GraphModule, dialect: str = "linalg") -> None:
        self.gm = gm
        self.dialect = dialect
        self.cache: Dict[Tuple, Any] = {}

    def _compile(self, args: Sequence[Any]):
        from .capture import aot_graph
        from .importer import lower_graph
        param_ids = {id(a): f"arg{i}" for i, a in enumerate(args) if isinstance(a, torch.nn.Parameter)}
        graph = aot_graph(self.gm, list(args), param_ids)
        imported = lower_graph(graph, self.dialect)
        jit = imported.jit()
        # @forward takes params first: each is a Dynamo argument (by position) or a lifted constant.
        pos = {f"arg{i}": i for i in range(len(args))}
        sources = [(pos[p.name], None) if p.name in pos else (None, imported.param_data.values[p.name])
                   for p in imported.params]
        users = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor) and id(a) not in param_ids]
        return imported, jit, sources, users

    def __call__(self, *args: Any) -> List[torch.Tensor]:
        key = _key(args)
        entry = self.cache.get(key)
        if entry is None:
            entry = self.cache[key] = self._compile(args)
        imported, jit, sources, users = entry
        full = [args[i] if i is not None else c for i, c in sources]
        user_args = [args[i] for i in users]
        outs = jit(*full, *user_args)
        for in_idx, out_idx in imported.graph.input_mutations:
            user_args[in_idx].copy_(outs[out_idx])
        n_mut = len(imported.graph.input_mutations)
        return outs[n_mut:] if n_mut else outs


def buddy_backend(gm: torch.fx.GraphModule, example_inputs: List[Any], **kwargs: Any) -> Callable:
    """TorchDynamo backend entry point (also exposed through `torch_dynamo_backends`)."""
    if any(isinstance(x, torch.SymInt) for x in example_inputs) or any(
            isinstance(x, torch.Tensor) and any(isinstance(d, torch.SymInt) for d in x.shape)
            for x in example_inputs):
        warnings.warn("buddy: dynamic shapes are specialized to each concrete input signature")
    log.info("buddy: Dynamo handed over a graph of %d nodes", len(gm.graph.nodes))
    options = kwargs.get("options") or {}  # torch.compile(..., options={"dialect": "tosa"})
    return BuddyCompiled(gm, options.get("dialect", "linalg"))


def register() -> None:
    """Register the backend under the name `buddy` (idempotent; takes precedence over an
    installed entry point, so that the imported tree is the one that runs)."""
    from torch._dynamo.backends import registry
    if BACKEND_NAME not in registry._COMPILER_FNS:
        registry.register_backend(buddy_backend, name=BACKEND_NAME)
