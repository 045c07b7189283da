"""Dead-code elimination: drop nodes none of whose results reach an output (all ops are pure)."""

from __future__ import annotations

from ..graph import Graph


def dead_code_elimination(graph: Graph) -> Graph:
    live = {r.node for r in graph.outputs}
    kept = []
    for node in reversed(graph.nodes):
        if node.name in live:
            kept.append(node)
            live.update(r.node for r in node.refs())
    graph.nodes = list(reversed(kept))
    used_params = {p.name for p in graph.params if p.name in live}
    graph.params = [p for p in graph.params if p.name in used_params]
    graph.param_values = {k: v for k, v in graph.param_values.items() if k in used_params}
    return graph
