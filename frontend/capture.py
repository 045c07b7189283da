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
from .graph import CallConvention, Graph, from_fx

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
    state = dict(gm.named_parameters(remove_duplicate=False))
    state.update(dict(gm.named_buffers(remove_duplicate=False)))
    flat_examples: List[Any] = []
    # A tensor lifted under two names (tied weights: embedding and LM head) is one parameter,
    # named as `named_parameters()` names it: the second placeholder is folded into the first.
    first_of: Dict[int, torch.fx.Node] = {}
    kept: List[torch.fx.Node] = []
    for k, ph in enumerate(placeholders):
        if k < n_state:
            target = sig.inputs_to_parameters.get(ph.name) or sig.inputs_to_buffers.get(ph.name)
            t = state[target]
            if id(t) in first_of:
                ph.replace_all_uses_with(first_of[id(t)])
                fx.graph.erase_node(ph)
                continue
            first_of[id(t)] = ph
            name = param_ids.get(id(t), target)
            names.append(name); values[name] = t.detach(); flat_examples.append(t)
        else:
            x = example_inputs[k - n_state]
            name = param_ids.get(id(x)) if isinstance(x, torch.Tensor) else None
            if name is None and user_order is not None and isinstance(x, torch.Tensor) and id(x) not in user_order:
                name = f"_captured.{ph.name}"
            names.append(name)
            if name is not None:
                values[name] = x.detach()
            flat_examples.append(x)
        kept.append(ph)
    placeholders = kept
    if len(placeholders) != len([n for n in fx.graph.nodes if n.op == "placeholder"]):
        raise CaptureError("internal: placeholders out of step after folding tied parameters")
    fx.recompile()
    g = from_fx(fx, names, values, flat_examples)
    if getattr(sig, "parameters_to_mutate", None):
        raise CaptureError("the model updates its parameters in place "
                           f"({sorted(sig.parameters_to_mutate.values())}); Buddy compiles inference "
                           "graphs (buffer updates, such as a counter or running statistics, are supported)")
    out_names = [n.name if isinstance(n, torch.fx.Node) else None
                 for n in fx.graph.find_nodes(op="output")[0].args[0]]
    input_pos = {ph.name: i for i, ph in enumerate(placeholders)}
    user_ins = [i for i, nm in enumerate(names) if nm is None]
    for out_name, buffer in sig.buffers_to_mutate.items():  # lifted state of `gm` itself
        g.param_mutations.append((buffer, out_names.index(out_name)))
    for out_name, in_name in sig.user_inputs_to_mutate.items():
        k, out_idx = input_pos[in_name], out_names.index(out_name)
        if names[k] is None:
            g.input_mutations.append((user_ins.index(k), out_idx))
        else:  # a buffer that Dynamo passed in as an input (inlined nn.Module)
            g.param_mutations.append((str(names[k]), out_idx))
    _dedupe_outputs(g)
    if user_order is not None:
        pos = {ph.name: user_order[id(x)] for ph, x, nm in zip(placeholders, flat_examples, names)
               if nm is None and isinstance(x, torch.Tensor)}
        perm = sorted(range(len(g.inputs)), key=lambda i: pos[g.inputs[i].name])
        g.inputs = [g.inputs[i] for i in perm]
        g.input_mutations = [(perm.index(i), o) for i, o in g.input_mutations]
        g.input_positions = [pos[i.name] for i in g.inputs]  # type: ignore[attr-defined]
    return g


def _dedupe_outputs(g: Graph) -> None:
    """Each value once in `g.outputs`; `g.output_map` keeps the captured order (a model that
    returns a tensor twice, or returns a buffer it updates, would otherwise give @forward two
    results that are one buffer, which the bufferization cannot lower)."""
    if len(set(g.outputs)) == len(g.outputs):
        return
    uniq: List[Any] = []
    mapping: List[int] = []
    for r in g.outputs:
        if r not in uniq:
            uniq.append(r)
        mapping.append(uniq.index(r))
    g.outputs, g.output_map = uniq, mapping


def _json_value(v: Any, what: str) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    raise CaptureError(f"{what} is a {type(v).__name__} ({v!r}); Buddy passes tensors and "
                       "Python scalars (bool, int, float, str, None)")


def call_convention(g: Graph, example_inputs: Sequence[Any], result: Any,
                    graph_outputs: Sequence[Any], param_ids: Dict[int, str] | None = None) -> CallConvention:
    """How `model(*example_inputs)`, which returned `result`, maps onto @forward. The tensors
    of `result` are found by identity among `graph_outputs` (what the Dynamo graph returned)
    and among the caller's arguments."""
    from torch.utils._pytree import tree_flatten, treespec_dumps

    positions = list(getattr(g, "input_positions", range(len(g.inputs))))
    args: List[List[Any]] = []
    for pos, x in enumerate(example_inputs):
        if pos in positions:
            args.append(["input", positions.index(pos)])
        elif isinstance(x, torch.Tensor):
            args.append(["unused"])
        else:
            args.append(["const", _json_value(x, f"argument {pos}")])
    mutated_outputs = {o for _, o in g.input_mutations} | {o for _, o in g.param_mutations}
    n_captured = len(g.output_map) if g.output_map is not None else len(g.outputs)
    user_outputs = [j for j in range(n_captured) if j not in mutated_outputs]
    leaves_in, tree = tree_flatten(result)
    leaves: List[List[Any]] = []
    for i, leaf in enumerate(leaves_in):
        if isinstance(leaf, torch.Tensor):
            j = next((k for k, o in enumerate(graph_outputs) if o is leaf), None)
            a = next((k for k, x in enumerate(example_inputs) if x is leaf), None)
            if j is not None:
                leaves.append(["output", user_outputs[j]])
            elif a is not None:
                leaves.append(["arg", a])
            elif param_ids and id(leaf) in param_ids:  # a parameter or buffer of the model itself
                leaves.append(["param", param_ids[id(leaf)]])
            else:
                raise CaptureError(f"output leaf {i} (a tensor of shape {tuple(leaf.shape)}) is neither "
                                   "computed by the captured graph nor an argument")
        else:
            leaves.append(["const", _json_value(leaf, f"output leaf {i}")])
    user_of_input = [positions[k] for k in range(len(g.inputs))]
    return CallConvention(args, treespec_dumps(tree), leaves,
                          [[user_of_input[k], o] for k, o in g.input_mutations],
                          [[n, o] for n, o in g.param_mutations])


