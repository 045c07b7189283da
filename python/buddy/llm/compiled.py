"""Compiled prefill/decode: `buddy.frontend.import_model` + `buddy.compile`, one weight file.

`CompiledLlama(model)` is a `LlamaRunner` (see generate.py) backed by native code:

* decode graphs are imported with their KV-cache update done in place
  (`import_model(..., inplace_inputs=(2, 3))`): an entry point takes the caches as
  writable inputs and returns only logits. There is one per attended *span*
  (`decode_spans`: 128, 256, ... positions, and max_len), each reading only the first
  `span` rows of the static cache: a step at position p runs the smallest span > p, so a
  short context does not stream the whole max_len-long cache every token. A span is
  compiled on first need (`prepare_decode`, which the Generator calls for the positions
  a generation can reach before it starts);
* one prefill graph per prompt length (bucket), compiled on first use; its caches are
  out-params that the runner points at the *same* cache buffers, so a whole generation
  uses one pair of cache buffers (prefill fills them, decode updates rows in place);
* all graphs read their parameters from ONE weight file (names are shared; the tied
  embedding is a single tensor), memory-mapped by the runtime;
* compiled artifacts live in `buddy.compile`'s content-addressed cache and an index keyed by
  the model's config, weights and Buddy's sources lets a second start skip the import too;
* weights are float32 or bfloat16 (KV cache and logits follow); with `weight_file=` and
  `weights_key=` the model may be a meta-device skeleton (random_weights.py): the weights
  are then only ever read through the file's mmap (the 7B scale check).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .model import KVCacheOverflowError, LlamaStatic, DecodeGraph, PrefillGraph

__all__ = ["CompiledLlama", "CompiledGraph", "ModelSpec", "DECODE_ENTRY", "prefill_entry", "decode_entry",
           "decode_spans"]

# Entry names of the compiled graphs (`_buddy_<entry>`): distinct, so buddy-llama-run links
# them all into one executable. DECODE_ENTRY attends to the whole cache.
DECODE_ENTRY = "llama_decode"
# The shortest decode span: below it, the cache rows read per token are few next to the weights.
MIN_DECODE_SPAN = 128


def decode_spans(max_len: int) -> List[int]:
    """Attended lengths a decode graph is compiled for (on first need): 128, 256, ... below
    max_len, then max_len. A step at position p uses the smallest span > p, so it reads at
    most twice the cache rows it needs (at least MIN_DECODE_SPAN)."""
    out, s = [], MIN_DECODE_SPAN
    while s < max_len:
        out.append(s)
        s *= 2
    return out + [int(max_len)]


def decode_entry(span: int, max_len: int) -> str:
    """Entry name of the decode graph attending to `span` positions (DECODE_ENTRY: all)."""
    return DECODE_ENTRY if span == max_len else f"{DECODE_ENTRY}_{span}"


def prefill_entry(length: int) -> str:
    """Entry name of the prefill graph for prompts of `length` tokens."""
    return f"llama_prefill_{length}"

Progress = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(f"[buddy.llm] {msg}", file=sys.stderr, flush=True)


def _quiet(msg: str) -> None:  # noqa: ARG001
    pass


def _cache_root(cache_dir: Optional[Path]) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("BUDDY_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "buddy"


def _private_tmp(path: Path, tag: str) -> Path:
    """A temporary name next to `path` of this process's own (renamed over `path` when
    complete): two processes writing the same cache file never collide."""
    return path.with_name(f".{path.stem}.{os.getpid()}-{os.urandom(4).hex()}{tag}")


def _package_dir(name: str) -> Path:
    """The folder of package `name`, found without importing it (importing the frontend
    loads the MLIR bindings and torch.fx: seconds a warm start does not need)."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"package {name} is not installed")
    return Path(list(spec.submodule_search_locations)[0]).resolve()


# The buddy.llm modules that decide what is compiled or written to the weight file.
_SHAPING_SOURCES = ("model.py", "compiled.py", "gguf_header.py", "gguf_loader.py", "hf_loader.py",
                    "random_weights.py")


