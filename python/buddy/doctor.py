"""`buddy doctor`: report the toolchain Buddy found, and how to install what
is missing."""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from buddy import __version__
from buddy.toolchain import (
    MLIR_VERSION,
    ToolNotFound,
    find_openmp_runtime,
    find_tool,
    llc_targets,
    tool_version,
)


@dataclass
class Check:
    name: str
    required: bool
    probe: Callable[[], str]  # returns a description, raises ToolNotFound


def _first_line(text: str, needle: str = "") -> str:
    for line in text.splitlines():
        if needle.lower() in line.lower():
            return line.strip()
    return text.splitlines()[0].strip() if text else ""


def _mlir_python() -> str:
    try:
        from mlir import ir  # noqa: F401
        from mlir import execution_engine  # noqa: F401
    except ImportError as e:
        raise ToolNotFound(
            f"MLIR Python bindings not importable ({e}). "
            "Install: pip install xtc-mlir-python-bindings==22.1.8.4"
        ) from e
    import mlir

    return f"mlir package at {Path(mlir.__file__ or mlir.__path__[0]).parent}"


def _versioned(tool: str, needle: str) -> Callable[[], str]:
    def probe() -> str:
        path = find_tool(tool)
        return f"{_first_line(tool_version(path), needle)}  [{path}]"

    return probe


def _llc(tool: str) -> Callable[[], str]:
    def probe() -> str:
        path = find_tool(tool)
        return f"targets: {', '.join(llc_targets(path))}  [{path}]"

    return probe


def _mlir_version() -> str:
    path = find_tool("mlir-opt")
    text = tool_version(path)
    line = _first_line(text, "version")
    if MLIR_VERSION not in text:
        raise ToolNotFound(f"mlir-opt reports '{line}', Buddy pins {MLIR_VERSION}")
    return f"{line}  [{path}]"


def _torch() -> str:
    try:
        import torch
    except ImportError as e:
        raise ToolNotFound("torch not installed. Install: pip install torch==2.13.0") from e
    return f"torch {torch.__version__}"


CHECKS: list[Check] = [
    Check("buddy-opt", True, _versioned("buddy-opt", "buddy")),
    Check("MLIR (mlir-opt)", True, _mlir_version),
    Check("mlir-translate", True, _versioned("mlir-translate", "version")),
    Check("MLIR Python bindings", True, _mlir_python),
    Check("llc (pip)", True, _llc("llc")),
    Check("FileCheck", False, lambda: str(find_tool("FileCheck"))),
    Check("torch", False, _torch),
    Check("host C compiler", True, _versioned("cc", "")),
    Check("OpenMP runtime (libomp)", False, lambda: str(find_openmp_runtime())),
    Check("llc-22 (Debian, RISC-V)", False, _llc("llc-22")),
    Check("aarch64-linux-gnu-gcc", False, _versioned("aarch64-linux-gnu-gcc", "")),
    Check("riscv64-linux-gnu-gcc", False, _versioned("riscv64-linux-gnu-gcc", "")),
    Check("riscv64-linux-gnu-g++ (riscv64-gemmini)", False, _versioned("riscv64-linux-gnu-g++", "")),
    Check("qemu-aarch64-static", False, _versioned("qemu-aarch64-static", "version")),
    Check("qemu-riscv64-static", False, _versioned("qemu-riscv64-static", "version")),
]


def run(strict: bool = False, out=None) -> int:
    """Print one line per check. Returns 1 when a required piece (or, with
    ``strict``, any piece) is missing."""
    out = out or sys.stdout
    print(f"Buddy {__version__} on {platform.machine()} / Python {platform.python_version()}", file=out)
    failed_required = failed_optional = 0
    for check in CHECKS:
        try:
            detail = check.probe()
            print(f"  [ok]      {check.name}: {detail}", file=out)
        except Exception as e:  # noqa: BLE001 - doctor reports every failure, never crashes
            tag = "MISSING" if check.required else "missing"
            if not isinstance(e, ToolNotFound):
                e = f"{type(e).__name__}: {e}"  # type: ignore[assignment]
            print(f"  [{tag}] {check.name}: {e}", file=out)
            if check.required:
                failed_required += 1
            else:
                failed_optional += 1
    if failed_required or (strict and failed_optional):
        return 1
    return 0
