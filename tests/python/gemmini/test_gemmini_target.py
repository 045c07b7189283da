"""`buddy compile -t riscv64-gemmini` and `buddy run` as a user types them (issue 15).

A quantized MLP (``buddy.gemmini.quantize`` + ``buddy.gemmini.emit.model_mlir``, the entry
named ``forward``, its output argument marked ``{buddy.output}``) is written to model.mlir in
a working directory outside the source tree, compiled with ``buddy compile model.mlir -o out
-t riscv64-gemmini [--dataflow os]`` and run with ``buddy run out -i x.npy --save res
--stats`` (``python -m buddy`` subprocesses): the outputs equal ``run_quantized`` bit for bit
and the counters RoccTrap reports are nonzero, with MACs = the sum of the layers' M * N * K.
An f32 matmul, which Gemmini cannot take, stays on the core (plain loops): the run matches
NumPy and executes no Gemmini instruction. Skipped only without llc-22,
riscv64-linux-gnu-g++ or qemu-riscv64-static (the reason names it). The missing-tool errors
(one line naming the tool and its Debian package, no traceback) are checked with that tool
taken out of the toolchain table (``buddy.toolchain.TOOLS``), in-process through
``buddy.cli.main``.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch

from buddy import cli, toolchain
from buddy.gemmini.emit import model_mlir
from buddy.gemmini.quantize import QuantModel, quantize_input, quantize_mlp, run_quantized
from support.gemmini_mlp import make_mlp
from support.user_cli import require_target, run_buddy, user_dir

TARGET = "riscv64-gemmini"
BATCH = 32
SHAPES = {"small": (64, 100, 37, 10), "large": (64, 600, 500, 10)}

F32_MATMUL = """func.func @forward(%x: memref<5x7xf32>, %y: memref<7x3xf32>,
                   %z: memref<5x3xf32> {buddy.output}) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%z : memref<5x3xf32>)
  linalg.matmul ins(%x, %y : memref<5x7xf32>, memref<7x3xf32>) outs(%z : memref<5x3xf32>)
  return
}
"""


def _require() -> None:
    require_target(TARGET)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One compile cache for the module: the simulator objects are built once."""
    return tmp_path_factory.mktemp("buddy-cache")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return user_dir(tmp_path)


def _buddy(cwd: Path, cache: Path, *args: str) -> subprocess.CompletedProcess:
    return run_buddy(cwd, *args, cache=cache)


def _quantized(shape: str) -> tuple[QuantModel, np.ndarray]:
    widths = SHAPES[shape]
    x = torch.randn(BATCH, widths[0], generator=torch.Generator().manual_seed(11))
    q = quantize_mlp(make_mlp(widths, seed=7), x)
    return q, quantize_input(q, x)


def _write_mlp(work: Path, shape: str = "small") -> tuple[QuantModel, np.ndarray]:
    q, x_q = _quantized(shape)
    (work / "model.mlir").write_text(model_mlir(q, BATCH, name="forward"))
    np.save(work / "x.npy", x_q)
    return q, x_q


@pytest.mark.parametrize("shape,dataflow", [("small", "ws"), ("small", "os"), ("large", "ws")])
def test_compile_and_run_a_quantized_mlp(shape, dataflow, work, cache):
    _require()
    q, x_q = _write_mlp(work, shape)
    r = _buddy(work, cache, "compile", "model.mlir", "-o", "out", "-t", TARGET,
               "--dataflow", dataflow)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((work / "out" / "manifest.json").read_text())
    assert manifest["pipeline"]["buddy-opt"] == [
        ["gemmini-pipeline", f"--buddy-gemmini-pipeline=dataflow={dataflow}"]]
    assert "-target-abi=lp64d" in manifest["pipeline"]["llc"]
    assert [s["role"] for s in manifest["signature"]] == ["input", "output"]
    assert ".insn r 0x7b, 3" in (work / "out" / "2-llvm.mlir").read_text()

    r = _buddy(work, cache, "run", "out", "-i", "x.npy", "--save", "res", "--stats")
    assert r.returncode == 0, r.stderr
    want = run_quantized(q, x_q)
    got = np.load(work / "res" / "out0.npy")
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, want)
    assert len(np.unique(got)) > 10  # a real result
    assert f"out0: int8{list(want.shape)}" in r.stdout

    stats = json.loads((work / "res" / "stats.json").read_text())
    macs = sum(BATCH * layer.in_features * layer.out_features for layer in q.layers)
    assert stats["macs"] == macs
    assert stats["traps"] == stats["instructions"] > 0
    assert stats["bytes_in"] > 0 and stats["bytes_out"] == sum(
        BATCH * layer.out_features for layer in q.layers)
    assert stats["funct.compute_accumulated" if dataflow == "ws" else "funct.compute_preloaded"] > 0
    assert f"stats macs {macs}" in r.stdout.splitlines()


