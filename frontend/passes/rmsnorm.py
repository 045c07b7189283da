"""Fuse Core ATen's RMSNorm chain into one graph op, `buddy.rms_norm`.

LLaMA's RMSNorm (HF `LlamaRMSNorm`, buddy.llm's `_RMSNorm`) reaches Core ATen as

    p = pow(x, 2); m = mean(p, [-1], keepdim=True); a = add(m, eps); r = rsqrt(a)
    y = mul(x, r); out = mul(w, y)          # the weight multiply is optional

With every intermediate used only by the next op, the chain becomes
`buddy.rms_norm(input=x, weight=w | None, eps=eps)`, which the linalg table lowers to a
sum-of-squares reduction + scale generic, the form midend/include/buddy/RmsNorm.h recognises by
its arithmetic and buddy-opt's `--buddy-rmsnorm-vectorize` turns into one row kernel. Only float32 over the last dimension is fused; anything else keeps the ATen ops.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from ..graph import Graph, Node, Ref

OP = "buddy.rms_norm"


def _is_last_dim(dims: Any, rank: int) -> bool:
    if isinstance(dims, int):
        dims = [dims]
    return isinstance(dims, (list, tuple)) and len(dims) == 1 and isinstance(dims[0], int) and \
        dims[0] % rank == rank - 1


def fuse_rms_norm(graph: Graph) -> Graph:
    specs = graph.specs()
    uses = graph.users()
    producer: Dict[str, Node] = {n.name: n for n in graph.nodes}

    def single(r: Any, op: str) -> Optional[Node]:
        """The producer of `r` if it is `op` with one result used exactly once."""
        if not isinstance(r, Ref) or r.index != 0 or uses.get(r.node) != 1:
            return None
        n = producer.get(r.node)
        return n if n is not None and n.op == op and len(n.outputs) == 1 else None

    def f32(r: Any) -> bool:
        return isinstance(r, Ref) and specs[r].dtype == "f32"

    for n in graph.nodes:
        if n.op != "aten.mul.Tensor" or len(n.args) != 2 or n.kwargs:
            continue
        # n = mul(x, rsqrt(...)) in either operand order.
        for xi in (0, 1):
            x, r = n.args[xi], n.args[1 - xi]
            rs = single(r, "aten.rsqrt.default")
            add = rs and single(rs.args[0], "aten.add.Tensor")
            if not add or len(add.args) != 2 or add.kwargs.get("alpha", 1) != 1 or \
                    not isinstance(add.args[1], (int, float)) or isinstance(add.args[1], bool):
                continue
            mean = single(add.args[0], "aten.mean.dim")
            if not mean or mean.kwargs.get("dtype") is not None:
                continue
            keep = mean.args[2] if len(mean.args) > 2 else mean.kwargs.get("keepdim", False)
            pw = single(mean.args[0], "aten.pow.Tensor_Scalar")
            if not keep or not pw or pw.args[0] != x or pw.args[1] not in (2, 2.0):
                continue
            if not f32(x) or specs[x].rank < 1 or not _is_last_dim(mean.args[1], specs[x].rank) or \
                    n.outputs[0] is None or tuple(n.outputs[0].shape) != tuple(specs[x].shape) or n.outputs[0].dtype != "f32":
                continue
            target = n
            weight: Optional[Ref] = None
            # Fold a following multiply by a 1-D f32 weight of the row length.
            if uses.get(n.name) == 1:
                nxt = next((m for m in graph.nodes if m.op == "aten.mul.Tensor" and len(m.args) == 2
                            and not m.kwargs and Ref(n.name) in m.args), None)
                if nxt is not None and nxt.args[0] != nxt.args[1]:
                    w = nxt.args[1] if nxt.args[0] == Ref(n.name) else nxt.args[0]
                    if f32(w) and tuple(specs[w].shape) == (specs[x].shape[-1],) and \
                            nxt.outputs[0] is not None and tuple(nxt.outputs[0].shape) == tuple(specs[x].shape):
                        target, weight = nxt, w
            target.op, target.target, target.args = OP, None, ()
            target.kwargs = {"input": x, "weight": weight, "eps": float(add.args[1])}
            break
    return graph
