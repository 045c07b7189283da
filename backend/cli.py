"""`buddy compile` and `buddy run`: the backend on the command line."""

from __future__ import annotations

import argparse
import json
import runpy
import shutil
import sys
from pathlib import Path
from typing import Any

from buddy.backend.pipeline import GEMMINI_DATAFLOWS

TARGETS_EPILOG = """\
targets (--target):
{table}

Cross targets (aarch64-neon, riscv64-rvv, riscv64-gemmini) produce an object file;
`buddy run` links it with a generated C driver into a static executable and runs it
under qemu-user. The riscv64 targets need Debian's llc-22 (apt-get install llvm-22).
riscv64-gemmini compiles memref-level MLIR (outputs: arguments marked {{buddy.output}});
its executables link the Gemmini simulator (RoccTrap + the functional model, built
with riscv64-linux-gnu-g++), and `buddy run --stats` prints its counters.
"""


def _epilog() -> str:
    from buddy.backend.targets import describe_targets

    return TARGETS_EPILOG.format(table=describe_targets())


def add_compile_parser(sub: Any) -> None:
    from buddy.cli_args import int_in, target_name

    p = sub.add_parser(
        "compile", help="compile MLIR or a model import script to a native artifact",
        description="Compile tensor-level MLIR (func.func @forward) or a Python import "
                    "script to an artifact directory (.o, .so, stage dumps, manifest.json).",
        epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="a .mlir file, or a .py script defining build_model() that "
                                 "returns (torch.nn.Module, example_inputs), an ImportedGraph "
                                 "or MLIR text")
    p.add_argument("-o", "--output", required=True, help="artifact directory to write")
    p.add_argument("-t", "--target", default="host", type=target_name, help="target name (see below)")
    p.add_argument("-O", "--opt-level", type=int_in(0, 3), default=3, help="LLVM optimization level, 0-3")
    p.add_argument("--name", default=None,
                   help="entry point name: the artifact exports _buddy_<NAME> (default: forward); "
                        "give each graph linked into one executable its own name")
    p.add_argument("--num-params", type=int_in(0), default=0,
                   help="for .mlir input: how many leading @forward arguments are params")
    p.add_argument("--openmp", action=argparse.BooleanOptionalAction, default=None,
                   help="parallel loops with OpenMP (default: on for host targets with libomp)")
    p.add_argument("--kernels", action=argparse.BooleanOptionalAction, default=True,
                   help="Buddy's GEMM/GEMV/conv/pooling kernels and elementwise fusion (default: "
                        "on); --no-kernels is the reference lowering, linalg -> loops")
    p.add_argument("--dataflow", choices=GEMMINI_DATAFLOWS, default=None,
                   help="riscv64-gemmini: the systolic array's dataflow, weight (ws, the "
                        "default) or output (os) stationary")
    p.add_argument("--no-cache", action="store_true", help="do not use the compile cache")
    p.set_defaults(func=cmd_compile)


