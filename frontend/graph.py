"""Buddy's graph IR: the small, typed graph between FX (Core ATen) and MLIR.

A `Graph` holds parameters (weights/buffers, kept out of the IR as tensors), user inputs,
a topologically ordered list of `Node`s and the output references. Node arguments are
nested Python values in which tensor operands are `Ref`s to a node (or placeholder) output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch

from buddy.runtime.dtypes import DTYPES as _DTYPES

from .source import SourceLoc, source_loc

# From the one dtype table (buddy.runtime.dtypes); includes u8, which the frontend can
# import but the runtime cannot call (check_signature says so at compile time).
TORCH_TO_NAME: Dict[torch.dtype, str] = {r.torch: n for n, r in _DTYPES.items()}
NAME_TO_TORCH: Dict[str, torch.dtype] = {v: k for k, v in TORCH_TO_NAME.items()}
FLOAT_DTYPES = ("f16", "bf16", "f32", "f64")


def dtype_name(dtype: torch.dtype) -> str:
    try:
        return TORCH_TO_NAME[dtype]
    except KeyError:
        raise TypeError(f"Buddy does not support tensors of dtype {dtype}") from None


@dataclass(frozen=True)
class TensorSpec:
    """Name, dtype name (see docs/interfaces.md) and static shape of a tensor."""

    name: str
    dtype: str
    shape: Tuple[int, ...]

    @property
    def torch_dtype(self) -> torch.dtype:
        return NAME_TO_TORCH[self.dtype]

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES


@dataclass(frozen=True)
class ParamSpec(TensorSpec):
    """A parameter or buffer: passed first to @forward, its data lives in the weight file."""


@dataclass(frozen=True)
class Ref:
    """Output `index` of node (or placeholder) `node`."""

    node: str
    index: int = 0


@dataclass
class Node:
    name: str
    op: str                      # ATen overload name, e.g. "aten.add.Tensor"
    target: Any                  # the torch OpOverload
    args: Tuple[Any, ...]
    kwargs: Dict[str, Any]
    outputs: List[Optional[TensorSpec]]  # one per result; None for non-tensor results
    stack_trace: Optional[str] = None
    loc: Optional[SourceLoc] = None      # the user source line (from stack_trace unless given)

    def __post_init__(self) -> None:
        if self.loc is None and self.stack_trace:
            self.loc = source_loc(self.stack_trace)

    def refs(self) -> Iterator[Ref]:
        yield from iter_refs((self.args, tuple(self.kwargs.values())))


def iter_refs(value: Any) -> Iterator[Ref]:
    if isinstance(value, Ref):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from iter_refs(v)


def map_refs(value: Any, fn) -> Any:
    if isinstance(value, Ref):
        return fn(value)
    if isinstance(value, list):
        return [map_refs(v, fn) for v in value]
    if isinstance(value, tuple):
        return tuple(map_refs(v, fn) for v in value)
    return value


@dataclass
class CallConvention:
    """A call of the user's model, `model(*args)`, in terms of @forward (JSON, in the manifest).

    - `args`: per positional argument, ``["input", k]`` (@forward input k), ``["unused"]``
      (a tensor the model ignores), or ``["const", v]`` (a Python value the graph is
      specialized to: a call with another value is refused);
    - `tree`: the output's pytree structure (torch.utils._pytree.treespec_dumps);
    - `leaves`: per leaf, ``["output", j]`` (the captured function's output j, see
      Graph.output_map), ``["arg", i]`` (the caller's own argument i, e.g. an input the model
      mutated and returned), ``["param", name]`` (a parameter or buffer of the model, as it
      is after the call) or ``["const", v]`` (a Python value);
    - `input_mutations` ``[[arg i, output j]]`` and `param_mutations` ``[[name, output j]]``:
      what the model updates in place, written back after every call;
    - `inplace_args` ``[arg i]``: arguments the compiled code itself updates in their buffer
      (`import_model(..., inplace_inputs=...)`): the caller passes them without a copy (or
      gets them written back when a copy could not be avoided)."""

    args: List[List[Any]]
    tree: str
    leaves: List[List[Any]]
    input_mutations: List[List[Any]] = field(default_factory=list)
    param_mutations: List[List[Any]] = field(default_factory=list)
    inplace_args: List[int] = field(default_factory=list)

    def as_dict(self) -> Dict[str, Any]:
        return {"args": self.args, "tree": self.tree, "leaves": self.leaves,
                "input_mutations": self.input_mutations, "param_mutations": self.param_mutations,
                **({"inplace_args": self.inplace_args} if self.inplace_args else {})}

    @staticmethod
    def from_dict(d: Dict[str, Any]) -> "CallConvention":
        return CallConvention(list(d["args"]), str(d["tree"]), list(d["leaves"]),
                              list(d.get("input_mutations", [])), list(d.get("param_mutations", [])),
                              [int(a) for a in d.get("inplace_args", [])])


@dataclass
class Graph:
    params: List[ParamSpec]
    inputs: List[TensorSpec]
    nodes: List[Node]
    outputs: List[Ref]
    param_values: Dict[str, torch.Tensor] = field(default_factory=dict)
    # Inputs mutated in place by the model: (input index, output index holding the new value).
    input_mutations: List[Tuple[int, int]] = field(default_factory=list)
    # Buffers (params) updated in place: (param name, output index holding the new value).
    param_mutations: List[Tuple[str, int]] = field(default_factory=list)
    # The outputs of the captured function in order (mutations first, then the model's own
    # outputs), as indices into `outputs`, which holds each value once: a model that returns
    # one tensor twice (or returns a buffer it updated) gets one result, used twice.
    output_map: Optional[List[int]] = None
    # How a call of the user's model maps onto @forward (set by capture for import_model).
    call: Optional["CallConvention"] = None
    # Inputs that @forward updates in place (writable arguments; their new values are not
    # results): passes/inplace.py, `import_model(..., inplace_inputs=...)`.
    inplace_inputs: List[int] = field(default_factory=list)

    def expand_outputs(self, outs: List[Any]) -> List[Any]:
        """The captured function's outputs (output_map order) from @forward's results."""
        return outs if self.output_map is None else [outs[k] for k in self.output_map]

    def spec(self, ref: Ref) -> TensorSpec:
        return self.specs()[ref]

    def specs(self) -> Dict[Ref, TensorSpec]:
        table: Dict[Ref, TensorSpec] = {Ref(p.name): p for p in self.params}
        table.update({Ref(i.name): i for i in self.inputs})
        for n in self.nodes:
            for k, s in enumerate(n.outputs):
                if s is not None:
                    table[Ref(n.name, k)] = s
        return table

    def output_specs(self) -> List[TensorSpec]:
        specs = self.specs()
        out = []
        for k, r in enumerate(self.outputs):
            s = specs[r]
            out.append(TensorSpec(f"output{k}", s.dtype, s.shape))
        return out

    def users(self) -> Dict[str, int]:
        count: Dict[str, int] = {}
        for n in self.nodes:
            for r in n.refs():
                count[r.node] = count.get(r.node, 0) + 1
        for r in self.outputs:
            count[r.node] = count.get(r.node, 0) + 1
        return count

    def op_names(self) -> List[str]:
        return sorted({n.op for n in self.nodes})

    def __str__(self) -> str:
        lines = [f"graph(params={len(self.params)}, inputs={[ (i.name, i.dtype, i.shape) for i in self.inputs]})"]
        for n in self.nodes:
            outs = ", ".join(f"{s.dtype}{list(s.shape)}" if s else "_" for s in n.outputs)
            lines.append(f"  {n.name} = {n.op}{n.args} -> {outs}")
        lines.append(f"  return {self.outputs}")
        return "\n".join(lines)


def _spec_of(name: str, val: Any) -> Optional[TensorSpec]:
    if isinstance(val, torch.Tensor):
        return TensorSpec(name, dtype_name(val.dtype), tuple(int(d) for d in val.shape))
    return None


def from_fx(gm: torch.fx.GraphModule, param_names: Sequence[Optional[str]],
            param_values: Dict[str, torch.Tensor], example_inputs: Sequence[Any]) -> Graph:
    """Convert a functional Core-ATen FX graph to a `Graph`.

    `param_names[i]` is the parameter name of placeholder i, or None for a user input.
    Placeholders must carry `meta["val"]` (fake tensors), as aot_autograd/make_fx produce.
    Scalar (SymInt) placeholders are specialized to their example value.
    """
    import operator

    params: List[ParamSpec] = []
    inputs: List[TensorSpec] = []
    nodes: List[Node] = []
    env: Dict[str, Any] = {}   # fx node name -> Ref | python value | tuple of Refs
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    for k, n in enumerate(placeholders):
        val = n.meta.get("val", example_inputs[k] if k < len(example_inputs) else None)
        if not isinstance(val, torch.Tensor):
            env[n.name] = int(example_inputs[k]) if k < len(example_inputs) else val
            continue
        shape = tuple(int(d) for d in example_inputs[k].shape) if k < len(example_inputs) else tuple(int(d) for d in val.shape)
        pname = param_names[k] if k < len(param_names) else None
        if pname is not None:
            params.append(ParamSpec(pname, dtype_name(val.dtype), shape))
            env[n.name] = Ref(pname)
        else:
            inputs.append(TensorSpec(n.name, dtype_name(val.dtype), shape))
            env[n.name] = Ref(n.name)

    def lookup(a: Any) -> Any:
        if isinstance(a, torch.fx.Node):
            return env[a.name]
        if isinstance(a, (list, tuple)):
            return type(a)(lookup(x) for x in a)
        if isinstance(a, torch.SymInt):
            return int(a)
        return a

    outputs: List[Ref] = []
    for n in gm.graph.nodes:
        if n.op == "placeholder":
            continue
        if n.op == "get_attr":
            t = getattr(gm, n.target)
            pname = f"_const.{n.target}"
            params.append(ParamSpec(pname, dtype_name(t.dtype), tuple(t.shape)))
            param_values[pname] = t.detach()
            env[n.name] = Ref(pname)
        elif n.op == "call_function" and n.target is operator.getitem:
            base = env[n.args[0].name]
            env[n.name] = base[n.args[1]]
        elif n.op == "call_function":
            val = n.meta.get("val")
            multi = isinstance(val, (tuple, list))
            vals = list(val) if multi else [val]
            outs = [_spec_of(n.name if not multi else f"{n.name}#{i}", v) for i, v in enumerate(vals)]
            if not multi and outs[0] is None:
                # A scalar-producing op (sym_size, _local_scalar_dense...): keep its value if static.
                if isinstance(val, (int, float, bool, torch.SymInt)) and not isinstance(val, torch.Tensor):
                    try:
                        env[n.name] = int(val) if isinstance(val, torch.SymInt) else val
                        continue
                    except Exception:
                        pass
            op_name = str(n.target) if hasattr(n.target, "_schema") else getattr(n.target, "__name__", str(n.target))
            if hasattr(n.target, "_schema") and not op_name.startswith("aten."):
                op_name = f"{n.target.namespace}.{n.target._schema.name.split('::')[-1]}.{n.target._overloadname}"
            nodes.append(Node(n.name, op_name, n.target, lookup(tuple(n.args)),
                              {k: lookup(v) for k, v in n.kwargs.items()}, outs, n.meta.get("stack_trace")))
            env[n.name] = tuple(Ref(n.name, i) for i in range(len(vals))) if multi else Ref(n.name)
        elif n.op == "output":
            flat = n.args[0]
            flat = flat if isinstance(flat, (list, tuple)) else [flat]
            for a in flat:
                r = lookup(a)
                if not isinstance(r, Ref):
                    raise TypeError(f"model output {a} is not a tensor; Buddy only returns tensors")
                outputs.append(r)
        else:
            raise TypeError(f"unexpected FX node {n.op} {n.target}")
    return Graph(params, inputs, nodes, outputs, param_values)
