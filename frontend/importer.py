"""`import_model`: capture -> graph IR -> graph passes -> MLIR (linalg | tosa)."""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import torch
from mlir import ir

from .capture import capture
from .emitter import emit_module
from .graph import Graph, ParamSpec, TensorSpec
from .params import Materialize, ParamWriter, Params
from .passes import run_default_passes

log = logging.getLogger("buddy.frontend")

DIALECTS = ("linalg", "tosa")


def op_table(dialect: str) -> Mapping[str, Callable]:
    """The op table of `dialect`: overload name -> emitter (a read-only `OpTable`)."""
    if dialect == "linalg":
        from .lowering.linalg import LINALG_OPS
        return LINALG_OPS
    if dialect == "tosa":
        from .lowering.tosa import TOSA_OPS
        return TOSA_OPS
    raise ValueError(f"unknown dialect {dialect!r}; choose one of {DIALECTS}")


class MlirModule:
    """An MLIR module with its own context; `.mlir_text` and `.mlir_bytecode` serialize it."""

    def __init__(self, module: ir.Module, context: ir.Context) -> None:
        self.ir = module
        self.context = context

    @property
    def mlir_text(self) -> str:
        with self.context:
            return str(self.ir)

    def text(self, debug_info: bool = False) -> str:
        """The module as MLIR text; `debug_info=True` prints every op's location (the FX node name
        around the user source line, `loc("relu"("model.py":11:13))`, as `#loc` aliases)."""
        with self.context:
            return self.ir.operation.get_asm(enable_debug_info=debug_info)

    @property
    def mlir_bytecode(self) -> bytes:
        buf = io.BytesIO()
        with self.context:
            self.ir.operation.write_bytecode(buf)
        return buf.getvalue()

    def __str__(self) -> str:
        return self.mlir_text


@dataclass
class ImportedGraph:
    module: MlirModule
    params: List[ParamSpec]
    inputs: List[TensorSpec]
    outputs: List[TensorSpec]
    dialect: str
    graph: Graph
    param_data: Params
    _jit: Any = field(default=None, repr=False)
    # The index checks of @forward (buddy.runtime.index_errors): when non-empty, @forward has
    # one more result after `outputs`, `index_errors` (see `result_specs`), which callers pass
    # through index_errors.check.
    index_sites: List[Dict[str, Any]] = field(default_factory=list)

    def result_specs(self) -> List[TensorSpec]:
        """Every result of @forward: the model's outputs, then `index_errors` if checked."""
        if not self.index_sites:
            return list(self.outputs)
        from buddy.runtime.index_errors import RESULT_NAME
        return list(self.outputs) + [TensorSpec(RESULT_NAME, "i64", (len(self.index_sites), 2))]

    def write_params(self, path: Union[str, Path], writer: Optional[ParamWriter] = None,
                     materialize: Optional[Materialize] = None) -> Path:
        """Write the weights in parameter order. For a model captured on the meta device,
        `materialize(spec)` makes each parameter's tensor when it is written (one at a time)."""
        return self.param_data.write(path, writer, materialize)

    def jit(self):
        """The module compiled in-process (MLIR ExecutionEngine), cached."""
        if self._jit is None:
            from .jit import JitModule
            t0 = time.perf_counter()
            self._jit = JitModule(self.module.mlir_text, self.dialect, list(self.params) + list(self.inputs),
                                  self.result_specs(), index_sites=self.index_sites)
            log.info("buddy: JIT-compiled @forward in %.2fs", time.perf_counter() - t0)
        return self._jit

    def run(self, *inputs: torch.Tensor) -> List[torch.Tensor]:
        """Run @forward on user inputs (parameters are passed automatically)."""
        return self.jit()(*self.param_data.tensors(), *inputs)


