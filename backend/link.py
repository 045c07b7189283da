"""Linking model objects: a shared library for the host, static executables for
cross targets (run under qemu)."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Sequence

from buddy.toolchain import ToolNotFound, find_libomp, find_tool

from . import builtins, gemmini_sim, omp_serial
from .pipeline import run_tool
from .targets import Target


def _runtime_libs(target: Target, openmp: bool) -> list[str]:
    libs = ["-lm"]
    if openmp:
        omp = find_libomp()
        libs = [f"-L{omp.parent}", f"-Wl,-rpath,{omp.parent}", "-l:" + omp.name, *libs]
    return libs


def link_shared(obj: Path, out: Path, target: Target, *, openmp: bool) -> Path:
    """``obj`` -> shared library exporting ``_buddy_forward`` and friends.

    ``openmp``: the object calls the OpenMP runtime (Buddy's kernels, on by default, or parallel
    loops): libomp is linked. Without a libomp on this machine the serial ``omp_serial.py``
    entry points are linked in instead (hidden, so they never interpose another library's
    OpenMP), with a warning: the results are the same, on one thread."""
    if not target.is_native:
        raise ValueError(f"target {target.name} is a cross target: link an executable "
                         "(link_executable) and run it under qemu instead of loading a .so")
    cc = find_tool(target.cc)
    with tempfile.TemporaryDirectory(prefix="buddy-link-") as tmp:
        serial: list[str | Path] = []
        if openmp:
            try:
                find_libomp()
            except ToolNotFound as e:
                warnings.warn(f"{e}; linking serial OpenMP entry points instead (Buddy's kernels "
                              "run on one thread)", RuntimeWarning, stacklevel=2)
                serial = ["-fvisibility=hidden", omp_serial.write_source(Path(tmp))]
                openmp = False
        extra = [builtins.write_source(Path(tmp))] if builtins.needed([obj], target) else []
        run_tool("link", [cc, "-shared", "-fPIC", obj, *serial, *extra, "-o", out,
                          *_runtime_libs(target, openmp)], input_file=obj)
    return out


def calls_openmp_runtime(objs: Sequence[Path]) -> bool:
    """Whether any object file references the OpenMP runtime (``__kmpc_*``): Buddy's kernels
    (on by default) and parallel loops do."""
    return any(Path(o).suffix == ".o" and b"__kmpc_" in Path(o).read_bytes() for o in objs)


def simulator_objects(target: Target, scratch: Path) -> list[Path]:
    """The objects of the row's accelerator simulator (none without one)."""
    if not target.simulator:
        return []
    if target.simulator != "gemmini":
        raise ValueError(f"target {target.name}: unknown simulator {target.simulator!r}")
    return gemmini_sim.sim_objects(target, scratch)


def link_executable(objs: Sequence[Path], out: Path, target: Target, *,
                    openmp: bool | None = None, cflags: Sequence[str] = ()) -> Path:
    """Model objects + C sources -> an executable (static for cross targets).

    ``openmp`` links libomp on the host; cross targets get the serial ``omp_serial.py`` C source
    (code from ``--buddy-cpu-pipeline`` calls the OpenMP runtime) and run single-threaded.
    ``None`` (default): whenever an object calls the OpenMP runtime (``calls_openmp_runtime``).
    A row with a ``simulator`` links its objects too (``simulator_objects``)."""
    if openmp is None:
        openmp = calls_openmp_runtime(objs)
    cc = find_tool(target.cc)
    static = ["-static"] if target.link_static else []
    # Cross toolchains ship no libomp: serial __kmpc_* entry points instead (omp_serial.py).
    serial = [omp_serial.write_source(Path(out).parent)] if openmp and not target.is_native else []
    extra = [builtins.write_source(Path(out).parent)] if builtins.needed(objs, target) else []
    extra += simulator_objects(target, Path(out).parent)
    run_tool("link", [cc, "-O2", *static, *cflags, *objs, *serial, *extra, "-o", out,
                      *_runtime_libs(target, openmp and target.is_native)],
             input_file=Path(objs[0]))
    return out
