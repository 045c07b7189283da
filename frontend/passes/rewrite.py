"""Helpers for graph rewrites: replace all uses of a result by another."""

from __future__ import annotations

from typing import Dict

from ..graph import Graph, Ref, map_refs


def replace_uses(graph: Graph, mapping: Dict[Ref, Ref]) -> None:
    """Rewrite every use (node args, outputs) of the keys of `mapping`, following chains."""
    if not mapping:
        return

    def resolve(r: Ref) -> Ref:
        seen = 0
        while r in mapping and seen < 10000:
            r = mapping[r]
            seen += 1
        return r

    for n in graph.nodes:
        n.args = map_refs(n.args, resolve)
        n.kwargs = {k: map_refs(v, resolve) for k, v in n.kwargs.items()}
    graph.outputs = [resolve(r) for r in graph.outputs]
