"""``buddy.compile`` / ``buddy.load``: model or MLIR in, loadable artifact out.

An artifact directory holds the MLIR after each stage, ``model.o``,
``libmodel.so`` (native targets), the weight file and ``manifest.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from . import cache as cache_mod
from .abi import ArgSpec, as_array
from .link import link_shared
from .pipeline import (PipelineOptions, Progress, lower_to_object, pipeline_description,
                       quiet_progress, stderr_progress)
from .signature import check_signature, signature_from_graph, signature_from_mlir
from .targets import Target, check_tools, get_target

MANIFEST_VERSION = 2  # 2: "files" lists each file's size and SHA-256 (cache.check_entry)
LIBRARY = "libmodel.so"
OBJECT = "model.o"
WEIGHTS = "weights.bwt"


class CompiledModule:
    """A compiled model: call it with NumPy arrays or torch tensors (native targets).

    Calls go through ``buddy._runtime.Function`` (built once, on first call): it checks the
    arguments, allocates the outputs 64-byte aligned and runs the code without the GIL.
    Parameters from the weight file (or ``params``) are converted once and reused."""

    def __init__(self, artifact_dir: Path, manifest: dict[str, Any],
                 params: Mapping[str, Any] | None = None, *, cache_hit: bool = False) -> None:
        self.artifact_dir = Path(artifact_dir)
        self.manifest = manifest
        self.signature = [ArgSpec.from_dict(d) for d in manifest["signature"]]
        self.cache_hit = cache_hit
        self._params = dict(params) if params is not None else None
        self._fn: Any = None
        self._param_list: list[np.ndarray] | None = None
        self._num_inputs = sum(1 for s in self.signature if s.role == "input")
        self._param_index = {s.name: k for k, s in enumerate(self._specs("param"))}
        # How a call of the user's model maps onto the entry point (pytree outputs, in-place
        # updates, unused and constant arguments): frontend.graph.CallConvention, or None for
        # MLIR input (flat inputs -> one array or a tuple).
        self.call: dict[str, Any] | None = manifest.get("call")
        self._tree: Any = None  # the output's TreeSpec, parsed on first call
        # Index checks of the compiled code (buddy.runtime.index_errors): the last output.
        self.index_sites: list[dict[str, Any]] = list(manifest.get("index_checks") or [])

    @property
    def target(self) -> str:
        return str(self.manifest["target"]["name"])

    @property
    def library(self) -> Path | None:
        lib = self.manifest.get("library")
        return self.artifact_dir / lib if lib else None

    @property
    def object_file(self) -> Path:
        return self.artifact_dir / self.manifest["object"]

    def _specs(self, role: str) -> list[ArgSpec]:
        return [s for s in self.signature if s.role == role]

    def _function(self) -> Any:
        """The ``buddy._runtime.Function`` of the entry point (params + inputs -> outputs)."""
        if self._fn is None:
            if self.library is None:
                raise RuntimeError(
                    f"target {self.target} is a cross target: there is no host library to "
                    "call; build an executable with buddy.backend.cdriver and run it under qemu")
            try:
                from buddy import _runtime
            except ImportError as e:
                raise RuntimeError(f"calling {self.library} needs the C++ runtime module "
                                   f"buddy._runtime: {e}") from e
            symbol = str(self.manifest["symbol"])
            if not symbol.startswith("_buddy_"):
                raise ValueError(f"{self.artifact_dir}: manifest symbol {symbol!r} is not _buddy_<f>")
            self._fn = _runtime.Library(str(self.library)).function(
                symbol[len("_buddy_"):], [s for s in self.signature if s.role != "output"],
                self._specs("output"))
        return self._fn

    def _param_arrays(self) -> list[np.ndarray]:
        if self._param_list is not None:
            return self._param_list
        specs = self._specs("param")
        out: list[np.ndarray] = []
        if specs and self._params is None:
            self._params = load_weights(self.artifact_dir / self.manifest["weights"])
        for s in specs:
            assert self._params is not None
            if s.name not in self._params:
                raise KeyError(f"parameter {s.name!r} missing from the weights")
            out.append(as_array(self._params[s.name]))
        mutated = {n for n, _ in (self.call or {}).get("param_mutations", [])}
        for k, s in enumerate(specs):  # a buffer the model updates: the mmap is read-only
            if s.name in mutated and not out[k].flags.writeable:
                out[k] = np.array(out[k])
        self._param_list = out
        return out

    def __call__(self, *inputs: Any) -> Any:
        if self.call is not None:
            return self._call_model(inputs)
        if len(inputs) != self._num_inputs:
            in_specs = self._specs("input")
            raise TypeError(f"model takes {len(in_specs)} inputs "
                            f"({', '.join(s.name for s in in_specs)}), got {len(inputs)}")
        fn = self._fn or self._function()
        params = self._param_list if self._param_list is not None else self._param_arrays()
        outs = _index_checked(fn(*params, *[as_array(x) for x in inputs]), self.index_sites)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _call_model(self, args: Sequence[Any]) -> Any:
        """`model(*args)` as eager runs it: the same arguments, in-place updates written back to
        the caller's tensors and the model's buffers, the output in the model's own structure.
        Tensors come back as torch tensors when any argument is one (zero-copy views of the
        output buffers), else as NumPy arrays."""
        call = self.call
        assert call is not None
        kinds = call["args"]
        if len(args) != len(kinds):
            raise TypeError(f"model takes {len(kinds)} arguments, got {len(args)}")
        inputs: list[Any] = [None] * self._num_inputs
        for pos, (kind, *rest) in enumerate(kinds):
            if kind == "input":
                inputs[rest[0]] = args[pos]
            elif kind == "const" and args[pos] != rest[0]:
                raise ValueError(f"argument {pos} was {rest[0]!r} when the model was compiled, and the "
                                 f"compiled code is specialized to it; got {args[pos]!r}: compile again "
                                 "with this value")
        fn = self._fn or self._function()
        params = self._param_list if self._param_list is not None else self._param_arrays()
        arrays = [as_array(x) for x in inputs]
        inplace = [(pos, kinds[pos][1]) for pos in call.get("inplace_args", [])]
        for pos, k in inplace:  # the compiled code writes into these buffers
            arrays[k] = np.ascontiguousarray(arrays[k])  # a strided view: into a copy, written back
            if not arrays[k].flags.writeable:
                raise ValueError(f"argument {pos} is updated in place by the compiled code and must be "
                                 "writable (got a read-only array)")
        outs = _index_checked(fn(*params, *arrays), self.index_sites)
        for pos, k in inplace:  # a copy was passed (other dtype or layout): the caller's gets it
            if not _same_buffer(arrays[k], args[pos]):
                _write_back(args[pos], arrays[k])
        omap = call.get("output_map")
        if omap is not None:
            outs = [outs[k] for k in omap]
        torch_out = any(type(a).__module__.startswith("torch") for a in args)
        for pos, j in call["input_mutations"]:
            _write_back(args[pos], outs[j])
        if call["param_mutations"]:
            for name, j in call["param_mutations"]:
                np.copyto(params[self._param_index[name]], outs[j])
        leaves: list[Any] = []
        for kind, value in call["leaves"]:
            if kind == "output":
                spec = self._specs("output")[omap[value] if omap is not None else value]
                leaves.append(_as_output(outs[value], spec.dtype, torch_out))
            elif kind == "arg":
                leaves.append(args[value])
            elif kind == "param":  # the model's own tensor (live, or this module's copy)
                live = self._params.get(value) if self._params is not None else None
                leaves.append(live if live is not None and type(live).__module__.startswith("torch")
                              else _as_output(params[self._param_index[value]], "", torch_out))
            else:
                leaves.append(value)
        if self._tree is None:
            from torch.utils._pytree import treespec_loads

            self._tree = treespec_loads(call["tree"])
        if self._tree.num_leaves == 1 and self._tree.is_leaf():
            return leaves[0]
        return self._tree.unflatten(leaves)

    def call_all(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Call with every param and input (signature order, no weight file); returns the outputs.

        For callers that own the parameters (the Dynamo backend passes the live weights)."""
        n = len(self.signature) - len(self._specs("output"))
        if len(arrays) != n:
            raise TypeError(f"{self.manifest['function']} takes {n} params + inputs, "
                            f"got {len(arrays)}")
        return _index_checked((self._fn or self._function())(*[as_array(a) for a in arrays]),
                                  self.index_sites)


