"""From tensor-level MLIR to an object file: buddy-opt, mlir-translate, opt, llc.

The buddy-opt pass lists live in C++ only: ``buddy::buildCpuPipeline`` and
``buddy::buildGemminiPipeline`` in midend/lib/Pipelines.cpp, registered as
``--buddy-cpu-pipeline`` and ``--buddy-gemmini-pipeline`` (options in
midend/README.md); the target row's ``pipeline`` picks one. This module only picks
its options (``buddy_opt_flags``: one buddy-opt invocation). Every stage writes its
output into the artifact directory so a failing model can be bisected stage by stage.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
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


GEMMINI_DATAFLOWS = ("ws", "os")


class CompileError(RuntimeError):
    """A pipeline stage failed; the message names the stage, command and file."""


@dataclass(frozen=True)
class PipelineOptions:
    """Knobs that change the generated code (all part of the cache key)."""

    opt_level: int = 3
    # Lower the linalg ops the kernels leave to scf.parallel -> OpenMP (`parallel-loops`).
    openmp: bool = False
    tosa: bool = False  # input uses TOSA: lower it to Linalg first
    # Fuse a*b+c into FMA (fmla / vfmacc / vfmadd) at instruction selection:
    # one rounding instead of two, as PyTorch's own CPU kernels do.
    fp_contract: bool = True
    # Buddy's GEMM/GEMV/conv/pooling kernels and elementwise fusion (`kernels=1`, vector
    # ISA from the target row: kernel_isa). They are parallel, so the object calls the
    # OpenMP runtime even without `openmp`. False: reference lowering, linalg -> loops.
    kernels: bool = True
    # Rename the entry function (from, to) first (`rename-from`/`rename-to`), so the object
    # exports `to`, `_mlir_ciface_<to>` and `_buddy_<to>` instead of the `forward` symbols.
    rename_entry: tuple[str, str] | None = None
    # Quantized decode GEMVs with x quantized to int8 per block and integer block dots
    # (`int8-dot`, the target's int8_dot_kernel; an error on a target without one). False (the
    # default): f32 activations, results to fp32 rounding (docs/quantization.md: why).
    int8_activations: bool = False
    # Gemmini's systolic-array dataflow (`--buddy-gemmini-pipeline` `dataflow`): "ws" (weight
    # stationary) or "os" (output stationary); targets with the "gemmini" pipeline only.
    dataflow: str = "ws"

    def __post_init__(self) -> None:
        if self.opt_level not in (0, 1, 2, 3):
            raise ValueError(f"opt_level must be 0..3, got {self.opt_level}")
        if self.dataflow not in GEMMINI_DATAFLOWS:
            raise ValueError(f"dataflow must be one of {', '.join(GEMMINI_DATAFLOWS)}, "
                             f"got {self.dataflow!r}")
        if not isinstance(self.kernels, bool):
            raise TypeError(f"kernels must be True or False, got {self.kernels!r}")
        if self.rename_entry is not None and not all(
                _C_IDENTIFIER.fullmatch(n) for n in self.rename_entry):
            raise ValueError(f"entry names must be C identifiers, got {self.rename_entry!r}")

    @property
    def uses_openmp_runtime(self) -> bool:
        """Whether the object calls the OpenMP runtime (__kmpc_*): link libomp / omp_serial."""
        return self.openmp or self.kernels


def kernel_isa(target: Target) -> str:
    """The `--buddy-cpu-pipeline` target ISA for a backend target row."""
    if target.triple.startswith("x86_64"):
        return "avx512" if target.vector_bits >= 512 else "avx2" if target.vector_bits >= 256 else "generic"
    if target.triple.startswith("aarch64"):
        return "neon"
    return "generic"


def int8_dot_kernel(target: Target) -> str | None:
    """The `int8-dot` kernel of a target row: AVX-512 VNNI (vpdpbusd), else none."""
    if kernel_isa(target) == "avx512" and "+avx512vnni" in target.features.split(","):
        return "avx512-vnni"
    return None


def _int8_dot(options: PipelineOptions, target: Target) -> str:
    kernel = int8_dot_kernel(target)
    if options.int8_activations is True and kernel is None:
        raise ValueError(f"int8 activations need an integer dot-product kernel; target "
                         f"{target.name!r} ({target.description or target.triple}) has none "
                         f"(AVX-512 VNNI only so far): use int8_activations=False")
    if options.int8_activations is True and not options.kernels:
        raise ValueError("int8 activations are a kernel of --buddy-cpu-pipeline; kernels=False "
                         "(the reference loops) computes in f32: drop one of the two")
    if not options.int8_activations or not options.kernels or kernel is None:
        return "none"
    return kernel


def _gemmini_options(options: PipelineOptions, target: Target) -> list[str]:
    """`--buddy-gemmini-pipeline` options; the CPU pipeline's knobs are errors here."""
    for wanted, knob in ((options.openmp, "openmp (parallel loops)"),
                         (options.int8_activations, "int8 activations"),
                         (options.tosa, "TOSA input")):
        if wanted:
            raise ValueError(f"target {target.name}: {knob} is not an option of the Gemmini "
                             "pipeline (int8 matmuls go to Gemmini, the rest runs as serial loops)")
    if not options.kernels:
        raise ValueError(f"target {target.name} has no CPU kernels to turn off: what Gemmini "
                         "does not take is lowered to loops anyway; drop --no-kernels")
    return [f"dataflow={options.dataflow}"]