def _sources_digest() -> str:
    """Digest of the Buddy Python sources that shape the compiled code (frontend, backend, llm,
    buddy.quant) and of the buddy-opt binary (path, size, mtime)."""
    h = hashlib.sha256()
    for root in (_package_dir("buddy.frontend"), _package_dir("buddy.backend")):
        for f in sorted(root.rglob("*.py")):
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    here = Path(__file__).resolve().parent
    for name in _SHAPING_SOURCES:  # not the CLI, server or sampling: editing them keeps the cache
        h.update(name.encode())
        h.update((here / name).read_bytes())
    h.update((here.parent / "quant.py").read_bytes())  # QuantLinear / QuantEmbedding and their ops
    from buddy.toolchain import find_tool
    opt = Path(find_tool("buddy-opt"))
    st = opt.stat()
    h.update(f"{opt}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


_LAYOUT_SOURCES = ("model.py", "gguf_loader.py")  # + buddy/quant.py: which tensors, names, planes


def _weights_layout_digest() -> str:
    """Digest of the sources that decide what a GGUF's weight file holds (tensor names, dtypes,
    quantized planes): a weight file written by other code is never reused under their names."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for f in [here / n for n in _LAYOUT_SOURCES] + [here.parent / "quant.py"]:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


# Weight/KV-cache dtypes of the compiled model and their NumPy form (bf16 as raw uint16 bits,
# the ABI's representation).
_CACHE_DTYPES: Dict[torch.dtype, Any] = {torch.float32: np.float32, torch.bfloat16: np.uint16}


def _as_tensor(array: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """A torch view (no copy) of an ABI buffer: uint16 bits are reinterpreted as bfloat16."""
    t = torch.from_numpy(array)
    return t.view(torch.bfloat16) if dtype == torch.bfloat16 else t


def _weights_digest(state: Dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        arr = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy()
        h.update(memoryview(arr.reshape(-1)).cast("B"))
    return h.hexdigest()


class CompiledGraph:
    """One compiled entry point with a prebuilt argument vector (no per-call marshalling).

    Parameters are bound once from the shared weight file; inputs and outputs are persistent
    64-byte aligned buffers that the caller fills/reads (or rebinds with `bind`)."""

    def __init__(self, artifact_dir: Path, weights: Dict[str, np.ndarray]) -> None:
        from buddy import _runtime
        from buddy.backend.abi import NUMPY_DTYPES, ArgSpec, aligned_empty

        self.dir = Path(artifact_dir)
        manifest = json.loads((self.dir / "manifest.json").read_text())
        self.signature = [ArgSpec.from_dict(d) for d in manifest["signature"]]
        symbol = str(manifest["symbol"])
        self._fn = _runtime.Library(str(self.dir / manifest["library"])).function(
            symbol[len("_buddy_"):] if symbol.startswith("_buddy_") else symbol,
            [s for s in self.signature if s.role != "output"],
            [s for s in self.signature if s.role == "output"])
        self.arrays: List[np.ndarray] = []
        for s in self.signature:
            if s.role == "param":
                if s.name not in weights:
                    raise KeyError(f"{self.dir}: parameter {s.name!r} is not in the weight file")
                a = weights[s.name]
                if tuple(a.shape) != s.shape or a.dtype != NUMPY_DTYPES[s.dtype]:
                    raise ValueError(f"{self.dir}: parameter {s.name!r} is {a.dtype}{list(a.shape)}, "
                                     f"the compiled code expects {s.dtype}{list(s.shape)}")
            else:
                a = aligned_empty(s.shape, NUMPY_DTYPES[s.dtype])
            self.arrays.append(a)
        # Checked once; descriptors and the argument vector are built here (buddy._runtime).
        self._bound = self._fn.bind(self.arrays)

    def index(self, role: str, k: int) -> int:
        return [i for i, s in enumerate(self.signature) if s.role == role][k]

    def bind(self, i: int, array: np.ndarray) -> None:
        """Point argument `i` at `array` (C-contiguous, right dtype/shape, kept alive; no copy)."""
        s = self.signature[i]
        try:
            self._bound.set(i, array)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{s.role} {s.name!r}: cannot bind {array.dtype}{list(array.shape)}: {e}") from e
        self.arrays[i] = array

    def __call__(self) -> None:
        self._bound()


@dataclass(frozen=True)
class _DecodeStep:
    """A loaded decode graph of one span and views of its token/position/logits buffers."""
    graph: CompiledGraph
    token: np.ndarray
    pos: np.ndarray
    logits: torch.Tensor


@dataclass(frozen=True)
class ModelSpec:
    """What the compiled graphs and their buffers need to know of a model (kept in the
    cache index, so that a warm start builds no model at all)."""
    n_layers: int
    n_kv: int
    head_dim: int
    max_len: int
    vocab_size: int
    dtype: str  # "float32" | "bfloat16"

    @classmethod
    def of(cls, model: LlamaStatic) -> "ModelSpec":
        # the norms' dtype: float even when the linear layers and the embedding are quantized
        return cls(int(model.n_layers), int(model.n_kv), int(model.head_dim), int(model.max_len),
                   int(model.vocab_size), str(model.model.norm.weight.dtype).removeprefix("torch."))

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, self.dtype)


class CompiledLlama:
    """A `LlamaRunner` running compiled prefill/decode graphs of `model` (a `LlamaStatic`).

    `CompiledLlama.from_gguf(path, max_len)` is the warm-start path of `buddy llama`: keyed
    by the file's identity and a digest of its header, a cache hit builds no eager model and
    dequantizes nothing (it maps the one weight file and the compiled graphs)."""

    def __init__(self, model: LlamaStatic, prefill_lengths: Sequence[int] = (), *,
                 target: str = "host", cache_dir: Optional[Path] = None,
                 progress: bool = True, use_cache: bool = True, opt_level: int = 3,
                 parallel_loops: bool = False, int8_activations: bool = False,
                 weight_file: Optional[Path] = None, weights_key: Optional[str] = None) -> None:
        """`model`'s weights are float32 or bfloat16 (the KV cache and logits then have the
        same dtype). By default they are hashed and written to a weight file in the cache.
        With `weight_file` (an existing Buddy weight file holding every parameter and buffer
        under its `named_parameters()/named_buffers()` name) and `weights_key` (a caller-made
        identity of its contents, e.g. seed + config of random weights), nothing is hashed or
        written and `model` may live on the meta device: graphs are captured from meta
        tensors and the weights are only ever read through the file's mmap."""
        self._options(target, cache_dir, progress, use_cache, opt_level, parallel_loops, int8_activations)
        t0 = time.perf_counter()
        state = {n: t for n, t in list(model.named_parameters()) + list(model.named_buffers())}
        cfg = model.config.to_dict() if hasattr(model.config, "to_dict") else dict(vars(model.config))
        if weight_file is not None:
            if not weights_key:
                raise ValueError("CompiledLlama: weight_file= needs weights_key= (an identity of the "
                                 "file's contents for the compile cache)")
            if not Path(weight_file).is_file():
                raise FileNotFoundError(f"CompiledLlama: weight file {weight_file} does not exist")
            own_state: Optional[Dict[str, torch.Tensor]] = None
            wdigest = hashlib.sha256(f"external:{weights_key}".encode()).hexdigest()
        else:
            meta = [n for n, t in state.items() if t.is_meta]
            if meta:
                raise ValueError(f"CompiledLlama: {len(meta)} weights are on the meta device (e.g. "
                                 f"{meta[0]!r}): pass weight_file= and weights_key=")
            own_state = state
            wdigest = _weights_digest(state)
        key = self._model_key({"config": cfg, "max_len": int(model.max_len), "weights": wdigest})
        # Keyed by the weights alone: any number of compiled variants share one file.
        weights_path = (Path(weight_file) if weight_file is not None
                        else self.root / "llm" / f"weights-{wdigest[:32]}.bwt")
        self._open(ModelSpec.of(model), key, weights_path, model=model, state=own_state, t0=t0,
                   prefill_lengths=prefill_lengths)

    @classmethod
    def from_gguf(cls, path: str | os.PathLike[str], max_len: int, prefill_lengths: Sequence[int] = (), *,
                  dtype: Optional[torch.dtype] = None, target: str = "host",
                  cache_dir: Optional[Path] = None, progress: bool = True, use_cache: bool = True,
                  opt_level: int = 3, parallel_loops: bool = False,
                  int8_activations: bool = False) -> "CompiledLlama":
        """The compiled model of a GGUF file (`dtype` None: its block-quantized linear layers, `buddy.quant.GGUF_TYPES`, run
        quantized; float32/bfloat16: every weight dequantized). The cache key is the file's identity (path, size,
        mtime, inode) plus a SHA-256 of its header, read by the C++ reader; on a hit nothing
        else of the file is read until the weight file's pages are touched. On a miss (or a
        damaged entry) the eager model is loaded, its weights written once, and the graphs
        compiled; later misses of one prefill bucket load the model then. `int8_activations`
        (quantized decode GEMVs, `buddy.compile`'s option): True quantizes x to int8 per block
        (the target needs the kernel: AVX-512 VNNI); the default False keeps f32."""
        from .gguf_header import read_header
        from .model import LlamaStatic

        if dtype is not None and dtype not in _CACHE_DTYPES:
            raise NotImplementedError(f"compiled LLaMA supports float32 and bfloat16 weights, got {dtype}")
        self = cls.__new__(cls)
        self._options(target, cache_dir, progress, use_cache, opt_level, parallel_loops, int8_activations)
        t0 = time.perf_counter()
        header = read_header(path)
        # dtype None: the file's block-quantized linear layers stay quantized (buddy.quant)
        ident = hashlib.sha256(json.dumps({"file": header.identity(), "header": header.header_digest(),
                                           "dtype": "quantized" if dtype is None else str(dtype),
                                           "layout": _weights_layout_digest()},
                                          sort_keys=True).encode()).hexdigest()
        key = self._model_key({"gguf": ident, "max_len": int(max_len)})
        # The weight file holds the RoPE tables ([max_len, head_dim]), so it is keyed by max_len too:
        # one file per (GGUF, max_len), else a second max_len would load the first one's tables.
        weights_path = self.root / "llm" / f"weights-gguf-{ident[:32]}-len{int(max_len)}.bwt"
        loader = lambda: LlamaStatic.from_gguf(str(path), int(max_len), dtype)  # noqa: E731
        spec = self._cached_spec(key) if use_cache and weights_path.is_file() else None
        act = str(dtype or torch.float32).removeprefix("torch.")  # activations, KV cache, logits
        if spec is not None and spec.max_len == int(max_len) and spec.dtype == act:
            self.report(f"warm start: {Path(path).name} is in the cache (no model is loaded)")
            self._open(spec, key, weights_path, model=None, state=None, t0=t0, loader=loader,
                       prefill_lengths=prefill_lengths)
        else:
            model = loader()
            state = {n: t for n, t in list(model.named_parameters()) + list(model.named_buffers())}
            self._open(ModelSpec.of(model), key, weights_path, model=model, state=state, t0=t0,
                       loader=loader, prefill_lengths=prefill_lengths)
        return self

    # -- setup -------------------------------------------------------------------------
    def _options(self, target: str, cache_dir: Optional[Path], progress: bool, use_cache: bool,
                 opt_level: int, parallel_loops: bool, int8_activations: bool = False) -> None:
        if not isinstance(int8_activations, bool):
            raise TypeError(f"CompiledLlama: int8_activations must be True or False, "
                            f"got {int8_activations!r}")
        self.target = target
        self.int8_activations = int8_activations
        self.use_cache = use_cache
        # The named pipeline outlines each distinct loop nest into its own small function
        # (buddy-outline-loop-nests; the 30 layers share them), so LLVM's -O3 and the OpenMP
        # lowering of every op cost seconds rather than minutes. `parallel_loops` (OpenMP for
        # the ops without a Buddy kernel) is off: at decode they are a few hundred elements
        # each, and a fork/join per op cost more than it saved (42.4 -> 45.3 ms/token on one
        # thread, 59 -> 78 ms CPU on two; SmolLM2-135M, 2026-11-24, loaded 2-core machine).
        self.opt_level = opt_level
        self.parallel_loops = parallel_loops
        self.report: Progress = _stderr if progress else _quiet
        self._progress = progress
        self.root = _cache_root(cache_dir)

    def _model_key(self, identity: Dict[str, Any]) -> str:
        key_src = json.dumps({**identity, "target": self.target, "opt": self.opt_level,
                              "parallel_loops": self.parallel_loops,
                              "int8_activations": self.int8_activations, "sources": _sources_digest()},
                             sort_keys=True, default=str)
        return hashlib.sha256(key_src.encode()).hexdigest()[:32]

    def _read_index(self, path: Path) -> Optional[Dict[str, Any]]:
        try:
            index = json.loads(path.read_text())
            if (not isinstance(index, dict) or not isinstance(index.get("prefill"), dict)
                    or not isinstance(index.get("decode"), dict)):
                raise ValueError("not an index of compiled graphs")
            return index
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:  # damaged: rebuild what it pointed to
            self.report(f"cache index {path} is damaged ({e}); rebuilding it")
            return None

    def _cached_spec(self, key: str) -> Optional[ModelSpec]:
        index = self._read_index(self.root / "llm" / f"{key}.json")
        if index is None or not isinstance(index.get("spec"), dict):
            return None
        try:
            return ModelSpec(**index["spec"])
        except TypeError:
            return None

    def _open(self, spec: ModelSpec, key: str, weights_path: Path, *, model: Optional[LlamaStatic],
              state: Optional[Dict[str, torch.Tensor]], t0: float,
              loader: Optional[Callable[[], LlamaStatic]] = None, prefill_lengths: Sequence[int] = ()) -> None:
        """Map the weight file, allocate the KV cache, load (or compile, concurrently) the
        shortest-span decode graph and the prefill graphs of `prefill_lengths`."""
        if spec.torch_dtype not in _CACHE_DTYPES:
            raise NotImplementedError(f"compiled LLaMA supports float32 and bfloat16 weights, got {spec.dtype}")
        self.spec = spec
        self.max_len = spec.max_len
        self.vocab_size = spec.vocab_size
        self.dtype = spec.torch_dtype
        self._model = model
        self._loader = loader
        self._state = state
        self.key = key
        self.index_path = self.root / "llm" / f"{key}.json"
        self.weights_path = weights_path
        self._index: Dict[str, Any] = {"decode": {}, "prefill": {}}
        self._verified: set[str] = set()  # artifact dirs whose files were checked once
        if self.use_cache:
            self._index = self._read_index(self.index_path) or self._index
        self._index["spec"] = asdict(spec)
        self._ensure_weights()
        self.report(f"model key {self.key[:12]}, weights {self.weights_path} ({time.perf_counter() - t0:.1f}s)")
        shape = (spec.n_layers, spec.n_kv, spec.max_len, spec.head_dim)
        from buddy.backend.abi import aligned_empty
        np_dtype = _CACHE_DTYPES[self.dtype]
        self._k = aligned_empty(shape, np_dtype)
        self._v = aligned_empty(shape, np_dtype)
        self._k[...] = 0
        self._v[...] = 0
        self.k_cache = _as_tensor(self._k, self.dtype)
        self.v_cache = _as_tensor(self._v, self.dtype)
        self._prefill: Dict[int, CompiledGraph] = {}
        self.spans = decode_spans(self.max_len)
        self._decodes: Dict[int, _DecodeStep] = {}
        self._ensure_compiled(self.spans[:1], prefill_lengths)
        self._get_decode(self.spans[0])
        for n in prefill_lengths:
            self._get_prefill(int(n))

    @property
    def model(self) -> LlamaStatic:
        """The eager model: the one given, or (warm start) loaded on the first need of it,
        i.e. when a graph that is not in the cache has to be imported."""
        if self._model is None:
            if self._loader is None:
                raise RuntimeError("CompiledLlama has no model to import a graph from")
            self.report("loading the model (a graph is not in the cache)")
            model = self._loader()
            if ModelSpec.of(model) != self.spec:
                raise RuntimeError(f"the model no longer matches its cache entry: {ModelSpec.of(model)} "
                                   f"!= {self.spec}")
            self._model = model
            self._state = {n: t for n, t in list(model.named_parameters()) + list(model.named_buffers())}
        return self._model

    # -- weights -------------------------------------------------------------------
    def _ensure_weights(self) -> None:
        from buddy.runtime import WeightFileError, open_weight_file

        if self._state is not None and not self.weights_path.is_file():
            self._write_weights()
        try:
            # the data checksum is verified the first time this file is seen (then remembered)
            self._wf = open_weight_file(self.weights_path, memo_dir=self.root / "verified")
        except WeightFileError as e:
            if self._state is None and self._loader is not None:
                _ = self.model  # warm start: the eager model is needed to write the file again
            if self._state is None:  # the caller's own file: never replaced
                raise
            self.report(f"cached weight file is damaged ({e}); writing it again")
            self.weights_path.unlink(missing_ok=True)
            self._write_weights()
            self._wf = open_weight_file(self.weights_path, memo_dir=self.root / "verified")
        self._weights = {n: np.asarray(self._wf[n]) for n in self._wf.names()}

    def _write_weights(self) -> None:
        from buddy.runtime import save_weights

        assert self._state is not None
        self.weights_path.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        tmp = _private_tmp(self.weights_path, ".partial")
        try:
            save_weights(tmp, {n: t.detach().contiguous() for n, t in self._state.items()})
            os.replace(tmp, self.weights_path)
        finally:
            tmp.unlink(missing_ok=True)
        self.report(f"wrote weights in {time.perf_counter() - t0:.1f}s")

    # -- compilation ------------------------------------------------------------------
    def _save_index(self) -> None:
        if not self.use_cache:
            return
        self.index_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _private_tmp(self.index_path, ".tmp")
        try:
            tmp.write_text(json.dumps(self._index, indent=1))
            os.replace(tmp, self.index_path)
        finally:
            tmp.unlink(missing_ok=True)

    def _cached(self, rel: Optional[str]) -> Optional[Path]:
        if not rel:
            return None
        from buddy.backend import cache

        p = Path(rel)
        if not p.exists():
            return None
        if rel in self._verified:  # checked (or compiled) by this process already
            return p
        try:
            cache.check_entry(p)  # sizes and code digests: a damaged entry is rebuilt
        except cache.DamagedEntry as e:
            self.report(f"cached graph {p.name} is damaged ({e}); rebuilding it")
            cache.discard(p)
            return None
        self._verified.add(rel)
        return p

    def _compile(self, what: str, graph: Any, entry: str) -> Path:
        """Compile `graph` with the entry point `_buddy_<entry>` (DECODE_ENTRY, prefill_entry())."""
        import buddy.backend.compiler as bc

        t0 = time.perf_counter()
        self.report(f"compiling {what} ({len(graph.params)} params) for {self.target}")
        # Buddy's kernels run in parallel (OpenMP); with `parallel_loops` the other ops too.
        mod = bc.compile(graph, target=self.target, cache_dir=self.root, use_cache=self.use_cache,
                         progress=self._progress, openmp=self.parallel_loops,
                         kernels=True, int8_activations=self.int8_activations,
                         opt_level=self.opt_level, name=entry,
                         # every graph reads the ONE shared weight file: no copy in the artifact
                         write_weights=False)
        self.report(f"compiled {what} in {time.perf_counter() - t0:.1f}s")
        return mod.artifact_dir

    def _import(self, what: str, module: torch.nn.Module, example: Tuple[Any, ...],
                inplace_inputs: Sequence[int] = ()) -> Any:
        from buddy.frontend import import_model

        t0 = time.perf_counter()
        self.report(f"importing {what}")
        # No index checks: token ids are checked against the vocabulary before every call
        # (Generator), and the graphs keep the signature buddy-llama-run links against.
        # tracer="aot": the prefill/decode views are plain tensor programs, so aot_autograd
        # traces them without Dynamo's bytecode walk over every layer (about half the time).
        g = import_model(module, example, check_indices=False, tracer="aot", inplace_inputs=inplace_inputs)
        for p in g.params:
            if p.name not in self._weights:
                raise KeyError(f"{what}: parameter {p.name!r} is not a model parameter or buffer")
        self.report(f"imported {what}: {len(g.graph.nodes)} ops in {time.perf_counter() - t0:.1f}s")
        return g

    def _example(self, shape: Tuple[int, ...]) -> torch.Tensor:
        """An int64 example input on the model's device (meta for a meta-built model)."""
        return torch.zeros(shape, dtype=torch.int64, device=self.model.model.norm.weight.device)

    def _import_decode(self, span: int) -> Any:
        k, v = self.model.new_cache()
        # The caches (arguments 2, 3) are updated in place, declared at import: @forward
        # writes the new rows into the caller's cache buffers and returns only the logits.
        g = self._import(f"decode graph (span {span})", DecodeGraph(self.model, span),
                         (self._example((1, 1)), self._example((1,)), k, v), inplace_inputs=(2, 3))
        if g.graph.inplace_inputs != [2, 3] or g.graph.input_mutations:
            raise RuntimeError(f"decode graph: expected the caches (inputs 2, 3) to be updated in place, "
                               f"got {g.graph.inplace_inputs} (other updates: {g.graph.input_mutations})")
        return g

    def _import_prefill(self, s: int) -> Any:
        g = self._import(f"prefill graph (S={s})", PrefillGraph(self.model),
                         (self._example((1, s)), self._example((1,))))
        if g.graph.input_mutations:
            raise RuntimeError("prefill graph unexpectedly mutates its inputs")
        return g

    def _ensure_compiled(self, spans: Sequence[int], lengths: Sequence[int]) -> None:
        """Compile whichever of the decode graphs of `spans` and the prefill graphs of
        `lengths` the cache lacks. Imports run one after the other in this thread (they hold the GIL); each
        compile (buddy-opt, llc, link: subprocesses) runs in a worker thread as soon as its
        graph is imported, so one graph compiles while the next is imported."""
        missing: List[Tuple[str, int]] = []
        for t in dict.fromkeys(int(x) for x in spans):
            if t not in self.spans:
                raise ValueError(f"decode span {t} is not one of {self.spans}")
            if t not in self._decodes and self._cached(self._index["decode"].get(str(t))) is None:
                missing.append(("decode", t))
        for s in dict.fromkeys(int(x) for x in lengths):
            if not 1 <= s <= self.max_len:
                raise KVCacheOverflowError(f"prefill of {s} tokens does not fit the KV cache of {self.max_len}")
            if s not in self._prefill and self._cached(self._index["prefill"].get(str(s))) is None:
                missing.append(("prefill", s))
        if not missing:
            return
        from concurrent.futures import ThreadPoolExecutor

        workers = max(1, min(len(missing), os.cpu_count() or 1))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="buddy-compile") as pool:
            jobs = []
            for kind, s in missing:
                if kind == "decode":
                    jobs.append((kind, s, pool.submit(self._compile, f"decode span={s}", self._import_decode(s),
                                                      decode_entry(s, self.max_len))))
                else:
                    jobs.append((kind, s, pool.submit(self._compile, f"prefill S={s}", self._import_prefill(s),
                                                      prefill_entry(s))))
            for kind, s, job in jobs:
                art = job.result()
                self._verified.add(str(art))
                if kind == "decode":
                    self._index["decode"][str(s)] = str(art)
                else:
                    self._index["prefill"][str(s)] = str(art)
        self._save_index()

    def _get_decode(self, span: int) -> "_DecodeStep":
        if span in self._decodes:
            return self._decodes[span]
        self._ensure_compiled((span,), ())
        art = self._cached(self._index["decode"].get(str(span)))
        assert art is not None
        cg = CompiledGraph(art, self._weights)
        cg.bind(cg.index("input", 2), self._k)
        cg.bind(cg.index("input", 3), self._v)
        step = _DecodeStep(cg, cg.arrays[cg.index("input", 0)], cg.arrays[cg.index("input", 1)],
                           _as_tensor(cg.arrays[cg.index("output", 0)], self.dtype))
        self._decodes[span] = step
        return step

    def span_for(self, pos: int) -> int:
        """The decode span that a step at position `pos` runs (the smallest one > pos)."""
        for t in self.spans:
            if pos < t:
                return t
        raise KVCacheOverflowError(f"decode position {pos} is outside the KV cache ({self.max_len})")

    def _get_prefill(self, s: int) -> CompiledGraph:
        if s in self._prefill:
            return self._prefill[s]
        self._ensure_compiled((), (s,))
        art = self._cached(self._index["prefill"].get(str(s)))
        assert art is not None
        cg = CompiledGraph(art, self._weights)
        cg.bind(cg.index("output", 1), self._k)
        cg.bind(cg.index("output", 2), self._v)
        self._prefill[s] = cg
        return cg

    @property
    def decode_graph(self) -> CompiledGraph:
        """The compiled decode graph over the whole cache (entry `_buddy_llama_decode`;
        compiled if missing)."""
        return self._get_decode(self.max_len).graph

    def decode_graph_of(self, span: int) -> CompiledGraph:
        """The compiled decode graph attending to `span` positions, one of `spans` (entry
        `decode_entry(span, max_len)`; compiled if missing)."""
        if int(span) not in self.spans:
            raise ValueError(f"decode span {span} is not one of {self.spans}")
        return self._get_decode(int(span)).graph

    def prepare_decode(self, first: int, last: int) -> None:
        """Compile (or load from the cache) the decode graphs that steps at positions
        `first..last` run, so that none compiles in the middle of a generation."""
        if not 0 <= first <= last < self.max_len:
            raise KVCacheOverflowError(f"decode positions {first}..{last} are outside the KV cache "
                                       f"({self.max_len})")
        lo, hi = self.span_for(first), self.span_for(last)
        need = [t for t in self.spans if lo <= t <= hi]
        self._ensure_compiled(need, ())
        for t in need:
            self._get_decode(t)

    def prefill_graph(self, length: int) -> CompiledGraph:
        """The compiled prefill graph for prompts padded to `length` (compiled if missing)."""
        return self._get_prefill(int(length))

    def prepare(self, length: int) -> None:
        """Compile (or load from the cache) the prefill graph for prompts padded to `length`."""
        self._get_prefill(int(length))

    # -- LlamaRunner -------------------------------------------------------------------
    def new_cache(self) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.k_cache, self.v_cache

    def prefill(self, tokens: torch.Tensor, last: torch.Tensor):
        s = int(tokens.shape[1])
        cg = self._get_prefill(s)
        cg.arrays[cg.index("input", 0)][...] = tokens.numpy()
        cg.arrays[cg.index("input", 1)][...] = last.numpy()
        cg()
        logits = _as_tensor(cg.arrays[cg.index("output", 0)], self.dtype)
        return logits, self.k_cache, self.v_cache

    def decode(self, token: torch.Tensor, pos: torch.Tensor, k_cache: torch.Tensor,
               v_cache: torch.Tensor) -> torch.Tensor:
        if k_cache.data_ptr() != self._k.ctypes.data or v_cache.data_ptr() != self._v.ctypes.data:
            raise ValueError("CompiledLlama.decode updates its own cache buffers in place: pass the "
                             "k_cache/v_cache returned by prefill (or new_cache())")
        p = int(pos.reshape(-1)[0])
        if not 0 <= p < self.max_len:
            raise KVCacheOverflowError(f"decode position {p} is outside the KV cache ({self.max_len})")
        step = self._get_decode(self.span_for(p))
        step.token[...] = token.numpy()
        step.pos[...] = pos.numpy()
        step.graph()
        return step.logits
