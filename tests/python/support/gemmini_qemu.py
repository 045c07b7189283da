"""Building and running riscv64 Gemmini executables under qemu-user (test_gemmini_qemu.py,
test_gemmini_mlp.py): the MLIR -> LLVM pipeline after the Gemmini passes, llc-22's flags, the
cross compiler's, RoccTrap.o + Model.o, and the counters RoccTrap reports
(docs/gemmini.md, "Running the riscv64 binary")."""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from buddy._runtime import gemmini
from buddy.toolchain import ToolNotFound, buddy_opt_path, find_tool
from support import gemmini_tiling as gt

ROOT = Path(__file__).resolve().parents[3]
RUNTIME = ROOT / "runtime" / "gemmini"
TO_LLVM = ["--buddy-lower-gemmini", "--convert-scf-to-cf", "--buddy-convert-gemmini-to-llvm",
           "--finalize-memref-to-llvm", "--convert-arith-to-llvm", "--convert-cf-to-llvm",
           "--convert-func-to-llvm",
           "--reconcile-unrealized-casts"]
# Debian's riscv64-linux-gnu-g++ targets rv64gc / lp64d; the kernel object must match.
LLC_FLAGS = ["-mtriple=riscv64-unknown-linux-gnu", "-mattr=+m,+a,+f,+d,+c",
             "-target-abi=lp64d", "-O2", "-filetype=obj"]
CXX_FLAGS = ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror"]


@dataclass(frozen=True)
class Tools:
    cxx: Path
    llc: Path
    qemu: Path
    translate: Path


def _which(name: str) -> Path:
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} not found (apt-get install g++-riscv64-linux-gnu llvm-22 "
                    "qemu-user-static)")
    return Path(found)


def find_tools() -> Tools:
    """The cross toolchain and qemu, or pytest.skip naming the missing one."""
    cxx, qemu = _which("riscv64-linux-gnu-g++"), _which("qemu-riscv64-static")
    try:
        llc = find_tool("llc-22")
    except ToolNotFound as e:
        pytest.skip(str(e))
    return Tools(cxx, llc, qemu, find_tool("mlir-translate"))


def compile_sim(tools: Tools, out: Path) -> list[Path]:
    """RoccTrap.o and Model.o for riscv64 in `out`."""
    objs = []
    for src in (RUNTIME / "sim" / "RoccTrap.cpp", RUNTIME / "lib" / "Model.cpp"):
        obj = out / (src.stem + ".o")
        subprocess.run(["nice", "-n", "10", str(tools.cxx), *CXX_FLAGS,
                        "-I", str(RUNTIME / "include"), "-c", str(src), "-o", str(obj)],
                       check=True)
        objs.append(obj)
    return objs


def kernel_object(tools: Tools, mlir_text: str, tmp: Path, passes: list[str]) -> Path:
    """buddy-opt `passes` + TO_LLVM, mlir-translate, llc-22: tmp/f.o."""
    llvm_mlir = subprocess.run([str(buddy_opt_path()), *passes, *TO_LLVM], input=mlir_text,
                               capture_output=True, text=True, check=True).stdout
    ll = tmp / "f.ll"
    subprocess.run([str(tools.translate), "--mlir-to-llvmir", "-o", str(ll)], input=llvm_mlir,
                   text=True, check=True)
    kernel = tmp / "f.o"
    subprocess.run(["nice", "-n", "10", str(tools.llc), *LLC_FLAGS, str(ll), "-o", str(kernel)],
                   check=True)
    return kernel


def link(tools: Tools, sim: list[Path], driver: Path, kernel: Path, exe: Path,
         defines: tuple[str, ...] = ()) -> Path:
    """The static riscv64 executable of `driver`, the kernel and the simulator objects."""
    subprocess.run(["nice", "-n", "10", str(tools.cxx), *CXX_FLAGS, "-static",
                    "-I", str(RUNTIME / "sim"), *(f"-D{d}" for d in defines), str(driver),
                    str(kernel), *map(str, sim), "-o", str(exe)], check=True)
    return exe


def parse_counters(stdout: str) -> dict[str, int]:
    return {key: int(value) for key, value in (line.split() for line in stdout.splitlines())}


FUNCT_NAMES = {gt.CONFIG: "config", gt.MVIN2: "mvin2", gt.MVIN: "mvin", gt.MVOUT: "mvout",
               gt.COMPUTE_PRELOADED: "compute_preloaded", gt.PRELOAD: "preload",
               gt.COMPUTE_ACCUMULATED: "compute_accumulated", gt.FLUSH: "flush",
               gt.MVIN3: "mvin3"}


def reference_counters(a: np.ndarray, b: np.ndarray, c: np.ndarray, bias: np.ndarray | None,
                       *, scale: float, dataflow: str, bias_per_row: bool,
                       relu: bool = False) -> dict[str, int]:
    """The counters, in the report's keys, of the reference sequence (gemmini_tiling.py) run
    on the host model with copies of the operands."""
    model = gemmini.Model()
    addrs = [model.map(x.copy()) if x is not None else None for x in (a, b, c, bias)]
    m, k = a.shape
    prog = gt.tiled_matmul(addrs[0], addrs[1], addrs[2], addrs[3], m, b.shape[1], k,
                           bias_per_row=bias_per_row, scale=scale, relu=relu,
                           dataflow=gt.WS if dataflow == "ws" else gt.OS)
    model.run(prog)
    cnt = model.counters()
    out = {"traps": len(prog), "instructions": cnt["instructions"], "bytes_in": cnt["bytes_in"],
           "bytes_out": cnt["bytes_out"], "macs": cnt["macs"]}
    out.update({f"funct.{FUNCT_NAMES[f]}": v for f, v in cnt["by_funct"].items() if v})
    return out
