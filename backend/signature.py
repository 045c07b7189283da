"""The argument list of the lowered ``@forward``: params, inputs, then outputs."""

from __future__ import annotations

from typing import Any, Sequence

from .abi import MLIR_ELEMENT_TYPES, ArgSpec


def _spec(role: str, s: Any) -> ArgSpec:
    return ArgSpec(role, str(s.name), str(s.dtype), tuple(int(d) for d in s.shape))


def signature_from_graph(graph: Any) -> list[ArgSpec]:
    """From an ``ImportedGraph`` (``params``, ``inputs``, ``outputs`` TensorSpecs)."""
    sites = getattr(graph, "index_sites", None)
    checks = [ArgSpec("output", "index_errors", "i64", (len(sites), 2))] if sites else []
    return ([_spec("param", p) for p in graph.params]
            + [_spec("input", i) for i in graph.inputs]
            + [_spec("output", o) for o in graph.outputs] + checks)


def signature_from_mlir(text: str, func: str = "forward", num_params: int = 0) -> list[ArgSpec]:
    """From tensor-level MLIR: the first ``num_params`` arguments are params."""
    from mlir import ir

    with ir.Context() as ctx:
        ctx.allow_unregistered_dialects = False
        module = ir.Module.parse(text)
        fn = None
        for op in module.body.operations:
            if op.operation.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value == func:
                fn = op
        if fn is None:
            raise ValueError(f"no func.func @{func} in the module")
        ftype = ir.FunctionType(ir.TypeAttr(fn.attributes["function_type"]).value)
        specs: list[ArgSpec] = []
        for i, t in enumerate(ftype.inputs):
            role = "param" if i < num_params else "input"
            specs.append(_tensor_spec(role, f"arg{i}", t, func))
        for i, t in enumerate(ftype.results):
            specs.append(_tensor_spec("output", f"out{i}", t, func))
    return specs


def _tensor_spec(role: str, name: str, t: Any, func: str) -> ArgSpec:
    from mlir import ir

    try:
        rt = ir.RankedTensorType(t)
    except ValueError:
        raise ValueError(f"@{func}: {role} {name} has type {t}; only ranked static tensors "
                         "are supported") from None
    if not rt.has_static_shape:
        raise ValueError(f"@{func}: {role} {name} has dynamic shape {t}")
    elem = str(rt.element_type)
    if elem not in MLIR_ELEMENT_TYPES:
        raise ValueError(f"@{func}: {role} {name} has unsupported element type {elem}")
    return ArgSpec(role, name, MLIR_ELEMENT_TYPES[elem], tuple(rt.shape))


def check_signature(specs: Sequence[ArgSpec]) -> None:
    roles = [s.role for s in specs]
    order = {"param": 0, "input": 1, "output": 2}
    if [order[r] for r in roles] != sorted(order[r] for r in roles):
        raise ValueError(f"signature must be params, inputs, outputs in order; got {roles}")
    from buddy.runtime.dtypes import check_callable

    for s in specs:
        check_callable(s.dtype, f"{s.role} {s.name!r}")
