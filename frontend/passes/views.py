"""Fold view chains: view(view(x)) -> view(x), identity views/copies/permutes removed,
permute(permute(x)) composed into one permute."""

from __future__ import annotations

from typing import Dict

from ..graph import Graph, Node, Ref
from .rewrite import replace_uses

RESHAPES = {"aten.view.default", "aten._unsafe_view.default", "aten.reshape.default", "aten.unsqueeze.default",
            "aten.squeeze.dim", "aten.squeeze.dims", "aten.squeeze.default"}
IDENTITY_COPIES = {"aten.clone.default", "aten.alias.default", "aten._to_copy.default", "aten.expand.default"}
PERMUTE = "aten.permute.default"


def fold_views(graph: Graph) -> Graph:
    specs = graph.specs()
    producer: Dict[str, Node] = {}
    mapping: Dict[Ref, Ref] = {}

    def resolve(r: Ref) -> Ref:
        while r in mapping:
            r = mapping[r]
        return r

    for n in graph.nodes:
        if n.op in RESHAPES or n.op in IDENTITY_COPIES or n.op == PERMUTE:
            src = resolve(n.args[0]) if n.args and isinstance(n.args[0], Ref) else None
            out = n.outputs[0]
            if src is not None and out is not None:
                s = specs[src]
                if n.op in RESHAPES or n.op in IDENTITY_COPIES:
                    if s.shape == out.shape and s.dtype == out.dtype:
                        mapping[Ref(n.name)] = src
                        producer[n.name] = n
                        continue
                if n.op in RESHAPES:
                    p = producer.get(src.node)
                    if p is not None and p.op in RESHAPES:  # view of a view: view the original
                        n.op, n.target = "aten.view.default", _view_target()
                        n.args = (p.args[0], list(out.shape))
                        n.kwargs = {}
                if n.op == PERMUTE:
                    dims = [d % max(len(out.shape), 1) for d in n.args[1]]
                    p = producer.get(src.node)
                    if dims == list(range(len(dims))):
                        mapping[Ref(n.name)] = src
                        producer[n.name] = n
                        continue
                    if p is not None and p.op == PERMUTE:
                        inner = [d % max(len(out.shape), 1) for d in p.args[1]]
                        composed = [inner[d] for d in dims]
                        if composed == list(range(len(composed))):
                            mapping[Ref(n.name)] = p.args[0]
                            producer[n.name] = n
                            continue
                        n.args = (p.args[0], composed)
        producer[n.name] = n
    replace_uses(graph, mapping)
    return graph


def _view_target():
    import torch
    return torch.ops.aten.view.default
