"""Turn a functionalized in-place update of an input (the KV cache) back into a real one.

The frontend captures `k_cache.index_copy_(...)` functionally: `@forward` returns the new
cache as an extra result and `Graph.input_mutations` lists (input index, output index). This
module rewrites the imported module so the update lands in the caller's buffer:

    func.func @forward(<args; mutated ones writable>) -> (<results minus the new caches>)

The cache rows are written by `tensor.insert_slice` into (a reshape of) the cache argument
(the frontend's row path for `index_put`), and every later read of the cache reads the
updated value, so one-shot bufferization (function boundaries) bufferizes the update chain
in place into the writable argument's buffer: a decode step touches only the new rows and
the entry point has no cache out-param. The other arguments are marked
`bufferization.writable = false`, so weights and inputs are never written.
(`bufferization.materialize_in_destination` cannot express the guarantee here: the analysis
counts reading a source that aliases the destination as a conflict and copies the cache.)
The compiled-model tests check the guarantee: the caller's cache buffer must hold the new
rows after a step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Sequence, Tuple

__all__ = ["InPlaceGraph", "inplace_graph"]


@dataclass
class InPlaceGraph:
    """What `buddy.compile` needs of an ImportedGraph (no `write_params`: weights are shared)."""

    mlir_text: str
    params: List[Any]
    inputs: List[Any]
    outputs: List[Any]
    mutated_inputs: List[int]


def _rewrite(text: str, n_params: int, mutations: Sequence[Tuple[int, int]]) -> str:
    from mlir import ir
    from mlir.dialects import func

    with ir.Context(), ir.Location.unknown():
        module = ir.Module.parse(text)
        fn = None
        for op in module.body.operations:
            if op.operation.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value == "forward":
                fn = op
        if fn is None:
            raise ValueError("the imported module has no func.func @forward")
        ftype = ir.FunctionType(ir.TypeAttr(fn.attributes["function_type"]).value)
        arg_types, res_types = list(ftype.inputs), list(ftype.results)
        dest = {n_params + i: o for i, o in mutations}
        for a, o in dest.items():
            if a >= len(arg_types) or o >= len(res_types) or arg_types[a] != res_types[o]:
                raise ValueError(f"input mutation arg {a} -> result {o} does not match the signature")
        keep = [k for k in range(len(res_types)) if k not in dest.values()]
        block = fn.regions[0].blocks[0]
        ret = block.operations[len(block.operations) - 1]
        if ret.operation.name != "func.return":
            raise ValueError("@forward does not end in func.return")
        values = list(ret.operands)
        with ir.InsertionPoint(ret):
            func.ReturnOp([values[k] for k in keep])
        ret.erase()
        fn.attributes["function_type"] = ir.TypeAttr.get(
            ir.FunctionType.get(arg_types, [res_types[k] for k in keep]))
        fn.arg_attrs = ir.ArrayAttr.get([
            ir.DictAttr.get({"bufferization.writable": ir.BoolAttr.get(k in dest)})
            for k in range(len(arg_types))])
        if not module.operation.verify():
            raise RuntimeError("in-place rewrite produced an invalid module")
        return str(module)


def inplace_graph(imported: Any) -> InPlaceGraph:
    """`imported` (an ImportedGraph) with its input mutations done in place (see module doc)."""
    muts = list(imported.graph.input_mutations)
    outs = [s for k, s in enumerate(imported.outputs) if k not in {o for _, o in muts}]
    text = _rewrite(imported.module.mlir_text, len(imported.params), muts)
    return InPlaceGraph(text, list(imported.params), list(imported.inputs), outs, [i for i, _ in muts])
