"""Build the MLIR module `func.func @forward(params..., inputs...) -> outputs` from a `Graph`."""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from mlir import ir
from mlir.dialects import func

from .errors import LoweringError, UnsupportedOpError
from .graph import Graph, Node, Ref, TensorSpec
from .lowering.common import Unsupported, spec_type

log = logging.getLogger("buddy.frontend")

EmitFn = Callable[["EmitContext", Dict[str, Any]], Any]


def bind_args(node: Node) -> Dict[str, Any]:
    """Name every argument of `node` after the op schema, filling in defaults."""
    if node.target is None:  # Buddy's own graph-level ops carry named arguments only
        return dict(node.kwargs)
    schema = node.target._schema
    out: Dict[str, Any] = {}
    for i, arg in enumerate(schema.arguments):
        if arg.kwarg_only and arg.name in node.kwargs:
            out[arg.name] = node.kwargs[arg.name]
        elif i < len(node.args) and not arg.kwarg_only:
            out[arg.name] = node.args[i]
        elif arg.name in node.kwargs:
            out[arg.name] = node.kwargs[arg.name]
        elif arg.has_default_value():
            out[arg.name] = arg.default_value
        else:
            out[arg.name] = None
    return out


class EmitContext:
    """What an op emitter sees: operand values and specs of the node being lowered."""

    def __init__(self, graph: Graph, dialect: str, index_checks: bool = False) -> None:
        self.graph = graph
        self.dialect = dialect
        self.specs = graph.specs()
        self.values: Dict[Ref, ir.Value] = {}
        self.node: Optional[Node] = None
        self.index_checks = index_checks
        # One entry per check (buddy.runtime.index_errors): what is reported, and the two
        # 0-d i64 tensors (count of bad indices, largest bad index) the check computes.
        self.index_sites: List[Dict[str, Any]] = []
        self.index_results: List[Tuple[ir.Value, ir.Value]] = []
        self._checked: Dict[Tuple[Ref, int, bool], int] = {}

    def check_indices(self, ref: Any, size: int, negative_ok: bool = False) -> None:
        """Report, through @forward's `index_errors` result, any element of the integer tensor
        `ref` outside [0, size), or [-size, size) with `negative_ok` (advanced indexing and
        index_put wrap negatives, as PyTorch does; embedding, gather, scatter do not). The op
        reads a clamped index itself (lowering.common.wrap_index); this only counts. Costs one
        pass over the indices, never over the data."""
        if not self.index_checks or not isinstance(ref, Ref) or (ref, size, negative_ok) in self._checked:
            return
        from mlir.dialects import arith

        from .lowering.common import cast, compare, const, filled, generic

        node = self.node
        assert node is not None
        dt = self.dtype(ref)
        rank = len(self.shape(ref))
        lo, hi = const(-size if negative_ok else 0, "i64"), const(size, "i64")

        def body(v: ir.Value, cnt: ir.Value, worst: ir.Value) -> List[ir.Value]:
            x = cast(v, dt, "i64")
            bad = arith.ori(compare("lt", x, lo, "i64"), compare("ge", x, hi, "i64"))
            return [arith.addi(cnt, arith.extui(ir.IntegerType.get_signless(64), bad)),
                    arith.select(bad, arith.maxsi(worst, x), worst)]
        cnt, worst = generic([(self.value(ref), list(range(rank)))],
                             [(filled([], "i64", 0), []), (filled([], "i64", -(2 ** 63)), [])],
                             ["reduction"] * rank, body)
        self._checked[(ref, size, negative_ok)] = len(self.index_sites)
        self.index_sites.append({"op": node.op, "node": node.name, "size": int(size),
                                 "loc": str(node.loc) if node.loc is not None else None})
        self.index_results.append((cnt, worst))

    def value(self, ref: Ref) -> ir.Value:
        v = self.values.get(ref)
        if v is None:
            raise Unsupported(f"result {ref.index} of `{ref.node}` is not produced by Buddy's lowering")
        return v

    def spec(self, ref: Ref) -> TensorSpec:
        return self.specs[ref]

    def dtype(self, x: Any) -> str:
        """dtype name of a tensor operand; Python scalars get their PyTorch default dtype."""
        if isinstance(x, Ref):
            return self.specs[x].dtype
        if isinstance(x, bool):
            return "bool"
        if isinstance(x, int):
            return "i64"
        return "f32"

    def shape(self, x: Ref) -> Tuple[int, ...]:
        return self.specs[x].shape

    def operand(self, x: Any) -> Tuple[Any, str]:
        """(MLIR value or Python scalar, dtype name)."""
        return (self.value(x), self.dtype(x)) if isinstance(x, Ref) else (x, self.dtype(x))

    @property
    def out(self) -> TensorSpec:
        assert self.node is not None and self.node.outputs[0] is not None
        return self.node.outputs[0]

    def outs(self, i: int) -> TensorSpec:
        assert self.node is not None
        spec = self.node.outputs[i]
        assert spec is not None
        return spec