def _index_checked(outs: list[np.ndarray], sites: list[dict[str, Any]]) -> list[np.ndarray]:
    """The outputs without the index-check result; IndexError if the code saw a bad index."""
    if not sites:
        return outs
    from buddy.runtime.index_errors import check

    return check(outs, sites)


def _same_buffer(array: np.ndarray, arg: Any) -> bool:
    """Whether `array` (what was passed to the compiled code) is `arg`'s own memory."""
    ptr = arg.data_ptr() if hasattr(arg, "data_ptr") else getattr(getattr(arg, "ctypes", None), "data", None)
    return ptr == array.ctypes.data and getattr(arg, "is_contiguous", lambda: True)() \
        and (not isinstance(arg, np.ndarray) or arg.flags.c_contiguous)


def _write_back(target: Any, value: np.ndarray) -> None:
    """An in-place update of the caller's argument (torch tensor or writable NumPy array)."""
    if isinstance(target, np.ndarray):
        np.copyto(target, value)
        return
    import torch

    if not isinstance(target, torch.Tensor):
        raise TypeError(f"the model updates an argument in place; got a {type(target).__name__}, "
                        "which cannot be updated: pass a torch tensor or a NumPy array")
    src = torch.from_numpy(value)
    target.copy_(src.view(torch.bfloat16) if target.dtype == torch.bfloat16 else src)


