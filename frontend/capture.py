"""Capture: TorchDynamo (whole graph) + aot_autograd in inference mode with Core ATen decompositions."""

from __future__ import annotations

import logging
import warnings
from typing import Any, Dict, List, Optional, Sequence

import torch
import torch._dynamo
from torch._decomp import core_aten_decompositions
from torch._functorch.aot_autograd import aot_export_module

from .errors import CaptureError
from .graph import Graph, from_fx

log = logging.getLogger("buddy.frontend")


def decomposition_table() -> Dict[Any, Any]:
    """Core ATen decompositions (the op set Buddy lowers)."""
    return core_aten_decompositions()


def _specialize(example_inputs: Sequence[Any]) -> List[Any]:
    out = []
    for x in example_inputs:
        if isinstance(x, torch.SymInt):
            warnings.warn(f"Buddy specializes symbolic size {x} to {int(x)} (static shapes only)")
            out.append(int(x))
        else:
            out.append(x)
    return out


def aot_graph(gm: torch.fx.GraphModule, example_inputs: Sequence[Any],
              param_ids: Dict[int, str], user_order: Optional[Dict[int, int]] = None) -> Graph:
    """Run aot_autograd (inference, functional, Core ATen) on a Dynamo graph and build the graph IR.

    `param_ids` maps `id(tensor)` of the model's parameters/buffers to their names, so that
    graph inputs that are weights become `ParamSpec`s. `user_order` (id -> position) orders the
    user inputs as the caller passed them; any other tensor Dynamo lifted becomes a constant param.
    """
    example_inputs = _specialize(example_inputs)
    with torch.no_grad():
        fx, sig = aot_export_module(gm, tuple(example_inputs), trace_joint=False,
                                    decompositions=decomposition_table())
    placeholders = [n for n in fx.graph.nodes if n.op == "placeholder"]
    # Lifted module state of `gm` itself (when Dynamo did not inline nn.Modules) comes first.
    n_state = len(sig.parameters) + len(sig.buffers)
    names: List[Optional[str]] = []
    values: Dict[str, torch.Tensor] = {}
    state = dict(gm.named_parameters()); state.update(dict(gm.named_buffers()))
    flat_examples: List[Any] = []
    for k, ph in enumerate(placeholders):
        if k < n_state:
            target = sig.inputs_to_parameters.get(ph.name) or sig.inputs_to_buffers.get(ph.name)
            t = state[target]
            names.append(target); values[target] = t.detach(); flat_examples.append(t)
        else:
            x = example_inputs[k - n_state]
            name = param_ids.get(id(x)) if isinstance(x, torch.Tensor) else None
            if name is None and user_order is not None and isinstance(x, torch.Tensor) and id(x) not in user_order:
                name = f"_captured.{ph.name}"
            names.append(name)
            if name is not None:
                values[name] = x.detach()
            flat_examples.append(x)
    g = from_fx(fx, names, values, flat_examples)
    if sig.buffers_to_mutate or getattr(sig, "parameters_to_mutate", None):
        raise CaptureError("the model mutates its buffers/parameters in place; Buddy compiles inference graphs "
                           f"without state mutation ({sorted(sig.buffers_to_mutate.values())})")
    if sig.user_inputs_to_mutate:
        input_pos = {ph.name: i for i, ph in enumerate(p for p in placeholders)}
        user_ins = [i for i, nm in enumerate(names) if nm is None]
        for out_name, in_name in sig.user_inputs_to_mutate.items():
            out_idx = [n.name for n in fx.graph.find_nodes(op="output")[0].args[0]].index(out_name)
            g.input_mutations.append((user_ins.index(input_pos[in_name]), out_idx))
    if user_order is not None:
        pos = {ph.name: user_order[id(x)] for ph, x, nm in zip(placeholders, flat_examples, names)
               if nm is None and isinstance(x, torch.Tensor)}
        perm = sorted(range(len(g.inputs)), key=lambda i: pos[g.inputs[i].name])
        g.inputs = [g.inputs[i] for i in perm]
        g.input_mutations = [(perm.index(i), o) for i, o in g.input_mutations]
    return g


def capture(model: torch.nn.Module, example_inputs: Sequence[Any]) -> Graph:
    """Capture `model(*example_inputs)` as one graph of Core ATen ops with static shapes."""
    param_ids: Dict[int, str] = {}
    if isinstance(model, torch.nn.Module):
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            param_ids.setdefault(id(t), name)
    captured: List[Graph] = []
    user_order = {id(x): i for i, x in enumerate(example_inputs) if isinstance(x, torch.Tensor)}

    def backend(gm: torch.fx.GraphModule, inputs: List[Any]):
        log.info("buddy: Dynamo captured %d FX nodes; running aot_autograd", len(gm.graph.nodes))
        captured.append(aot_graph(gm, inputs, param_ids, user_order))
        return gm.forward

    torch._dynamo.reset()
    try:
        with torch.no_grad():
            compiled = torch.compile(model, backend=backend, fullgraph=True, dynamic=False)
            compiled(*example_inputs)
    except Exception as e:  # Dynamo wraps backend errors; surface ours unchanged
        inner = e
        while inner is not None and not isinstance(inner, (CaptureError,)) and inner.__cause__ is not None:
            inner = inner.__cause__
        from .errors import FrontendError
        if isinstance(inner, FrontendError):
            raise inner from None
        raise CaptureError(f"TorchDynamo could not capture the model as a single graph: {e}") from e
    finally:
        torch._dynamo.reset()
    if len(captured) != 1:
        raise CaptureError(f"expected one captured graph, got {len(captured)}")
    return captured[0]
