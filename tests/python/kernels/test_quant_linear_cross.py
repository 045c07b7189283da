"""Quantized linear layers (GGUF Q8_0 / Q4_0 / Q4_1) compiled for aarch64-neon and riscv64-rvv,
run under qemu-user, against the host build of the same module and the float64 reference.

Each target gets one static executable holding, per format, a decode-shaped layer (M = 1:
the streaming GEMV kernel of --buddy-quant-matmul-vectorize, with its row prefetch and
balanced tasks) and a prefill-shaped one (M = 7: dequantize + the GEMM kernel). N = 45 is
not a multiple of any vector width; K = 96 is three 32-element blocks.

Tolerance: the bound of test_quant_linear.py (gamma_(K+8) * sum_k |x_k| (|d q_k| + |m|)),
on each target's output against the float64 reference, and twice it between a target and
the host (two orders of the same f32 sum, each within the bound of the exact value).
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import pytest
import torch

gguf = pytest.importorskip("gguf")

import buddy  # noqa: E402
from buddy import toolchain  # noqa: E402
from buddy.backend import cdriver, targets  # noqa: E402
from buddy.quant import QuantLinear, planes_from_gguf  # noqa: E402

from test_quant_linear import _Lin, _bound, _quantized  # noqa: E402

CROSS = ["aarch64-neon", "riscv64-rvv"]
FORMATS = ("Q8_0", "Q4_0", "Q4_1")
N, K = 45, 96
ROWS = (1, 7)
# Vector code of the quantized kernels in the executable: widening byte loads turned into
# float lanes and vector multiply-adds (names per ISA, as llvm-objdump-22 prints them).
VECTOR = {"aarch64-neon": (["--mattr=+neon"], [r"\tscvtf\tv\d+\.4s", r"\tfmla\tv\d+\.4s"]),
          "riscv64-rvv": (["--mattr=+v"], [r"\tvle8\.v", r"\tvfwcvt\.f\.x\.v", r"\tvfmacc\.v"])}


def _require(target: str) -> None:
    try:
        targets.check_tools(targets.get_target(target), link=True, run=True)
    except toolchain.ToolNotFound as e:
        pytest.skip(str(e))


Case = Tuple[str, int, Any, np.ndarray, np.ndarray, torch.Tensor]


@pytest.fixture(scope="module")
def cases() -> List[Case]:
    """(name, M, imported graph, float64 reference, bound, x) per format and M."""
    import buddy.frontend as bf

    out: List[Case] = []
    for fi, fmt in enumerate(FORMATS):
        planes, deq = _quantized(fmt, N, K, seed=100 + fi)
        mod = _Lin(QuantLinear.from_planes(planes)).eval()
        for m in ROWS:
            x = torch.from_numpy(np.random.default_rng(7 * fi + m).standard_normal((m, K)).astype(np.float32))
            ref = x.numpy().astype(np.float64) @ deq.astype(np.float64).T
            with torch.no_grad():
                graph = bf.import_model(mod, (x,))
            out.append((f"{fmt}_m{m}", m, graph, ref, _bound(x.numpy(), planes, K), x))
    return out


@pytest.fixture(scope="module")
def host_outputs(cases: List[Case], tmp_path_factory: pytest.TempPathFactory) -> Dict[str, np.ndarray]:
    """The same graphs compiled for this machine through the public API."""
    root = tmp_path_factory.mktemp("host")
    res = {}
    for name, _m, graph, _ref, _b, x in cases:
        compiled = buddy.compile(graph, artifact_dir=root / name, progress=False)
        res[name] = np.asarray(compiled(x))
    return res


def _params(graph: Any) -> List[np.ndarray]:
    return [t.detach().contiguous().numpy() for t in graph.param_data.tensors()]


@pytest.mark.parametrize("target", CROSS)
def test_quant_kernels_under_qemu_match_host(target: str, cases: List[Case],
                                             host_outputs: Dict[str, np.ndarray], tmp_path: Path) -> None:
    _require(target)
    objects, entries = [], []
    for name, _m, graph, *_ in cases:
        c = buddy.compile(graph, target=target, name=f"q_{name}", artifact_dir=tmp_path / name, progress=False)
        assert c.manifest["pipeline"]["kernels"], f"{name}: compiled without the kernel pipeline"
        objects.append(c.object_file)
        entries.append((f"_buddy_q_{name}", c.signature))
    exe = cdriver.build_file_executable(objects, entries, tmp_path / "quant", target, openmp=True)
    io = tmp_path / "io"
    io.mkdir()
    for (name, _m, graph, _ref, _b, x), (symbol, sig) in zip(cases, entries):
        cdriver.write_inputs(io, symbol, sig, _params(graph) + [x.numpy()])
    out = cdriver.run_executable(exe, target, args=[io])
    assert out.count("ran ") == len(entries)
    for (name, _m, _g, ref, bound, _x), (symbol, sig) in zip(cases, entries):
        (y,) = cdriver.read_outputs(io, symbol, sig)
        y = np.asarray(y, dtype=np.float64).reshape(ref.shape)
        err = np.abs(y - ref)
        assert (err <= bound).all(), f"{target} {name}: |err| {err.max():.3g} above the bound"
        host = host_outputs[name].astype(np.float64).reshape(ref.shape)
        assert (np.abs(y - host) <= 2 * bound).all(), f"{target} {name}: differs from the host build"

    objdump = Path("/usr/lib/llvm-22/bin/llvm-objdump")
    if not objdump.exists():
        pytest.skip("llvm-objdump-22 not found. Install it with: apt-get install llvm-22")
    flags, needles = VECTOR[target]
    dis = subprocess.run([str(objdump), "-d", *flags, str(exe)], capture_output=True, text=True,
                         check=True).stdout
    for needle in needles:
        assert re.search(needle, dis), f"{needle!r} not in the disassembly of the {target} executable"