def _as_output(value: np.ndarray, dtype: str, torch_out: bool) -> Any:
    """An output buffer as NumPy (bf16 as its uint16 bits, the ABI's form) or as a torch view."""
    if not torch_out:
        return value
    import torch

    t = torch.from_numpy(value)
    return t.view(torch.bfloat16) if dtype == "bf16" else t


def load_weights(path: Path) -> dict[str, Any]:
    """Tensors of a weight file, through the C++ runtime; its data checksum is verified the
    first time this file is seen (``buddy.runtime.open_weight_file``, remembered in the cache)."""
    try:
        from buddy.runtime import open_weight_file
    except ImportError as e:
        raise RuntimeError(f"reading {path} needs the C++ runtime module buddy._runtime: {e}") from e
    wf = open_weight_file(path, memo_dir=cache_mod.cache_dir() / "verified")
    return {name: np.asarray(wf[name]) for name in wf.names()}


def load(artifact_dir: str | Path, params: Mapping[str, Any] | None = None) -> CompiledModule:
    """Open an artifact directory written by :func:`compile`."""
    d = Path(artifact_dir)
    manifest_path = d / cache_mod.MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{d} is not a Buddy artifact: {manifest_path} is missing")
    try:
        manifest = json.loads(manifest_path.read_text())
    except ValueError as e:
        raise ValueError(f"{manifest_path} is not valid JSON ({e}): the artifact is damaged; "
                         "compile it again") from None
    if not isinstance(manifest, dict) or manifest.get("version") not in (1, MANIFEST_VERSION):
        version = manifest.get("version") if isinstance(manifest, dict) else None
        raise ValueError(f"{manifest_path}: manifest version {version} "
                         f"is not {MANIFEST_VERSION}")
    if manifest["version"] >= 2:  # sizes and code digests (version 1 recorded none)
        try:
            cache_mod.check_entry(d)
        except cache_mod.DamagedEntry as e:
            raise ValueError(f"{d} is a damaged Buddy artifact: {e}; compile it again") from None
    return CompiledModule(d, manifest, params)


