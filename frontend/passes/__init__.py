"""Graph-IR passes run before lowering."""

from __future__ import annotations

from ..graph import Graph
from .dce import dead_code_elimination
from .views import fold_views
from .rmsnorm import fuse_rms_norm

# The transpose of a matmul operand (every nn.Linear's weight) is folded in ONE place: the C++
# pass --buddy-fold-transpose-into-matmul of the named pipeline (it serves any MLIR input).
DEFAULT_PASSES = (fold_views, fuse_rms_norm, dead_code_elimination)


def run_default_passes(graph: Graph, table=None) -> Graph:
    """Run the default passes; fusions into Buddy graph ops run only if `table` can lower them."""
    for p in DEFAULT_PASSES:
        if p is fuse_rms_norm and table is not None and "buddy.rms_norm" not in table:
            continue
        graph = p(graph)
    return graph