def test_an_f32_matmul_stays_on_the_core(work, cache):
    _require()
    (work / "mm.mlir").write_text(F32_MATMUL)
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((5, 7), np.float32), rng.standard_normal((7, 3), np.float32)
    np.save(work / "x.npy", x)
    np.save(work / "y.npy", y)
    r = _buddy(work, cache, "compile", "mm.mlir", "-o", "out", "-t", TARGET)
    assert r.returncode == 0, r.stderr
    assert "0x7b" not in (work / "out" / "2-llvm.mlir").read_text()
    r = _buddy(work, cache, "run", "out", "-i", "x.npy", "y.npy", "--save", "res", "--stats")
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(np.load(work / "res" / "out0.npy"), x @ y, rtol=1e-5, atol=1e-5)
    stats = json.loads((work / "res" / "stats.json").read_text())
    assert stats["instructions"] == stats["macs"] == 0


@pytest.mark.parametrize("text,message", [
    ("func.func @forward(%x: tensor<4x4xi8>) -> tensor<4x4xi8> {\n  return %x : tensor<4x4xi8>\n}\n",
     "only ranked static memrefs"),
    ("func.func @forward(%x: memref<4x4xi8>, %y: memref<4x4xi8>) {\n  return\n}\n",
     "{buddy.output}"),
])
def test_input_that_is_not_memref_level_with_marked_outputs_is_a_clear_error(text, message,
                                                                            work, cache):
    _require()
    (work / "bad.mlir").write_text(text)
    r = _buddy(work, cache, "compile", "bad.mlir", "-o", "out", "-t", TARGET)
    assert r.returncode == 1
    assert message in r.stderr and "Traceback" not in r.stderr


# ------------------------------------------------------------------------- missing tools

@pytest.fixture
def fresh_tools(monkeypatch: pytest.MonkeyPatch, cache: Path) -> Iterator[pytest.MonkeyPatch]:
    """find_tool without its memo (before and after the test), the module's cache."""
    monkeypatch.setenv("BUDDY_CACHE_DIR", str(cache))
    toolchain.find_tool.cache_clear()
    yield monkeypatch
    toolchain.find_tool.cache_clear()


def _remove_tool(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    spec = toolchain.TOOLS[name]
    monkeypatch.setitem(toolchain.TOOLS, name, toolchain.ToolSpec(
        name, spec.install, None, (f"/nonexistent/{name}",)))
    toolchain.find_tool.cache_clear()


def _one_line_error(capsys: pytest.CaptureFixture[str], rc: int, command: str) -> str:
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1, err
    assert err.startswith(f"buddy {command}: error: ") and "Traceback" not in err
    return err


def test_missing_llc22_names_the_tool_and_package(fresh_tools, work, capsys):
    _write_mlp(work)
    _remove_tool(fresh_tools, "llc-22")
    rc = cli.main(["compile", str(work / "model.mlir"), "-o", str(work / "out"), "-t", TARGET])
    err = _one_line_error(capsys, rc, "compile")
    assert "llc-22 not found" in err and "apt-get install llvm-22" in err


@pytest.mark.parametrize("tool,package", [
    ("riscv64-linux-gnu-g++", "apt-get install g++-riscv64-linux-gnu"),
    ("qemu-riscv64-static", "apt-get install qemu-user-static"),
])
def test_missing_run_tool_names_the_tool_and_package(tool, package, fresh_tools, work, capsys):
    _require()
    _write_mlp(work)
    assert cli.main(["compile", str(work / "model.mlir"), "-o", str(work / "out"),
                     "-t", TARGET]) == 0
    capsys.readouterr()
    _remove_tool(fresh_tools, tool)
    rc = cli.main(["run", str(work / "out"), "-i", str(work / "x.npy")])
    err = _one_line_error(capsys, rc, "run")
    assert f"{tool} not found" in err and package in err