def _as_graph(model: Any, example_inputs: Sequence[Any] | None) -> tuple[str, Any]:
    """(MLIR text, ImportedGraph or None) for any accepted input."""
    if isinstance(model, Path) or (isinstance(model, str) and "func.func" not in model):
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"MLIR file {path} not found")
        model = path.read_text()
    if isinstance(model, str):
        return model, None
    if hasattr(model, "mlir_text") or hasattr(model, "module"):
        graph = model
    else:
        from buddy.frontend import import_model  # torch.nn.Module

        if example_inputs is None:
            raise ValueError("compiling a torch model needs example_inputs")
        graph = import_model(model, example_inputs)
    text = graph.mlir_text if hasattr(graph, "mlir_text") else str(graph.module)
    return text, graph


def _is_tosa(text: str, graph: Any) -> bool:
    """Whether the input is TOSA: an imported graph says so; MLIR text is parsed and walked
    (a "tosa." in a comment, a name or a location does not count)."""
    dialect = getattr(graph, "dialect", None)
    if dialect is not None:
        return dialect == "tosa"
    if "tosa." not in text:
        return False
    from mlir import ir

    found = False

    def visit(op: Any) -> Any:
        nonlocal found
        if op.name.startswith("tosa."):
            found = True
            return ir.WalkResult.INTERRUPT
        return ir.WalkResult.ADVANCE

    with ir.Context() as ctx:
        ctx.allow_unregistered_dialects = True
        try:
            module = ir.Module.parse(text)
        except Exception:  # noqa: BLE001 - buddy-opt reports the parse error with its location
            return True
        module.operation.walk(visit)
    return found


def _link_sources_digest() -> str:
    """The C sources the linker may add (builtins, serial OpenMP): a fix there is a new key."""
    import hashlib

    from . import builtins, omp_serial

    return hashlib.sha256((builtins.SOURCE + omp_serial.SOURCE).encode()).hexdigest()[:16]


def _call_convention(graph: Any) -> dict[str, Any] | None:
    """The user-call mapping of an imported model (frontend.graph.CallConvention) for the manifest."""
    g = getattr(graph, "graph", None)
    conv = getattr(g, "call", None)
    if conv is None:
        return None
    return {**conv.as_dict(), "output_map": g.output_map}


def _graph_params(graph: Any) -> dict[str, Any] | None:
    """In-memory parameter values of an ImportedGraph (name -> tensor), if it has them."""
    data = getattr(graph, "param_data", None)
    values = getattr(data, "values", None) or getattr(graph, "param_values", None)
    return dict(values) if values else None


