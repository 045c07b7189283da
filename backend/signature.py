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


# On a memref-level function, the unit argument attribute that makes an argument an output
# (the caller allocates it, the function writes it): `%out: memref<4x10xi8> {buddy.output}`.
OUTPUT_ATTR = "buddy.output"


def signature_from_mlir(text: str, func: str = "forward", num_params: int = 0, *,
                        memrefs: bool = False) -> list[ArgSpec]:
    """From tensor-level MLIR: the first ``num_params`` arguments are params, the results
    are the outputs. With ``memrefs``, from memref-level MLIR (the Gemmini pipeline's input):
    every argument is a static identity-layout memref, those marked ``{buddy.output}`` are
    the outputs (after the others), and the function returns nothing."""
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
        if memrefs:
            return _memref_signature(fn, ftype, func, num_params)
        specs: list[ArgSpec] = []
        for i, t in enumerate(ftype.inputs):
            role = "param" if i < num_params else "input"
            specs.append(_static_spec(role, f"arg{i}", t, func, ir.RankedTensorType, "tensors"))
        for i, t in enumerate(ftype.results):
            specs.append(_static_spec("output", f"out{i}", t, func, ir.RankedTensorType, "tensors"))
    return specs


def _memref_signature(fn: Any, ftype: Any, func: str, num_params: int) -> list[ArgSpec]:
    from mlir import ir

    attrs = (list(ir.ArrayAttr(fn.attributes["arg_attrs"])) if "arg_attrs" in fn.attributes
             else [None] * len(ftype.inputs))
    specs: list[ArgSpec] = []
    outputs = 0
    for i, (t, a) in enumerate(zip(ftype.inputs, attrs)):
        is_output = a is not None and OUTPUT_ATTR in ir.DictAttr(a)
        role = "output" if is_output else "param" if i < num_params else "input"
        name = f"out{outputs}" if is_output else f"arg{i}"
        outputs += is_output
        spec = _static_spec(role, name, t, func, ir.MemRefType,
                            "memrefs (memref-level MLIR is the Gemmini pipeline's input)")
        if ir.MemRefType(t).affine_map != ir.AffineMap.get_identity(len(spec.shape)):
            raise ValueError(f"@{func}: {role} {name} has type {t}; only identity-layout "
                             "(row-major, contiguous) memrefs are supported")
        specs.append(spec)
    if len(ftype.results):
        raise ValueError(f"@{func} returns {len(ftype.results)} value(s): a memref-level entry "
                         f"returns nothing and writes its outputs into arguments marked "
                         f"{{{OUTPUT_ATTR}}}")
    if not outputs:
        raise ValueError(f"@{func} has no output: mark each memref argument the function "
                         f"writes as its result with {{{OUTPUT_ATTR}}}")
    return specs


def _static_spec(role: str, name: str, t: Any, func: str, kind: Any, kinds: str) -> ArgSpec:
    try:
        rt = kind(t)
    except ValueError:
        raise ValueError(f"@{func}: {role} {name} has type {t}; only ranked static {kinds} "
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
