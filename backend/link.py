"""Linking model objects: a shared library for the host, static executables for
cross targets (run under qemu)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from buddy.toolchain import find_libomp, find_tool

from . import omp_serial
from .pipeline import run_tool
from .targets import Target


def _runtime_libs(target: Target, openmp: bool) -> list[str]:
    libs = ["-lm"]
    if openmp:
        omp = find_libomp()
        libs = [f"-L{omp.parent}", f"-Wl,-rpath,{omp.parent}", "-l:" + omp.name, *libs]
    return libs


def link_shared(obj: Path, out: Path, target: Target, *, openmp: bool) -> Path:
    """``obj`` -> shared library exporting ``_buddy_forward`` and friends."""
    if not target.is_native:
        raise ValueError(f"target {target.name} is a cross target: link an executable "
                         "(link_executable) and run it under qemu instead of loading a .so")
    cc = find_tool(target.cc)
    run_tool("link", [cc, "-shared", "-fPIC", obj, "-o", out, *_runtime_libs(target, openmp)],
             input_file=obj)
    return out


def link_executable(objs: Sequence[Path], out: Path, target: Target, *,
                    openmp: bool = False, cflags: Sequence[str] = ()) -> Path:
    """Model objects + C sources -> an executable (static for cross targets).

    ``openmp`` links libomp on the host; cross targets get the serial ``omp_serial.py`` C source
    (code from ``--buddy-cpu-pipeline`` calls the OpenMP runtime) and run single-threaded."""
    cc = find_tool(target.cc)
    static = ["-static"] if target.link_static else []
    # Cross toolchains ship no libomp: serial __kmpc_* entry points instead (omp_serial.py).
    serial = [omp_serial.write_source(Path(out).parent)] if openmp and not target.is_native else []
    run_tool("link", [cc, "-O2", *static, *cflags, *objs, *serial, "-o", out,
                      *_runtime_libs(target, openmp and target.is_native)],
             input_file=Path(objs[0]))
    return out
