"""Cross targets end to end: the frontend's per-op samples and a tiny LLaMA compiled for
aarch64-neon and riscv64-rvv into static executables (file-based C driver), run under
qemu-user and compared with PyTorch eager; the LLaMA binary holds vector FMA code."""

from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import pytest
import torch

import buddy
from buddy import toolchain
from buddy.backend import cdriver, targets
from buddy.backend.signature import signature_from_mlir

from support import frontend_op_samples as samples  # noqa: E402
from support import model_zoo as zoo  # noqa: E402

CROSS = ["aarch64-neon", "riscv64-rvv"]
# In the LLaMA executable: vector FMAs from the named pipeline's GEMM kernels, and at least
# vector loads / arithmetic from the default stages (LLVM's loop vectorizer on elementwise loops;
# their matmul reductions stay scalar fmadd).
VECTOR_FMA = {"aarch64-neon": (["--mattr=+neon"], [r"fmla\tv\d+\.4s"]),
              "riscv64-rvv": (["--mattr=+v"], [r"vle32\.v", r"vfmacc\.v"])}
VECTOR_ANY = {"aarch64-neon": (["--mattr=+neon"], [r"\tf(mul|add)\tv\d+\.4s"]),
              "riscv64-rvv": (["--mattr=+v"], [r"vle32\.v", r"vf(mul|add|macc)\.v"])}
# Ops whose samples are compiled per function; the batch splits into this many objects.
CHUNKS = 4


def _require(target: str) -> None:
    try:
        targets.check_tools(targets.get_target(target), link=True, run=True)
    except toolchain.ToolNotFound as e:
        pytest.skip(str(e))


def _np(t: torch.Tensor) -> np.ndarray:
    t = t.detach().contiguous()
    return t.view(torch.uint16).numpy() if t.dtype == torch.bfloat16 else t.numpy()


