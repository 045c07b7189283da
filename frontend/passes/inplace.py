"""Update chosen inputs in place: `import_model(..., inplace_inputs=[k, ...])`.

Capture is functional: a model that updates input k (`cache.index_copy_(...)`) returns the
new value as an extra output, and `Graph.input_mutations` holds (k, output). This pass turns
that back into a real in-place update for the inputs the caller names: their new values are
no longer results, and the emitter marks those arguments `bufferization.writable = true`
(every other argument stays read-only). One-shot bufferization then writes the update into
the caller's buffer: a KV-cache step touches only its new rows and has no cache out-param.

That is only sound when the new value is built by writing INTO the input, so the pass
accepts an input only when its new value is a chain of scatter-style ops (index_put,
index_copy, slice_scatter, select_scatter) whose destination operand leads back to the
input itself, and the old value is not read after the first write (the bufferization would
otherwise have to copy). Anything else is refused with the op that breaks the chain.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

from ..errors import CaptureError
from ..graph import Graph, Node, Ref

__all__ = ["update_inputs_in_place", "DESTINATION_OPS"]

# Ops whose first operand is the tensor they write into (their result is that tensor, updated).
DESTINATION_OPS = frozenset({
    "aten.index_put.default", "aten.index_copy.default",
    "aten.slice_scatter.default", "aten.select_scatter.default",
})


def _check_chain(graph: Graph, k: int, out: Ref) -> None:
    nodes: Dict[str, Node] = {n.name: n for n in graph.nodes}
    root = Ref(graph.inputs[k].name)
    chain: List[str] = []
    ref = out
    while ref != root:
        node = nodes.get(ref.node)
        if node is None:
            raise CaptureError(f"inplace_inputs: input {k} ({graph.inputs[k].name}) is replaced by "
                               f"{ref.node}, not updated in place")
        if node.op not in DESTINATION_OPS or not node.args or not isinstance(node.args[0], Ref):
            raise CaptureError(f"inplace_inputs: the new value of input {k} ({graph.inputs[k].name}) "
                               f"comes from `{node.op}` (node {node.name}), which does not write into "
                               f"it; in-place updates must be index_put/index_copy/slice_scatter chains")
        chain.append(node.name)
        ref = node.args[0]
    # Each value of the chain (the input, then every partial update) must not be read after
    # the write that consumes it: a later read would make the bufferization copy, and the
    # update would then land in a new buffer instead of the caller's.
    users: Dict[Ref, List[str]] = {}
    for n in graph.nodes:
        for r in n.refs():
            users.setdefault(r, []).append(n.name)
    order = {n.name: i for i, n in enumerate(graph.nodes)}
    for writer in chain:
        dest = nodes[writer].args[0]
        late = [u for u in users.get(dest, []) if u != writer and order[u] > order[writer]]
        if late:
            what = graph.inputs[k].name if dest == root else dest.node
            raise CaptureError(f"inplace_inputs: input {k} ({graph.inputs[k].name}): {what} is read by "
                               f"{late[0]} after {writer} writes into it; the update cannot be done in place")


def update_inputs_in_place(graph: Graph, inputs: Sequence[int]) -> Graph:
    """Make `inputs` (indices into graph.inputs) updated in place (see the module doc)."""
    want = sorted(set(int(k) for k in inputs))
    if not want:
        return graph
    mutated = dict(graph.input_mutations)
    for k in want:
        if not 0 <= k < len(graph.inputs):
            raise CaptureError(f"inplace_inputs: input {k} does not exist (the graph has {len(graph.inputs)})")
        if k not in mutated:
            raise CaptureError(f"inplace_inputs: the model does not update input {k} "
                               f"({graph.inputs[k].name}); updated inputs: {sorted(mutated)}")
    captured = graph.expand_outputs(list(graph.outputs))  # Refs in the captured function's order
    for k in want:
        _check_chain(graph, k, captured[mutated[k]])
    drop = {mutated[k] for k in want}
    keep = [j for j in range(len(captured)) if j not in drop]
    new_index = {j: i for i, j in enumerate(keep)}
    if any(captured[j] in {captured[d] for d in drop} for j in keep):
        raise CaptureError("inplace_inputs: an updated input is also returned as an output")
    kept = [captured[j] for j in keep]
    graph.outputs = list(dict.fromkeys(kept))  # each value once; output_map keeps the order
    graph.output_map = None if len(graph.outputs) == len(kept) else [graph.outputs.index(r) for r in kept]
    graph.input_mutations = [(k, new_index[o]) for k, o in graph.input_mutations if k not in want]
    graph.param_mutations = [(n, new_index[o]) for n, o in graph.param_mutations]
    graph.inplace_inputs = want
    if graph.call is not None:
        c = graph.call
        positions = list(getattr(graph, "input_positions", range(len(graph.inputs))))
        user_pos = {positions[k] for k in want}
        c.leaves = [["output", new_index[v[1]]] if v[0] == "output" else v for v in c.leaves]
        c.input_mutations = [[a, new_index[o]] for a, o in c.input_mutations if a not in user_pos]
        c.param_mutations = [[n, new_index[o]] for n, o in c.param_mutations]
        c.inplace_args = sorted(user_pos)
    return graph