def compile(  # noqa: A001 - the public name is buddy.compile
    model: Any,
    example_inputs: Sequence[Any] | None = None,
    target: str | Target = "host",
    opt_level: int = 3,
    *,
    openmp: bool | None = None,
    func: str = "forward",
    name: str | None = None,
    num_params: int = 0,
    use_cache: bool = True,
    cache_dir: str | Path | None = None,
    artifact_dir: str | Path | None = None,
    progress: bool | Progress = True,
    params: Mapping[str, Any] | None = None,
    kernels: bool = True,
    int8_activations: bool = False,
    write_weights: bool = True,
    dataflow: str = "ws",
) -> CompiledModule:
    """Compile a torch model, an ImportedGraph, or tensor-level MLIR (text or file).

    ``target`` is a row of ``buddy.backend.targets`` (``host`` is detected);
    ``openmp`` defaults to on for native targets when libomp is installed
    (``buddy.toolchain.find_openmp_runtime``: $BUDDY_LIBOMP, the pip package cmeel-libomp, the system).
    ``params`` maps param names to arrays (default: the graph's own values).
    ``name`` renames the entry function ``func`` in the compiled code, so the artifact
    exports ``_buddy_<name>`` (manifest "symbol"; default ``_buddy_<func>``) and no
    ``forward`` symbols: several graphs can be linked into one executable.
    ``kernels`` (default True) uses Buddy's GEMM/GEMV/conv/pooling kernels and elementwise
    fusion in ``--buddy-cpu-pipeline`` (vector ISA from the target row, see
    ``pipeline.kernel_isa``); they emit OpenMP, so native targets link libomp and cross
    executables the serial ``omp_serial`` runtime. ``kernels=False`` is the reference
    lowering (linalg -> loops; parallel loops with ``openmp``).
    ``int8_activations=True`` quantizes x to int8 per block of 32 in the quantized (GGUF)
    decode GEMVs and uses the target's integer dot kernel (``pipeline.int8_dot_kernel``:
    AVX-512 VNNI; a ValueError on a target without one). The default False keeps f32
    activations (results to fp32 rounding); docs/quantization.md gives the int8 error bound
    and why f32 is the default.
    A target row with the ``gemmini`` pipeline (``riscv64-gemmini``) takes memref-level MLIR
    (outputs are the arguments marked ``{buddy.output}``, ``signature.OUTPUT_ATTR``; what
    ``buddy.gemmini.emit.model_mlir`` writes), not a torch model; ``dataflow`` is its systolic
    array's dataflow, ``"ws"`` or ``"os"``.
    ``write_weights=False`` leaves the graph's parameters out of the artifact (manifest
    "weights": null): the caller binds them from its own weight file, and parameters on
    the meta device are never materialized (buddy.llm's shared, memory-mapped weights).
    With ``artifact_dir`` the artifact is built there (no cache); otherwise it
    lands in the content-addressed cache (``$BUDDY_CACHE_DIR`` or ~/.cache/buddy).
    """
    if not isinstance(int8_activations, bool):
        raise TypeError(f"buddy.compile: int8_activations must be False (f32 activations, the "
                        f"default) or True (int8, where the target has the kernel), got {int8_activations!r}")
    if not isinstance(kernels, bool):
        raise TypeError(f"buddy.compile: kernels must be True (Buddy's kernels, the default) or "
                        f"False (reference loops), got {kernels!r}; the vector ISA comes from "
                        f"the target (pipeline.kernel_isa)")
    report: Progress = (stderr_progress if progress is True
                        else quiet_progress if progress is False else progress)
    tgt = get_target(target)
    if openmp is None:
        openmp = tgt.is_native and _libomp_available()
    text, graph = _as_graph(model, example_inputs)
    memrefs = tgt.pipeline == "gemmini"
    if memrefs and graph is not None:
        raise ValueError(f"target {tgt.name} compiles memref-level MLIR (int8 linalg matmuls, "
                         "e.g. buddy.gemmini.emit.model_mlir), not an imported torch model")
    entry = name or func
    options = PipelineOptions(opt_level=opt_level, openmp=openmp, tosa=_is_tosa(text, graph), kernels=kernels,
                              int8_activations=int8_activations, dataflow=dataflow,
                              rename_entry=(func, entry) if entry != func else None)
    if params is None and graph is not None:
        params = _graph_params(graph)

    from buddy.toolchain import find_tool

    # Cheap key first (no MLIR parsing, no subprocess): a hit returns at once.
    # The code generators are in the key; the host C compiler is not: it only links the
    # object into a .so (check_tools finds it on a miss), so a cached model runs without one.
    tool_names = [tgt.llc, tgt.opt, "buddy-opt", "mlir-translate"]
    tools = [find_tool(t) for t in tool_names]
    links_omp = tgt.is_native and options.uses_openmp_runtime
    if links_omp:  # the .so records libomp's directory (rpath): another runtime, another key
        from buddy.toolchain import find_libomp

        tools.append(find_libomp())
    pipeline = pipeline_description(options, tgt)
    root = Path(cache_dir) if cache_dir else None
    graph_sig = [s.as_dict() for s in signature_from_graph(graph)] if graph is not None else None
    call = _call_convention(graph)
    sites = list(getattr(graph, "index_sites", None) or [])
    key = cache_mod.cache_key(
        text, tgt.as_dict(), pipeline, tools,
        {"func": func, "num_params": num_params, "signature": graph_sig, "call": call, "index_checks": sites,
         "link_sources": _link_sources_digest(),
         "manifest": MANIFEST_VERSION, **({} if write_weights else {"weights": False})})

    scratch = None
    if artifact_dir is None and use_cache:
        hit = cache_mod.lookup(key, root, report=report)
        module = _load_hit(hit, params, report) if hit is not None else None
        if module is not None:
            return module
        try:
            work = cache_mod.staging_dir(root)
        except OSError as e:  # a read-only or full cache: still compile, leave no trace
            report(f"cache {root or cache_mod.cache_dir()} is not writable ({e.strerror}); "
                   "compiling without it")
            scratch = tempfile.mkdtemp(prefix="buddy-nocache-")
            work = Path(scratch)
    elif artifact_dir is not None:
        work = Path(artifact_dir)
        work.mkdir(parents=True, exist_ok=True)
    else:  # no cache: a private scratch directory, outside the cache, gone with the module
        scratch = tempfile.mkdtemp(prefix="buddy-nocache-")
        work = Path(scratch)

    t0 = time.perf_counter()
    try:
        check_tools(tgt, link=tgt.is_native)
        signature = (signature_from_graph(graph) if graph is not None
                     else signature_from_mlir(text, func, num_params, memrefs=memrefs))
        check_signature(signature)
        src = work / "0-input.mlir"
        src.write_text(text)
        obj = lower_to_object(src, work, tgt, options, progress=report)
        library = None
        if tgt.is_native:
            t1 = time.perf_counter()
            link_shared(obj, work / LIBRARY, tgt, openmp=options.uses_openmp_runtime)
            library = LIBRARY
            report(f"{'link':<14} {time.perf_counter() - t1:6.2f}s  -> {LIBRARY}")
        weights = None
        if write_weights and any(s.role == "param" for s in signature) and graph is not None \
                and hasattr(graph, "write_params"):
            graph.write_params(str(work / WEIGHTS))
            weights = WEIGHTS
        manifest = {
            "version": MANIFEST_VERSION,
            "target": tgt.as_dict(),
            "function": entry,
            "symbol": f"_buddy_{entry}",
            "signature": [s.as_dict() for s in signature],
            "weights": weights,
            "object": obj.name,
            "library": library,
            "pipeline": pipeline,
            "cache_key": key,
            **({"call": call} if call is not None else {}),
            **({"index_checks": sites} if sites else {}),
            "files": cache_mod.file_records(work),
        }
        (work / cache_mod.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    except BaseException:
        if artifact_dir is None:
            shutil.rmtree(work, ignore_errors=True)
        raise
    report(f"{'done':<14} {time.perf_counter() - t0:6.2f}s")
    final = work if artifact_dir is not None or scratch is not None else cache_mod.commit(work, key, root)
    module = CompiledModule(final, manifest, params)
    if scratch is not None:  # the library stays mapped once loaded; the files go with the module
        weakref.finalize(module, shutil.rmtree, scratch, True)
    return module


def _load_hit(entry: Path, params: Mapping[str, Any] | None,
              report: Progress) -> CompiledModule | None:
    """The module of an intact cache entry, its weight data verified (first sight of the file);
    None after discarding an entry whose weights fail their checksum."""
    from buddy.runtime import WeightFileError

    module = load(entry, params)
    if module.manifest.get("weights"):  # checked even when the caller binds its own params:
        try:                            # the entry must stay good for buddy.load / buddy run
            if params is None:
                module._param_arrays()
            else:
                load_weights(entry / module.manifest["weights"])
        except WeightFileError as e:
            report(f"cache entry {entry.name} is damaged ({e}); rebuilding it")
            del module
            cache_mod.discard(entry)
            return None
    report(f"cache hit      {entry}")
    module.cache_hit = True
    return module


def _libomp_available() -> bool:
    from buddy.toolchain import ToolNotFound, find_libomp

    try:
        find_libomp()
        return True
    except ToolNotFound:
        if os.environ.get("BUDDY_LIBOMP"):
            raise  # a wrong $BUDDY_LIBOMP is an error, not a silent switch to serial code
        return False