def _torch(a: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    t = torch.from_numpy(np.asarray(a, order="C"))
    if like.dtype == torch.bool and t.dtype == torch.int8:
        assert bool(((t == 0) | (t == 1)).all()), "bool output holds values other than 0/1"
        return t.bool()
    return t.view(torch.bfloat16) if like.dtype == torch.bfloat16 else t


class OpCase:
    """One sample case imported to MLIR, with its eager inputs/outputs."""

    def __init__(self, op: str, dtype: torch.dtype, k: int) -> None:
        from torch.fx.experimental.proxy_tensor import make_fx
        import buddy.frontend as bf

        s = samples.SAMPLES[op]
        self.op, self.dtype, self.k = op, dtype, k
        self.id = f"{op}[{str(dtype).replace('torch.', '')},{k}]"
        fn, args = s.cases[k](dtype, torch.Generator().manual_seed(1000 + k))
        self.graph = bf.import_fx(make_fx(fn)(*args), args)
        want = fn(*args)
        self.want = list(want) if isinstance(want, (tuple, list)) else [want]
        # bool tensors are i8 (0/1) in the module (docs/interfaces.md)
        self.arrays = [_np(t) for t in self.graph.param_data.tensors()] + \
                      [_np(a) for a in args if isinstance(a, torch.Tensor)]
        self.arrays = [a.view(np.int8) if a.dtype == np.bool_ else a for a in self.arrays]
        atol, rtol = samples.TOL.get(self.want[0].dtype, (0, 0))
        self.atol, self.rtol = s.atol or atol, rtol


# f16/bf16 code calls soft-float conversions (__extendhfsf2, __truncsfbf2...) that the Debian
# riscv64 cross libgcc (12) lacks; those dtypes are covered natively by test_frontend_ops.py.
HALF = re.compile(r"\bb?f16\b")
CROSS_DTYPES = (torch.float32, torch.float64, torch.int32, torch.int64, torch.bool, torch.int8,
                torch.int16)


def _op_cases() -> Tuple[List[OpCase], Dict[str, str]]:
    """Every value-checked sample case of every op, in its first dtype."""
    cases, skipped = [], {}
    for op, s in samples.SAMPLES.items():
        if not s.check_values or s.dtypes[0] not in CROSS_DTYPES:
            continue
        for k in range(len(s.cases)):
            dtype = s.dtypes[0]
            try:
                case = OpCase(op, dtype, k)
            except Exception as e:  # the frontend's own tests report these
                skipped[f"{op}[{dtype},{k}]"] = f"{type(e).__name__}: {e}"[:200]
                continue
            if HALF.search(case.graph.module.mlir_text):  # e.g. a cast through f16 inside the op
                skipped[case.id] = "computes in f16/bf16"
            else:
                cases.append(case)
    return cases, skipped


def _merge(cases: List[OpCase], first: int) -> Tuple[str, List[Tuple[str, int]]]:
    """One module holding every case's @forward renamed to @op<i>; (func, num_params) each."""
    from mlir import ir

    ctx = ir.Context()
    funcs, keep = [], []
    with ctx, ir.Location.unknown():
        merged = ir.Module.create()
        for i, c in enumerate(cases, start=first):
            m = ir.Module.parse(c.graph.module.mlir_text)
            keep.append(m)
            ops = list(m.body.operations)
            if [o.operation.name for o in ops] != ["func.func"]:
                raise ValueError(f"{c.id}: module holds {[o.operation.name for o in ops]}, "
                                 "expected one func.func")
            ops[0].attributes["sym_name"] = ir.StringAttr.get(f"op{i}")
            ops[0].operation.detach_from_parent()
            merged.body.append(ops[0])
            funcs.append((f"op{i}", len(c.graph.params)))
        return str(merged), funcs


@pytest.fixture(scope="module")
def op_cases():
    return _op_cases()


def _check_case(c: OpCase, outs: List[np.ndarray]) -> str | None:
    from buddy.runtime.index_errors import check

    outs = check(outs, c.graph.index_sites)  # the index-check result, as every caller does
    if len(outs) != len(c.want):
        return f"{len(outs)} outputs, eager has {len(c.want)}"
    for o, w in zip(outs, c.want):
        g = _torch(o, w)
        if tuple(g.shape) != tuple(w.shape) or g.dtype != w.dtype:
            return f"got {g.dtype}{list(g.shape)}, eager {w.dtype}{list(w.shape)}"
        try:
            torch.testing.assert_close(g, w, atol=c.atol, rtol=c.rtol, equal_nan=True)
        except AssertionError as e:
            return str(e).splitlines()[0] + " " + " ".join(str(e).splitlines()[1:3])
    return None


@pytest.mark.parametrize("target", CROSS)
def test_op_suite_under_qemu_matches_eager(target, op_cases, tmp_path):
    _require(target)
    cases, skipped = op_cases
    assert len(cases) > 300, f"only {len(cases)} cases imported; skipped: {list(skipped)[:10]}"
    step = (len(cases) + CHUNKS - 1) // CHUNKS
    chunks = [_merge(cases[first:first + step], first) for first in range(0, len(cases), step)]
    entries = [(f"_buddy_{fn}", signature_from_mlir(text, fn, n)) for text, funcs in chunks
               for fn, n in funcs]

    def build(k: int) -> Path:  # one object per chunk, two at a time (the tools are processes)
        text, funcs = chunks[k]
        return buddy.compile(text, target=target, func=funcs[0][0], num_params=funcs[0][1],
                             artifact_dir=tmp_path / f"chunk{k}", progress=False).object_file

    with ThreadPoolExecutor(2) as pool:
        objects = list(pool.map(build, range(len(chunks))))
    # Kernels are on by default: the objects call the OpenMP runtime (serial shim on cross).
    exe = cdriver.build_file_executable(objects, entries, tmp_path / "ops", target, openmp=True)
    io = tmp_path / "io"
    io.mkdir()
    for c, (symbol, sig) in zip(cases, entries):
        cdriver.write_inputs(io, symbol, sig, c.arrays)
    out = cdriver.run_executable(exe, target, args=[io])
    assert out.count("ran ") == len(entries)
    failures = {}
    for c, (symbol, sig) in zip(cases, entries):
        err = _check_case(c, cdriver.read_outputs(io, symbol, sig))
        if err:
            failures[c.id] = err
    print(f"\n{target}: {len(cases) - len(failures)}/{len(cases)} op cases match eager "
          f"({len({c.op for c in cases})} ops); left out: {skipped}")
    assert not failures, "\n".join(f"{k}: {v}" for k, v in failures.items())


@pytest.fixture(scope="module")
def llama_graph():
    import buddy.frontend as bf

    m = zoo.LlamaLogits(zoo.tiny_llama()).eval()
    ids = torch.randint(0, zoo.VOCAB, (1, 7), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = m(ids)
    return bf.import_model(m, (ids,)), ids, want


@pytest.mark.parametrize("pipeline", ["stages", "kernels"])
@pytest.mark.parametrize("target", CROSS)
def test_tiny_llama_under_qemu_matches_eager(target, pipeline, llama_graph, tmp_path):
    """Default stages and the named `--buddy-cpu-pipeline` (its OpenMP calls go to the serial
    runtime shim); the kernels' GEMMs must show vector FMAs in the executable."""
    _require(target)
    graph, ids, want = llama_graph
    kernels = pipeline == "kernels"
    m = buddy.compile(graph, target=target, kernels=kernels, artifact_dir=tmp_path / "art",
                      progress=False)
    entries = [("_buddy_forward", m.signature)]
    exe = cdriver.build_file_executable([m.object_file], entries, tmp_path / "llama", target,
                                        openmp=kernels)
    info = subprocess.run(["file", str(exe)], capture_output=True, text=True).stdout
    if info:
        assert "statically linked" in info
    io = tmp_path / "io"
    io.mkdir()
    cdriver.write_inputs(io, "_buddy_forward", m.signature,
                         [_np(t) for t in graph.param_data.tensors()] + [_np(ids)])
    cdriver.run_executable(exe, target, args=[io])
    from buddy.runtime.index_errors import check

    (logits,) = check(cdriver.read_outputs(io, "_buddy_forward", m.signature), m.index_sites)
    zoo.close([logits], [want])

    objdump = Path("/usr/lib/llvm-22/bin/llvm-objdump")
    if not objdump.exists():
        pytest.skip("llvm-objdump-22 not found. Install it with: apt-get install llvm-22")
    flags, needles = VECTOR_FMA[target] if kernels else VECTOR_ANY[target]
    dis = subprocess.run([str(objdump), "-d", *flags, str(exe)], capture_output=True, text=True,
                         check=True).stdout
    for needle in needles:
        assert re.search(needle, dis), \
            f"{needle!r} not in the disassembly of the {target} LLaMA executable ({pipeline})"