def add_run_parser(sub: Any) -> None:
    p = sub.add_parser(
        "run", help="run a compiled artifact (natively, or under qemu for cross targets)",
        description="Run an artifact written by `buddy compile` on the model's weights (the "
                    "artifact's weights.bwt) and the inputs given as .npy files, one per model "
                    "input in signature order. Host artifacts are called in-process; cross "
                    "artifacts are linked with a C driver that reads the weights and inputs "
                    "from files, and run under qemu-user.",
        epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("artifact", help="artifact directory")
    p.add_argument("-i", "--inputs", nargs="*", default=None, help=".npy file per input")
    p.add_argument("--save", help="directory to write each output as <name>.npy")
    p.add_argument("--pattern", action="store_true",
                   help="fill whatever has no data (inputs without --inputs, params of an "
                        "artifact without a weight file) with the C driver's deterministic "
                        "test pattern instead of failing")
    p.add_argument("--stats", action="store_true",
                   help="print the accelerator's counters after the outputs (riscv64-gemmini: "
                        "RoccTrap's instructions, funct.<name>, bytes_in, bytes_out, macs; also "
                        "saved as stats.json with --save)")
    p.set_defaults(func=cmd_run)


def _load_input(path: Path) -> Any:
    if path.suffix == ".py":
        ns = runpy.run_path(str(path))
        if "build_model" not in ns:
            raise SystemExit(f"buddy compile: {path} defines no build_model()")
        return ns["build_model"]()
    return path


def _is_artifact(path: Path) -> bool:
    from buddy.backend.cache import MANIFEST

    return (path / MANIFEST).is_file()


def _check_output_dir(out: Path) -> str | None:
    """Why ``buddy compile -o out`` must not write there, or None (absent, empty or an artifact)."""
    if not out.exists():
        return None
    if not out.is_dir():
        return f"{out} exists and is not a directory"
    if _is_artifact(out) or not any(out.iterdir()):
        return None
    return (f"{out} exists and is not a Buddy artifact (no manifest.json): refusing to replace "
            "it and its files; choose a new or empty directory, or an old artifact directory")


def cmd_compile(args: argparse.Namespace) -> int:
    import buddy

    src = Path(args.input)
    if not src.is_file():
        print(f"buddy compile: {src} not found", file=sys.stderr)
        return 1
    out = Path(args.output)
    problem = _check_output_dir(out)
    if problem:  # before the (long) compile
        print(f"buddy compile: {problem}", file=sys.stderr)
        return 1
    built = _load_input(src)
    model, example = (built if isinstance(built, tuple) else (built, None))
    from buddy.backend.pipeline import CompileError

    dataflow = {} if args.dataflow is None else {"dataflow": args.dataflow}
    try:
        module = buddy.compile(model, example, target=args.target, opt_level=args.opt_level,
                               openmp=args.openmp, kernels=args.kernels,
                               num_params=args.num_params, name=args.name,
                               use_cache=not args.no_cache, **dataflow)
    except (ValueError, CompileError) as e:  # the input or an option: no traceback
        print(f"buddy compile: error: {e}", file=sys.stderr)
        return 1
    if out.resolve() != module.artifact_dir.resolve():
        problem = _check_output_dir(out)  # the script may have written there meanwhile
        if problem:
            print(f"buddy compile: {problem}", file=sys.stderr)
            return 1
        if out.exists():  # an old artifact (or an empty directory): replace its contents
            for entry in out.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        shutil.copytree(module.artifact_dir, out, dirs_exist_ok=True)
    print(f"{out}  ({module.target}{', cached' if module.cache_hit else ''})")
    return 0


class RunError(Exception):
    """`buddy run` cannot run: the message says why (missing or mismatched data)."""


def _run_arrays(module: Any, args: argparse.Namespace) -> list[Any]:
    """Every param and input of ``module``, in signature order, checked against it."""
    import numpy as np

    from buddy.backend import cdriver
    from buddy.backend.abi import NUMPY_DTYPES
    from buddy.backend.compiler import load_weights

    specs = [s for s in module.signature if s.role != "output"]
    in_specs = [s for s in specs if s.role == "input"]
    pattern = cdriver.driver_inputs(module.signature)
    patterned: list[str] = []
    weights: dict[str, Any] = {}
    if any(s.role == "param" for s in specs):
        if module.manifest.get("weights"):
            weights = load_weights(module.artifact_dir / module.manifest["weights"])
        elif not args.pattern:
            raise RunError(
                f"{module.artifact_dir} has params but no weight file (compiled from MLIR "
                "with --num-params, or without weights): there is nothing to run it on; "
                "--pattern fills them with the driver's test pattern")
    if args.inputs is None:
        if in_specs and not args.pattern:
            raise RunError(
                f"the model takes {len(in_specs)} input(s) "
                f"({', '.join(f'{s.name}: {s.dtype}{list(s.shape)}' for s in in_specs)}): "
                "give one .npy file each with --inputs (or --pattern for the driver's test "
                "pattern)")
        feeds = None
    else:
        if len(args.inputs) != len(in_specs):
            raise RunError(f"the model takes {len(in_specs)} input(s) "
                           f"({', '.join(s.name for s in in_specs)}), got {len(args.inputs)} "
                           ".npy file(s)")
        feeds = []
        for s, path in zip(in_specs, args.inputs):
            try:
                arr = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise RunError(f"input {s.name!r}: cannot read {path} as .npy: {e}") from e
            want = NUMPY_DTYPES[s.dtype]
            if arr.dtype != want or tuple(arr.shape) != tuple(s.shape):
                raise RunError(f"input {s.name!r} ({path}): expected {s.dtype}{list(s.shape)} "
                               f"({want.name}), got {arr.dtype.name}{list(arr.shape)}")
            feeds.append(arr)
    arrays, k = [], 0
    for s, pat in zip(specs, pattern):
        if s.role == "param" and module.manifest.get("weights"):
            if s.name not in weights:
                raise RunError(f"param {s.name!r} is missing from "
                               f"{module.manifest['weights']}")
            value = np.asarray(weights[s.name])
            if value.dtype != NUMPY_DTYPES[s.dtype] or tuple(value.shape) != tuple(s.shape):
                raise RunError(f"param {s.name!r} in the weight file is "
                               f"{value.dtype.name}{list(value.shape)}, the signature says "
                               f"{s.dtype}{list(s.shape)}")
            arrays.append(value)
        elif s.role == "input" and feeds is not None:
            arrays.append(feeds[k])
            k += 1
        else:
            arrays.append(pat)
            patterned.append(s.name)
    if patterned:
        print(f"buddy run: --pattern: {', '.join(patterned)} filled with the C driver's "
              "deterministic TEST PATTERN, not real data", file=sys.stderr)
    return arrays


def _uses_openmp(manifest: dict[str, Any]) -> bool:
    """Whether the artifact's code calls the OpenMP runtime (__kmpc_*)."""
    pipeline = manifest.get("pipeline") or {}
    return bool(pipeline.get("openmp")) or any(
        stage and stage[0] == "cpu-pipeline" for stage in pipeline.get("buddy-opt", []))


def _run_cross(module: Any, arrays: list[Any]) -> tuple[list[Any], dict[str, int] | None]:
    """Link the artifact with the file-based C driver, run it under qemu on ``arrays``:
    (outputs, the simulator's counters or None for a row without a simulator)."""
    import tempfile

    from buddy.backend import cdriver, gemmini_sim
    from buddy.backend.targets import get_target
    from buddy.toolchain import find_tool

    target = get_target(module.target)
    for tool in (target.cc, target.qemu[0]):  # a missing tool is an error before the link
        find_tool(tool)
    symbol = module.manifest["symbol"]
    with tempfile.TemporaryDirectory(prefix="buddy-run-") as tmp:
        io_dir = Path(tmp)
        exe = cdriver.build_file_executable([module.object_file], [(symbol, module.signature)],
                                            io_dir / "driver", target,
                                            openmp=_uses_openmp(module.manifest))
        cdriver.write_inputs(io_dir, symbol, module.signature, arrays)
        stats_file = io_dir / "stats.txt"
        env = {gemmini_sim.STATS_ENV: str(stats_file)} if target.simulator else None
        cdriver.run_executable(exe, target, args=[io_dir], env=env)
        stats = gemmini_sim.parse_report(stats_file.read_text()) if env else None
        from buddy.runtime.index_errors import check

        return check(cdriver.read_outputs(io_dir, symbol, module.signature), module.index_sites), stats


def cmd_run(args: argparse.Namespace) -> int:
    import numpy as np

    import buddy

    try:
        module = buddy.load(args.artifact)
    except (FileNotFoundError, ValueError) as e:
        print(f"buddy run: {e}", file=sys.stderr)
        return 1
    try:
        arrays = _run_arrays(module, args)
    except RunError as e:
        print(f"buddy run: {e}", file=sys.stderr)
        return 1
    from buddy.backend.targets import get_target

    if args.stats and not get_target(module.target).simulator:
        print(f"buddy run: --stats: target {module.target} has no accelerator counters "
              "(riscv64-gemmini has)", file=sys.stderr)
        return 1
    names = [s.name for s in module.signature if s.role == "output"]
    stats = None
    if module.library is None:
        try:
            outputs, stats = _run_cross(module, arrays)
        except RuntimeError as e:  # a missing tool, the link (CompileError) or the run failed
            print(f"buddy run: error: {e}", file=sys.stderr)
            return 1
    else:
        outputs = module.call_all(arrays)
    for name, arr in zip(names, outputs):
        flat = np.asarray(arr).ravel()
        preview = ", ".join(f"{v:.6g}" for v in flat[:6]) + (", ..." if flat.size > 6 else "")
        print(f"{name}: {arr.dtype}{list(arr.shape)} [{preview}]")
        if args.save:
            Path(args.save).mkdir(parents=True, exist_ok=True)
            np.save(Path(args.save) / f"{name}.npy", arr)
    if args.stats and stats is not None:
        for key, value in stats.items():
            print(f"stats {key} {value}")
    if args.save:
        (Path(args.save) / "outputs.json").write_text(json.dumps(names) + "\n")
        if args.stats and stats is not None:
            (Path(args.save) / "stats.json").write_text(json.dumps(stats) + "\n")
    return 0