def lower_graph(graph: Graph, dialect: str = "linalg", run_passes: bool = True,
                check_indices: bool = True, inplace_inputs: Sequence[int] = ()) -> ImportedGraph:
    """Graph IR -> MLIR module (the part of import_model after capture).

    `inplace_inputs`: inputs (indices among the graph's inputs) that the model updates and
    that @forward is to update in place in the caller's buffer (passes/inplace.py).

    `check_indices` (linalg): gathers, scatters and embeddings report an index out of range
    as IndexError through an extra result (buddy.runtime.index_errors) instead of reading
    clamped data silently; off, an out-of-range index reads a clamped (wrong) row."""
    table = op_table(dialect)
    if run_passes:
        t0 = time.perf_counter()
        graph = run_default_passes(graph, table)
        log.info("buddy: graph passes done in %.2fs (%d nodes left)", time.perf_counter() - t0, len(graph.nodes))
    if inplace_inputs:
        from .passes.inplace import update_inputs_in_place

        graph = update_inputs_in_place(graph, inplace_inputs)
    ctx = ir.Context()
    t0 = time.perf_counter()
    bar = _progress(len(graph.nodes), f"buddy: emitting {dialect}")
    try:
        sites: Optional[List[Dict[str, Any]]] = [] if check_indices and dialect == "linalg" else None
        module = emit_module(graph, table, dialect, ctx, progress=(lambda k: bar.update(1)) if bar else None,
                             index_sites=sites)
    finally:
        if bar is not None:
            bar.close()
    with ctx:
        if not module.operation.verify():
            raise RuntimeError("emitted MLIR module does not verify")
    log.info("buddy: emitted %d ops to %s in %.2fs", len(graph.nodes), dialect, time.perf_counter() - t0)
    params = Params(graph.params, graph.param_values)
    return ImportedGraph(MlirModule(module, ctx), list(graph.params), list(graph.inputs), graph.output_specs(),
                         dialect, graph, params, index_sites=list(sites or []))


def _progress(total: int, desc: str):
    if total < 200:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="op", leave=False, disable=None)


def import_model(model: torch.nn.Module, example_inputs: Sequence[Any], dialect: str = "linalg",
                 check_indices: bool = True, tracer: str = "dynamo",
                 inplace_inputs: Sequence[int] = ()) -> ImportedGraph:
    """Capture `model(*example_inputs)` and lower it to an MLIR module in `dialect`.

    The module holds `func.func @forward(params..., inputs...) -> outputs` on static tensors;
    weights stay out of the IR (see `ImportedGraph.params` / `write_params`). A model built on the
    meta device (with meta example inputs) imports without weight memory; its weights are made
    one at a time by `write_params(path, materialize=...)`. `tracer` ("dynamo" or "aot"): see
    `buddy.frontend.capture.capture`. `inplace_inputs` (positions of tensor inputs the model
    updates in place, e.g. a KV cache): @forward updates them in the caller's buffer instead
    of returning their new values (`buddy.frontend.passes.inplace`).
    """
    op_table(dialect)  # validate early
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    t0 = time.perf_counter()
    log.info("buddy: capturing %s with TorchDynamo + aot_autograd", type(model).__name__)
    graph = capture(model, tuple(example_inputs), tracer=tracer)
    log.info("buddy: captured %d Core ATen nodes, %d params in %.2fs", len(graph.nodes), len(graph.params),
             time.perf_counter() - t0)
    positions = list(getattr(graph, "input_positions", range(len(graph.inputs))))
    bad = [k for k in inplace_inputs if k not in positions]
    if bad:
        raise ValueError(f"inplace_inputs: argument {bad[0]} is not a tensor input of the graph")
    return lower_graph(graph, dialect, check_indices=check_indices,
                       inplace_inputs=[positions.index(k) for k in inplace_inputs])


def import_fx(gm: torch.fx.GraphModule, example_inputs: Sequence[Any], dialect: str = "linalg",
              run_passes: bool = True) -> ImportedGraph:
    """Lower an already-functional Core ATen FX graph (e.g. from make_fx); all placeholders are inputs."""
    from .graph import from_fx
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    graph = from_fx(gm, [None] * len(placeholders), {}, list(example_inputs))
    return lower_graph(graph, dialect, run_passes)
