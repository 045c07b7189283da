"""Fuse a 2-D transpose feeding the right operand of mm/addmm into the matmul itself.

`mm(x, permute(w, [1, 0]))` becomes `buddy.mm_bt(x, w)` (x @ w^T without materializing w^T),
which the linalg table lowers to `linalg.matmul` with transposed-B indexing maps. This is the
shape every `nn.Linear` takes after aot_autograd.
"""

from __future__ import annotations

from typing import Dict

from ..graph import Graph, Node, Ref

FUSED = {"aten.mm.default": "buddy.mm_bt", "aten.addmm.default": "buddy.addmm_bt"}


def fuse_transpose_into_matmul(graph: Graph) -> Graph:
    producer: Dict[str, Node] = {n.name: n for n in graph.nodes}
    specs = graph.specs()
    for n in graph.nodes:
        if n.op not in FUSED:
            continue
        b = n.args[1] if n.op == "aten.mm.default" else n.args[2]
        p = producer.get(b.node) if isinstance(b, Ref) else None
        if p is None or p.op != "aten.permute.default" or [d % 2 for d in p.args[1]] != [1, 0]:
            continue
        if len(specs[b].shape) != 2:
            continue
        w = p.args[0]
        if n.op == "aten.mm.default":
            n.kwargs = {"self": n.args[0], "weight": w}
        else:
            kw = dict(n.kwargs)
            n.kwargs = {"bias": n.args[0], "self": n.args[1], "weight": w,
                        "beta": kw.get("beta", 1), "alpha": kw.get("alpha", 1)}
        n.op, n.target, n.args = FUSED[n.op], None, ()
    return graph
