"""The `buddy` TorchDynamo backend: `torch.compile(model, backend="buddy")`.

The integration layer above the frontend and the backend (`buddy.dynamo`): it uses
`buddy.frontend` to lower each graph and `buddy.compile` (buddy.backend) to compile it;
neither of them imports this module. Importing it registers the backend when no installed
distribution declares the `torch_dynamo_backends` entry point (a source tree on PYTHONPATH).

Each Dynamo graph goes through aot_autograd (inference, Core ATen), Buddy's graph IR and
the linalg lowering, then `buddy.compile` (the AOT backend: a native .so in the
content-addressed cache, so a new process reuses it without recompiling). Graphs are compiled
per concrete input signature: symbolic sizes are specialized (with a warning) rather than rejected.

Options (`torch.compile(m, backend="buddy", options={...})`): `runtime` ("aot", default, or
"jit" for the reference runner, frontend/jit.py: the same pipeline with the kernels off, run
in-process by MLIR's ExecutionEngine), `dialect` ("linalg" | "tosa"), and for "aot"
`target` (default "host"), `cache_dir`, `opt_level`, `kernels` (see `buddy.compile`).
`STATS` counts graphs compiled / served from the cache in this process.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Callable, Dict, List, Sequence, Tuple

import torch

log = logging.getLogger("buddy.dynamo")

BACKEND_NAME = "buddy"


def _key(args: Sequence[Any]) -> Tuple:
    return tuple((tuple(a.shape), a.dtype) if isinstance(a, torch.Tensor) else ("s", int(a)) for a in args)


STATS: Dict[str, int] = {"aot_compiled": 0, "aot_cache_hits": 0, "jit_compiled": 0}
RUNTIMES = ("aot", "jit")
AOT_OPTIONS = ("target", "cache_dir", "opt_level", "kernels")


def _to_numpy(t: torch.Tensor) -> Any:
    from buddy.runtime.dtypes import to_numpy

    return to_numpy(t)


def _to_torch(a: Any, dtype: str) -> torch.Tensor:
    from buddy.runtime.dtypes import to_torch

    return to_torch(a, dtype)


class _GraphSignature:
    """The MLIR text and specs of an ImportedGraph, without its weights: the Dynamo backend
    passes the live parameters on every call, so the artifact needs no weight file."""

    def __init__(self, imported: Any) -> None:
        self.mlir_text = imported.module.mlir_text
        self.params, self.inputs, self.outputs = imported.params, imported.inputs, imported.outputs
        self.index_sites = imported.index_sites


class _AotRunner:
    """Calls a `buddy.compile`d library on torch tensors (params and inputs in order)."""

    def __init__(self, imported: Any, options: Dict[str, Any]) -> None:
        from buddy.backend.compiler import compile as aot_compile
        self.module = aot_compile(_GraphSignature(imported), progress=False,
                                  **{k: options[k] for k in AOT_OPTIONS if k in options})
        self.out_dtypes = [s.dtype for s in self.module.signature if s.role == "output"]
        if self.module.cache_hit:
            STATS["aot_cache_hits"] += 1
            log.info("buddy: cache hit %s", self.module.artifact_dir)
        else:
            STATS["aot_compiled"] += 1
            log.info("buddy: compiled %s", self.module.artifact_dir)

    def __call__(self, *args: torch.Tensor) -> List[torch.Tensor]:
        outs = self.module.call_all([_to_numpy(a) for a in args])
        return [_to_torch(o, d) for o, d in zip(outs, self.out_dtypes)]


class BuddyCompiled:
    """Callable handed back to Dynamo: compiles on first use of each input signature."""

    def __init__(self, gm: torch.fx.GraphModule, dialect: str = "linalg",
                 options: Dict[str, Any] | None = None) -> None:
        self.gm = gm
        self.dialect = dialect
        self.options = dict(options or {})
        self.runtime = self.options.get("runtime", "aot")
        if self.runtime not in RUNTIMES:
            raise ValueError(f"buddy backend: runtime must be one of {RUNTIMES}, got {self.runtime!r}")
        self.cache: Dict[Tuple, Any] = {}

    def _compile(self, args: Sequence[Any]):
        from buddy.frontend.capture import aot_graph
        from buddy.frontend.importer import lower_graph
        param_ids = {id(a): f"arg{i}" for i, a in enumerate(args) if isinstance(a, torch.nn.Parameter)}
        graph = aot_graph(self.gm, list(args), param_ids)
        imported = lower_graph(graph, self.dialect)
        if self.runtime == "jit":
            run = imported.jit()
            STATS["jit_compiled"] += 1
        else:
            run = _AotRunner(imported, self.options)
        # @forward takes params first: each is a Dynamo argument (by position) or a lifted constant.
        pos = {f"arg{i}": i for i in range(len(args))}
        sources = [(pos[p.name], None) if p.name in pos else (None, imported.param_data.values[p.name])
                   for p in imported.params]
        users = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor) and id(a) not in param_ids]
        return imported, run, sources, users

    def __call__(self, *args: Any) -> List[torch.Tensor]:
        key = _key(args)
        entry = self.cache.get(key)
        if entry is None:
            entry = self.cache[key] = self._compile(args)
        imported, run, sources, users = entry
        full = [args[i] if i is not None else c for i, c in sources]
        user_args = [args[i] for i in users]
        g = imported.graph
        outs = g.expand_outputs(list(run(*full, *user_args)))
        for in_idx, out_idx in g.input_mutations:
            user_args[in_idx].copy_(outs[out_idx])
        for name, out_idx in g.param_mutations:  # a Dynamo argument (argN) updated in place
            args[int(name[3:])].copy_(outs[out_idx])
        n_mut = len(g.input_mutations) + len(g.param_mutations)
        return outs[n_mut:] if n_mut else outs


def buddy_backend(gm: torch.fx.GraphModule, example_inputs: List[Any], **kwargs: Any) -> Callable:
    """TorchDynamo backend entry point (also exposed through `torch_dynamo_backends`)."""
    if any(isinstance(x, torch.SymInt) for x in example_inputs) or any(
            isinstance(x, torch.Tensor) and any(isinstance(d, torch.SymInt) for d in x.shape)
            for x in example_inputs):
        warnings.warn("buddy: dynamic shapes are specialized to each concrete input signature")
    log.info("buddy: Dynamo handed over a graph of %d nodes", len(gm.graph.nodes))
    options = kwargs.get("options") or {}  # torch.compile(..., options={"dialect": "tosa"})
    return BuddyCompiled(gm, options.get("dialect", "linalg"), options)


def _entry_point_declared() -> bool:
    """Whether an installed distribution declares `buddy` in the `torch_dynamo_backends` group;
    torch then loads it by itself on `torch.compile(backend="buddy")`."""
    from importlib.metadata import entry_points
    return any(ep.name == BACKEND_NAME for ep in entry_points(group="torch_dynamo_backends"))


def register() -> None:
    """Make `backend="buddy"` resolvable. Idempotent, and safe however the backend is reached:

    - an installed entry point is left to torch, which registers it when the name is first
      looked up (registering here as well made torch fail with "duplicate name: buddy");
    - without one (a source tree on PYTHONPATH with no installed distribution), the backend is
      registered directly.
    """
    from torch._dynamo.backends import registry
    if BACKEND_NAME in registry._COMPILER_FNS or _entry_point_declared():
        return
    registry.register_backend(buddy_backend, name=BACKEND_NAME)


register()
