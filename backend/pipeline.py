"""From tensor-level MLIR to an object file: buddy-opt, mlir-translate, opt, llc.

The buddy-opt pass list lives in ``buddy_opt_stages`` and nowhere else; when
buddy-opt gains a named pipeline (``--buddy-cpu-pipeline``) that function is
the one place to swap. Every stage writes its output into the artifact
directory so a failing model can be bisected stage by stage.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from buddy.toolchain import find_tool

from .targets import Target, check_tools

Progress = Callable[[str], None]

_C_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def stderr_progress(message: str) -> None:
    print(f"[buddy] {message}", file=sys.stderr, flush=True)


def progress_bar(done: int, total: int, width: int = 10) -> str:
    """`[######----]  6/10`: how far a compilation has come, in stages."""
    fill = round(width * done / max(total, 1))
    return f"[{'#' * fill}{'-' * (width - fill)}] {done:>2}/{total}"


def quiet_progress(message: str) -> None:  # noqa: ARG001 - same signature
    pass


class CompileError(RuntimeError):
    """A pipeline stage failed; the message names the stage, command and file."""


@dataclass(frozen=True)
class PipelineOptions:
    """Knobs that change the generated code (all part of the cache key)."""

    opt_level: int = 3
    openmp: bool = False  # scf.parallel -> OpenMP (host targets, needs libomp)
    tosa: bool = False  # input uses TOSA: lower it to Linalg first
    # Fuse a*b+c into FMA (fmla / vfmacc / vfmadd) at instruction selection:
    # one rounding instead of two, as PyTorch's own CPU kernels do.
    fp_contract: bool = True
    # Use buddy-opt's named `--buddy-cpu-pipeline` (GEMM/GEMV kernels) with this vector ISA
    # (avx512 | avx2 | neon | generic) instead of the generic stages below. Its kernels are
    # parallel (OpenMP, needs libomp); `openmp` then only decides whether the remaining
    # linalg ops become parallel loops too.
    kernels: str | None = None
    # Rename the entry function (from, to) first (`--buddy-rename-entry`), so the object
    # exports `to`, `_mlir_ciface_<to>` and `_buddy_<to>` instead of the `forward` symbols.
    rename_entry: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if self.opt_level not in (0, 1, 2, 3):
            raise ValueError(f"opt_level must be 0..3, got {self.opt_level}")
        if self.kernels not in (None, "avx512", "avx2", "neon", "generic"):
            raise ValueError(f"kernels must be avx512, avx2, neon or generic, got {self.kernels!r}")
        if self.rename_entry is not None and not all(
                _C_IDENTIFIER.fullmatch(n) for n in self.rename_entry):
            raise ValueError(f"entry names must be C identifiers, got {self.rename_entry!r}")


def kernel_isa(target: Target) -> str:
    """The `--buddy-cpu-pipeline` target ISA for a backend target row."""
    if target.triple.startswith("x86_64"):
        return "avx512" if target.vector_bits >= 512 else "avx2" if target.vector_bits >= 256 else "generic"
    if target.triple.startswith("aarch64"):
        return "neon"
    return "generic"


@dataclass(frozen=True)
class Stage:
    """One buddy-opt invocation: its output file name and its pass flags."""

    name: str
    output: str
    flags: tuple[str, ...] = field(default_factory=tuple)


def _rename_flags(options: PipelineOptions) -> tuple[str, ...]:
    if options.rename_entry is None or options.rename_entry[0] == options.rename_entry[1]:
        return ()
    return (f"--buddy-rename-entry=from={options.rename_entry[0]} to={options.rename_entry[1]}",)


def buddy_opt_stages(options: PipelineOptions) -> list[Stage]:
    """THE pass pipeline: tensors -> caller-allocated memrefs -> LLVM dialect."""
    rename = _rename_flags(options)
    if options.kernels is not None:
        flags = (*rename, f"--buddy-cpu-pipeline=target={options.kernels} "
                 f"parallel-loops={int(options.openmp)} from-tosa={int(options.tosa)}",)
        return [Stage("cpu-pipeline", "2-llvm.mlir", flags)]
    to_linalg: tuple[str, ...] = ()
    if options.tosa:
        to_linalg = ("--pass-pipeline=builtin.module(func.func(tosa-to-linalg-named, "
                     "tosa-to-linalg, tosa-to-arith, tosa-to-tensor), canonicalize)",)
    bufferize = Stage("bufferize", "1-bufferized.mlir", (
        *rename,
        "--one-shot-bufferize=bufferize-function-boundaries "
        "function-boundary-type-conversion=identity-layout-map",
        # Outputs become trailing out-params the caller allocates.
        "--buffer-results-to-out-params=modify-public-functions hoist-static-allocs",
        "--buffer-deallocation-pipeline",
        "--convert-bufferization-to-memref",
        "--canonicalize",
        # memref.copy would become a call into MLIR's C runner library.
        "--buddy-memref-copy-to-linalg",
    ))
    # C interfaces for the model's functions only; then one private function per distinct
    # loop nest (--buddy-outline-loop-nests): the later stages and LLVM are superlinear in
    # the size of one function.
    outline = ("--llvm-request-c-wrappers", "--buddy-outline-loop-nests")
    if options.openmp:
        loops: tuple[str, ...] = ("--convert-linalg-to-parallel-loops", *outline,
                                  "--convert-scf-to-openmp")
    else:
        loops = ("--convert-linalg-to-loops", *outline)
    # Row kernels: nothing else lowers the frontend's linalg.softmax on memrefs; 4 lanes fit
    # every target (the named pipeline uses the ISA's width).
    rows = tuple(f"--buddy-{p}-vectorize=vector-width=4 parallel={int(options.openmp)}"
                 for p in ("softmax", "rmsnorm"))
    lower = Stage("lower-to-llvm", "2-llvm.mlir", (
        *rows,
        *loops,
        "--lower-affine",
        "--convert-vector-to-llvm",
        "--convert-math-to-llvm",
        "--convert-math-to-libm",
        "--expand-strided-metadata",
        "--lower-affine",
        # Before scf-to-cf: OpenMP bodies sit in memref.alloca_scope, which
        # must still have a single block when it is lowered.
        "--finalize-memref-to-llvm",
        "--convert-scf-to-cf",
        "--convert-openmp-to-llvm",
        "--convert-arith-to-llvm",
        "--convert-index-to-llvm",
        "--convert-func-to-llvm",
        "--convert-cf-to-llvm",
        "--reconcile-unrealized-casts",
        "--buddy-emit-packed-interface",
    ))
    stages = [bufferize, lower]
    if to_linalg:
        stages.insert(0, Stage("tosa-to-linalg", "0-linalg.mlir", to_linalg))
    return stages


def pipeline_description(options: PipelineOptions, target: Target) -> dict[str, object]:
    """What the manifest (and the cache key) records about the pipeline."""
    return {
        "buddy-opt": [[s.name, *s.flags] for s in buddy_opt_stages(options)],
        "opt": [f"-O{options.opt_level}", *target.codegen_flags()],  # LLVM loop vectorizer
        "llc": llc_flags(target, options),
        "openmp": options.openmp,
    }


def llc_flags(target: Target, options: PipelineOptions) -> list[str]:
    fuse = ["-fp-contract=fast"] if options.fp_contract else []
    return [*target.codegen_flags(), f"-O{options.opt_level}", *fuse,
            "-relocation-model=pic", "-filetype=obj"]


def run_tool(stage: str, cmd: Sequence[str | Path], *, input_file: Path | None = None) -> None:
    """Run one tool; a failure raises CompileError with its stderr."""
    argv = [str(c) for c in cmd]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        where = f" on {input_file}" if input_file else ""
        raise CompileError(
            f"stage '{stage}' failed{where} (exit {proc.returncode}):\n  $ {' '.join(argv)}\n"
            f"{proc.stderr.strip() or proc.stdout.strip()}"
        )


def lower_to_object(
    source: Path,
    workdir: Path,
    target: Target,
    options: PipelineOptions,
    *,
    progress: Progress = stderr_progress,
) -> Path:
    """Run every stage on ``source`` (tensor-level MLIR); returns ``workdir/model.o``."""
    tools = check_tools(target, link=False)
    buddy_opt = find_tool("buddy-opt")
    current = source
    stages = list(buddy_opt_stages(options))
    total = len(stages) + 3  # + translate, opt, llc
    done = 0
    for stage in stages:
        out = workdir / stage.output
        t0 = time.perf_counter()
        run_tool(stage.name, [buddy_opt, current, *stage.flags, "-o", out], input_file=current)
        done += 1
        progress(f"{progress_bar(done, total)} {stage.name:<14} {time.perf_counter() - t0:6.2f}s  -> {out.name}")
        current = out

    steps: list[tuple[str, str, list[str | Path]]] = [
        ("translate", "3-module.ll",
         [find_tool("mlir-translate"), "--mlir-to-llvmir", current]),
        ("opt", "4-opt.ll",
         [tools["opt"], f"-O{options.opt_level}", *target.codegen_flags(), "-S"]),
        ("llc", "model.o", [tools["llc"], *llc_flags(target, options)]),
    ]
    for name, output, cmd in steps:
        out = workdir / output
        t0 = time.perf_counter()
        args = list(cmd) if name == "translate" else [*cmd, current]
        run_tool(name, [*args, "-o", out], input_file=current)
        done += 1
        progress(f"{progress_bar(done, total)} {name:<14} {time.perf_counter() - t0:6.2f}s  -> {out.name}")
        current = out
    return current