TRACERS = ("dynamo", "aot")


def capture(model: torch.nn.Module, example_inputs: Sequence[Any], tracer: str = "dynamo") -> Graph:
    """Capture `model(*example_inputs)` as one graph of Core ATen ops with static shapes.

    `tracer="dynamo"` (the default, and what torch.compile uses): TorchDynamo captures the
    whole graph from the bytecode, then aot_autograd functionalizes and decomposes it.
    `tracer="aot"`: aot_autograd traces `model` itself, without Dynamo. For modules written
    as plain tensor programs (no data-dependent Python control flow, tensors in and out),
    such as buddy.llm's prefill/decode graphs, it gives the same Core ATen graph in about
    half the time: Dynamo's symbolic bytecode walk over every layer is skipped."""
    if tracer not in TRACERS:
        raise ValueError(f"tracer must be one of {TRACERS}, got {tracer!r}")
    if tracer == "aot":
        return _capture_aot(model, example_inputs)
    param_ids: Dict[int, str] = {}
    if isinstance(model, torch.nn.Module):
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            param_ids.setdefault(id(t), name)
    captured: List[Graph] = []
    # The capture runs the model: on copies of the inputs, so that importing never changes them.
    example_inputs = [x.clone() if isinstance(x, torch.Tensor) and id(x) not in param_ids else x
                      for x in example_inputs]
    user_order = {id(x): i for i, x in enumerate(example_inputs) if isinstance(x, torch.Tensor)}

    graph_outputs: List[Any] = []

    def backend(gm: torch.fx.GraphModule, inputs: List[Any]):
        log.info("buddy: Dynamo captured %d FX nodes; running aot_autograd", len(gm.graph.nodes))
        captured.append(aot_graph(gm, inputs, param_ids, user_order))

        def run(*args: Any) -> Any:  # eager, recording the graph's outputs to map the result
            outs = gm.forward(*args)
            graph_outputs[:] = list(outs) if isinstance(outs, (list, tuple)) else [outs]
            return outs
        return run

    torch._dynamo.reset()
    # Buffers the model updates are restored after the capture run: importing never changes the model.
    state = {n: t.detach().clone() for n, t in model.named_buffers()} if isinstance(model, torch.nn.Module) else {}
    try:
        with torch.no_grad():
            compiled = torch.compile(model, backend=backend, fullgraph=True, dynamic=False)
            result = compiled(*example_inputs)
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
        if state:
            with torch.no_grad():
                for n, t in model.named_buffers():
                    if n in state:
                        t.copy_(state[n])
    if len(captured) != 1:
        raise CaptureError(f"expected one captured graph, got {len(captured)}")
    g = captured[0]
    g.call = call_convention(g, example_inputs, result, graph_outputs, param_ids)
    return g


def _capture_aot(model: torch.nn.Module, example_inputs: Sequence[Any]) -> Graph:
    """`capture(tracer="aot")`: aot_export_module on the module itself."""
    from torch.utils._pytree import tree_flatten

    if not isinstance(model, torch.nn.Module):
        raise CaptureError(f"tracer='aot' captures an nn.Module, got {type(model).__name__}")
    if not all(isinstance(x, torch.Tensor) for x in example_inputs):
        raise CaptureError("tracer='aot' takes tensor arguments only; use tracer='dynamo'")
    param_ids: Dict[int, str] = {}
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        param_ids.setdefault(id(t), name)
    example_inputs = [x.clone() for x in example_inputs]
    user_order = {id(x): i for i, x in enumerate(example_inputs)}
    state = {n: t.detach().clone() for n, t in model.named_buffers()}
    # aot_export_module wants a flat tuple of outputs: the module's forward, flattened, for
    # the trace (an instance attribute, removed again below; the names of the parameters stay).
    forward = model.forward
    model.forward = lambda *a: tuple(tree_flatten(forward(*a))[0])  # type: ignore[method-assign]
    try:
        try:
            g = aot_graph(model, example_inputs, param_ids, user_order)
        except CaptureError:
            raise
        except Exception as e:
            raise CaptureError(f"aot_autograd could not trace {type(model).__name__} without Dynamo "
                               f"({type(e).__name__}: {e}); import it with tracer='dynamo'") from e
        del model.forward
        # One eager run on fresh copies gives the result's structure (the call convention).
        with torch.no_grad():
            result = model(*[x.clone() for x in example_inputs])
    finally:
        if "forward" in vars(model):
            del model.forward
        with torch.no_grad():
            for n, t in model.named_buffers():
                if n in state:
                    t.copy_(state[n])
    leaves, _ = tree_flatten(result)
    if not all(isinstance(x, torch.Tensor) for x in leaves):
        raise CaptureError("tracer='aot' needs a model that returns tensors; use tracer='dynamo'")
    if any(id(x) in param_ids for x in leaves):
        raise CaptureError("tracer='aot': the model returns one of its parameters; use tracer='dynamo'")
    g.call = call_convention(g, example_inputs, result, leaves, param_ids)
    return g