def _cpu_options(options: PipelineOptions, target: Target) -> list[str]:
    """`--buddy-cpu-pipeline` options (the target ISA and kernels from the row)."""
    if options.dataflow != PipelineOptions.dataflow:
        raise ValueError(f"dataflow is an option of the Gemmini targets; target {target.name!r} "
                         "has no systolic array")
    opts = [f"target={kernel_isa(target)}", f"kernels={int(options.kernels)}",
            f"parallel-loops={int(options.openmp)}", f"from-tosa={int(options.tosa)}"]
    if (dot := _int8_dot(options, target)) != "none":
        opts.append(f"int8-dot={dot}")
    if target.triple.startswith("riscv64"):
        # qemu-user 7.2 (Debian 12: how RISC-V binaries run here) aborts translating the masked
        # RVV code LLVM expands vector trunc/floor/frem into (decode_save_opc assertion, qemu
        # issue 1441, fixed in 8.1), so on RISC-V the elementwise generics stay scalar loops.
        opts.append("elementwise-vectorize=0")
    return opts


_PIPELINES = {"cpu": _cpu_options, "gemmini": _gemmini_options}


def buddy_opt_stage(target: Target) -> str:
    """The named buddy-opt pipeline of ``target``'s row (also the stage's name)."""
    if target.pipeline not in _PIPELINES:
        raise ValueError(f"target {target.name}: unknown pipeline {target.pipeline!r} "
                         f"(known: {', '.join(_PIPELINES)})")
    return f"{target.pipeline}-pipeline"


def buddy_opt_flags(options: PipelineOptions, target: Target) -> list[str]:
    """The one buddy-opt invocation: `--buddy-<row's pipeline>-pipeline` with its options."""
    stage = buddy_opt_stage(target)
    opts = _PIPELINES[target.pipeline](options, target)
    if options.rename_entry is not None and options.rename_entry[0] != options.rename_entry[1]:
        opts += [f"rename-from={options.rename_entry[0]}", f"rename-to={options.rename_entry[1]}"]
    return [f"--buddy-{stage}=" + " ".join(opts)]


BUDDY_OPT_STAGE, BUDDY_OPT_OUTPUT = "cpu-pipeline", "2-llvm.mlir"


def pipeline_description(options: PipelineOptions, target: Target) -> dict[str, object]:
    """What the manifest (and the cache key) records about the pipeline."""
    return {
        "buddy-opt": [[buddy_opt_stage(target), *buddy_opt_flags(options, target)]],
        "opt": [f"-O{options.opt_level}", *target.codegen_flags()],  # LLVM loop vectorizer
        "llc": llc_flags(target, options),
        "openmp": options.openmp,
        "kernels": options.kernels and target.pipeline == "cpu",
    }


# SelectionDAG store merging searches, for every store, the other stores off the same
# chain: quadratic in the memref-descriptor stores of a whole-model entry function (the
# SmolLM2 decode graph: 23 s of its 25 s in llc, 5.7 s without). The kernels store whole
# vectors, which it has nothing to merge (docs/performance.md, "Compile time").
LLC_NO_STORE_MERGING = "-combiner-store-merging=false"


def llc_flags(target: Target, options: PipelineOptions) -> list[str]:
    fuse = ["-fp-contract=fast"] if options.fp_contract else []
    abi = [f"-target-abi={target.abi}"] if target.abi else []
    return [*target.codegen_flags(), *abi, f"-O{options.opt_level}", *fuse, LLC_NO_STORE_MERGING,
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
    total = 1 + 3  # buddy-opt + translate, opt, llc
    out = workdir / BUDDY_OPT_OUTPUT
    t0 = time.perf_counter()
    stage = buddy_opt_stage(target)
    flags = buddy_opt_flags(options, target)
    try:
        run_tool(stage, [buddy_opt, source, *flags, "-o", out], input_file=source)
    except CompileError as first:
        # MLIR 22 cannot lower some deallocations of several buffers at once (they become i1
        # memrefs, on which finalize-memref-to-llvm asserts). Lower without frees instead: the
        # code is correct but leaks those temporaries on each call, so say so.
        if stage != BUDDY_OPT_STAGE or "integralElementType.getWidth() >= 8" not in str(first):
            raise
        flags = [flags[0] + " deallocation=0", *flags[1:]]
        run_tool(stage, [buddy_opt, source, *flags, "-o", out], input_file=source)
        progress("warning: MLIR 22 cannot lower this model's buffer deallocation; compiled "
                 "without it (each call leaks its temporary buffers)")
    done = 1
    progress(f"{progress_bar(done, total)} {stage:<14} {time.perf_counter() - t0:6.2f}s  -> {out.name}")
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
