"""Per-graph entry points: `buddy.compile(name=...)` / `buddy compile --name` export
`_buddy_<name>` and no `forward` symbols, so several compiled graphs link into one
executable (checked with nm, then run against NumPy)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import buddy
from buddy import toolchain
from buddy.backend import cdriver
from buddy.backend.pipeline import CompileError

from support.backend_kernels import FMA, LINEAR_TANH, KERNELS, check_outputs  # noqa: E402

LINEAR = next(k for k in KERNELS if k.name == "linear_tanh")
FMA_K = next(k for k in KERNELS if k.name == "fma")


def _global_defined(obj: Path) -> set[str]:
    """Names of the global symbols an object defines (nm: upper-case type, not U)."""
    out = subprocess.run(["nm", "--defined-only", "--extern-only", str(obj)], capture_output=True,
                         text=True, check=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


def _args(signature, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s.shape).astype(np.float32) for s in signature if s.role != "output"]


@pytest.mark.parametrize("kernels", [False, True], ids=["reference", "kernels"])
def test_two_named_graphs_link_into_one_executable(kernels, tmp_path):
    if kernels:
        try:
            toolchain.find_libomp()
        except toolchain.ToolNotFound as e:
            pytest.skip(f"--buddy-cpu-pipeline code needs libomp: {e}")
    a = buddy.compile(LINEAR_TANH, target="x86-avx2", num_params=1, name="graph_a", openmp=False,
                      kernels=kernels, artifact_dir=tmp_path / "a", progress=False)
    b = buddy.compile(FMA, target="x86-avx2", name="graph_b", openmp=False, kernels=kernels,
                      artifact_dir=tmp_path / "b", progress=False)
    for m, n in ((a, "graph_a"), (b, "graph_b")):
        assert m.manifest["symbol"] == f"_buddy_{n}" and m.manifest["function"] == n
        # The only global definitions are the renamed entry's: nothing can clash.
        assert _global_defined(m.object_file) == {n, f"_mlir_ciface_{n}", f"_buddy_{n}"}
    # Both objects, one executable, each graph checked against NumPy.
    entries = [(a.manifest["symbol"], a.signature), (b.manifest["symbol"], b.signature)]
    exe = cdriver.build_file_executable([a.object_file, b.object_file], entries, tmp_path / "both",
                                        "x86-avx2", openmp=kernels)
    io = tmp_path / "io"
    io.mkdir()
    args_a, args_b = _args(a.signature, 0), _args(b.signature, 1)
    cdriver.write_inputs(io, "_buddy_graph_a", a.signature, args_a)
    cdriver.write_inputs(io, "_buddy_graph_b", b.signature, args_b)
    out = cdriver.run_executable(exe, "x86-avx2", args=[io])
    assert out.split() == ["ran", "_buddy_graph_a", "ran", "_buddy_graph_b"]
    check_outputs(LINEAR, cdriver.read_outputs(io, "_buddy_graph_a", a.signature), args_a)
    check_outputs(FMA_K, cdriver.read_outputs(io, "_buddy_graph_b", b.signature), args_b)
    # The runtime's Function through the manifest's symbol works too.
    params = {a.signature[0].name: args_a[0]}
    check_outputs(LINEAR, buddy.load(a.artifact_dir, params=params)(args_a[1]), args_a)


def test_default_name_is_forward_and_cache_keys_differ(tmp_path):
    cache = tmp_path / "cache"
    plain = buddy.compile(FMA, target="x86-avx2", openmp=False, cache_dir=cache, progress=False)
    named = buddy.compile(FMA, target="x86-avx2", openmp=False, cache_dir=cache, progress=False,
                          name="fma_graph")
    assert plain.manifest["symbol"] == "_buddy_forward"
    assert _global_defined(plain.object_file) == {"forward", "_mlir_ciface_forward", "_buddy_forward"}
    assert named.manifest["symbol"] == "_buddy_fma_graph"
    assert named.artifact_dir != plain.artifact_dir and not named.cache_hit
    assert any("rename-from=forward rename-to=fma_graph" in " ".join(stage)
               for stage in named.manifest["pipeline"]["buddy-opt"])


def test_bad_names_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="C identifiers"):
        buddy.compile(FMA, target="x86-avx2", name="not-an-identifier", progress=False,
                      artifact_dir=tmp_path / "x")
    # A function that is not in the module: buddy-opt's error names it.
    with pytest.raises((CompileError, ValueError), match="no_such_func|no function"):
        buddy.compile(FMA, target="x86-avx2", func="no_such_func", name="x", progress=False,
                      artifact_dir=tmp_path / "y")


def test_cli_compile_name(tmp_path):
    src = tmp_path / "fma.mlir"
    src.write_text(FMA)
    out = tmp_path / "art"
    subprocess.run([sys.executable, "-m", "buddy", "compile", str(src), "-o", str(out), "-t",
                    "x86-avx2", "--no-openmp", "--no-cache", "--name", "cli_graph"],
                   check=True, capture_output=True, text=True)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["symbol"] == "_buddy_cli_graph"
    assert "_buddy_cli_graph" in _global_defined(out / "model.o")