def emit_module(graph: Graph, table: Mapping[str, EmitFn], dialect: str, ctx: ir.Context,
                progress: Optional[Callable[[int], None]] = None,
                index_sites: Optional[List[Dict[str, Any]]] = None) -> ir.Module:
    """Emit `graph` with the op `table` into a new module (inside `ctx`).

    With `index_sites` (a list, filled here), index operands of gathers/scatters are checked
    and @forward gets one more, last result, `index_errors` (buddy.runtime.index_errors)."""
    with ctx, ir.Location.unknown():
        module = ir.Module.create()
        arg_specs: List[TensorSpec] = list(graph.params) + list(graph.inputs)
        out_specs = [graph.spec(r) for r in graph.outputs]
        ftype = ir.FunctionType.get([spec_type(s) for s in arg_specs], [spec_type(s) for s in out_specs])
        with ir.InsertionPoint(module.body):
            f = func.FuncOp("forward", ftype)
        # Params (possibly a read-only mapped weight file) and the caller's inputs are never
        # bufferized in place: without this, one-shot-bufferize lets in-place ops such as
        # index_put/scatter write into the caller's arrays (docs/interfaces.md).
        # Only the inputs the caller asked to update in place (Graph.inplace_inputs) are writable.
        writable = {len(graph.params) + k for k in graph.inplace_inputs}
        f.attributes["arg_attrs"] = ir.ArrayAttr.get(
            [ir.DictAttr.get({"bufferization.writable": ir.BoolAttr.get(i in writable)})
             for i in range(len(arg_specs))])
        entry = f.add_entry_block()
        cx = EmitContext(graph, dialect, index_checks=index_sites is not None)
        for s, a in zip(arg_specs, entry.arguments):
            cx.values[Ref(s.name)] = a
        with ir.InsertionPoint(entry):
            for k, node in enumerate(graph.nodes):
                emit_node(cx, node, table)
                if progress is not None:
                    progress(k)
            results = [cx.value(r) for r in graph.outputs]
            if cx.index_results:
                from mlir.dialects import tensor

                i64 = ir.IntegerType.get_signless(64)
                elems = [tensor.extract(t, []) for pair in cx.index_results for t in pair]
                results.append(tensor.from_elements(
                    ir.RankedTensorType.get([len(cx.index_results), 2], i64), elems))
                f.attributes["function_type"] = ir.TypeAttr.get(
                    ir.FunctionType.get(list(ftype.inputs), [r.type for r in results]))
            func.ReturnOp(results)
        if index_sites is not None:
            index_sites.extend(cx.index_sites)
        return module


def as_value(v: Any) -> ir.Value:
    """Normalize what the binding helpers return (OpView, single-result list) to a Value."""
    if isinstance(v, ir.Value):
        return v
    if isinstance(v, ir.OpView):
        return v.result
    if isinstance(v, ir.Operation):
        return v.result
    if len(v) == 1:  # OpResultList
        return v[0]
    raise TypeError(f"expected one MLIR value, got {v!r}")


def node_location(node: Node) -> ir.Location:
    """`loc("<node name>"("file":line:col))`: the FX node's name around its user source line
    (`loc("<node name>")` alone when the source is unknown). Needs an active context."""
    if node.loc is None:
        return ir.Location.name(node.name)
    return ir.Location.name(node.name, childLoc=ir.Location.file(node.loc.file, node.loc.line, node.loc.col))


def _where(node: Node) -> str:
    return f" at {node.loc}" if node.loc is not None else ""


def emit_node(cx: EmitContext, node: Node, table: Mapping[str, EmitFn]) -> None:
    fn = table.get(node.op)
    if fn is None:
        raise UnsupportedOpError(node.op, node.name, node.stack_trace, cx.dialect, loc=node.loc)
    cx.node = node
    try:
        with node_location(node):  # every op the emitter builds carries the node's source line
            result = fn(cx, bind_args(node))
    except Unsupported as e:
        raise UnsupportedOpError(node.op, node.name, node.stack_trace, cx.dialect, str(e), loc=node.loc) from None
    except UnsupportedOpError:
        raise
    except Exception as e:
        raise LoweringError(f"lowering `{node.op}`{_where(node)} (node `{node.name}`, outputs "
                            f"{[(s.dtype, s.shape) if s else None for s in node.outputs]}) to {cx.dialect} "
                            f"failed: {type(e).__name__}: {e}", node.loc) from e
    results = result if isinstance(result, (list, tuple)) else [result]
    for i, v in enumerate(results):
        if v is None:
            continue
        v = as_value(v)
        spec = node.outputs[i]
        if spec is not None:
            got = ir.RankedTensorType(v.type)
            want = spec_type(spec)
            if got != want:
                raise LoweringError(f"lowering `{node.op}`{_where(node)} (node `{node.name}`) produced {got}, "
                                    f"expected {want}", node.loc)
        cx.values[Ref(node.name, i)] = v
