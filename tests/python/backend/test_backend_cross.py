"""Cross targets for real: the kernels compiled for aarch64-neon and
riscv64-rvv, linked with the generated C driver into static executables, run
under qemu-user and compared with NumPy; objdump shows the vector code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import buddy
from buddy import toolchain
from buddy.backend import cdriver, targets

from support.backend_kernels import KERNELS, check_outputs  # noqa: E402

CROSS = ["aarch64-neon", "riscv64-rvv"]
# What proves the vectorizer reached each ISA on the x*a+b kernel.
VECTOR_CODE = {
    "aarch64-neon": ("llvm-objdump", [], ["fmla\tv", ".4s"]),
    "riscv64-rvv": ("llvm-objdump-22", ["--mattr=+v"], ["vle32.v", "vfmacc.v"]),
}


def _require(target: str) -> None:
    """Skip (naming the install command) only when a cross tool is missing."""
    t = targets.get_target(target)
    try:
        targets.check_tools(t, link=True, run=True)
    except toolchain.ToolNotFound as e:
        pytest.skip(str(e))


def _objdump(target: str) -> tuple[Path, list[str]]:
    name, flags, _ = VECTOR_CODE[target]
    if name == "llvm-objdump-22":
        path = Path("/usr/lib/llvm-22/bin/llvm-objdump")
        if not path.exists():
            pytest.skip("llvm-objdump-22 not found. Install it with: apt-get install llvm-22")
        return path, flags
    return toolchain.find_tool(name), flags


@pytest.mark.parametrize("kernel", KERNELS, ids=[k.name for k in KERNELS])
@pytest.mark.parametrize("target", CROSS)
def test_cross_executable_under_qemu_matches_numpy(target, kernel, tmp_path):
    _require(target)
    m = buddy.compile(kernel.mlir, target=target, num_params=kernel.num_params,
                      artifact_dir=tmp_path / "art", progress=False)
    assert m.library is None and m.manifest["pipeline"]["openmp"] is False
    exe = cdriver.build_executable(m.object_file, m.signature, tmp_path / "model", target)
    info = subprocess.run(["file", str(exe)], capture_output=True, text=True).stdout
    if info:
        assert "statically linked" in info
        assert ("aarch64" in info) if target.startswith("aarch64") else ("RISC-V" in info)
    out = cdriver.parse_outputs(cdriver.run_executable(exe, target), m.signature)
    check_outputs(kernel, out, cdriver.driver_inputs(m.signature))


@pytest.mark.parametrize("target", CROSS)
def test_cross_vector_instructions_are_emitted(target, tmp_path):
    _require(target)
    fma = next(k for k in KERNELS if k.name == "fma")
    m = buddy.compile(fma.mlir, target=target, artifact_dir=tmp_path / "art", progress=False)
    objdump, flags = _objdump(target)
    dis = subprocess.run([str(objdump), "-d", *flags, str(m.object_file)],
                         capture_output=True, text=True, check=True).stdout
    for needle in VECTOR_CODE[target][2]:
        assert needle in dis, f"{needle!r} not in the {target} disassembly"


def test_cross_library_call_is_refused(tmp_path):
    _require("aarch64-neon")
    fma = next(k for k in KERNELS if k.name == "fma")
    m = buddy.compile(fma.mlir, target="aarch64-neon", artifact_dir=tmp_path / "a",
                      progress=False)
    with pytest.raises(RuntimeError, match="cross target"):
        m(*cdriver.driver_inputs(m.signature))
