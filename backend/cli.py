"""`buddy compile` and `buddy run`: the backend on the command line."""

from __future__ import annotations

import argparse
import json
import runpy
import shutil
import sys
from pathlib import Path
from typing import Any

TARGETS_EPILOG = """\
targets (--target):
{table}

Cross targets (aarch64-neon, riscv64-rvv) produce an object file; `buddy run`
links it with a generated C driver into a static executable and runs it under
qemu-user. riscv64-rvv needs Debian's llc-22 (apt-get install llvm-22).
"""


def _epilog() -> str:
    from buddy.backend.targets import describe_targets

    return TARGETS_EPILOG.format(table=describe_targets())


def add_compile_parser(sub: Any) -> None:
    p = sub.add_parser(
        "compile", help="compile MLIR or a model import script to a native artifact",
        description="Compile tensor-level MLIR (func.func @forward) or a Python import "
                    "script to an artifact directory (.o, .so, stage dumps, manifest.json).",
        epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="a .mlir file, or a .py script defining build_model() that "
                                 "returns (torch.nn.Module, example_inputs), an ImportedGraph "
                                 "or MLIR text")
    p.add_argument("-o", "--output", required=True, help="artifact directory to write")
    p.add_argument("-t", "--target", default="host", help="target name (see below)")
    p.add_argument("-O", "--opt-level", type=int, default=3, choices=range(4))
    p.add_argument("--name", default=None,
                   help="entry point name: the artifact exports _buddy_<NAME> (default: forward); "
                        "give each graph linked into one executable its own name")
    p.add_argument("--num-params", type=int, default=0,
                   help="for .mlir input: how many leading @forward arguments are params")
    p.add_argument("--openmp", action=argparse.BooleanOptionalAction, default=None,
                   help="parallel loops with OpenMP (default: on for host targets with libomp)")
    p.add_argument("--kernels", action=argparse.BooleanOptionalAction, default=True,
                   help="Buddy's GEMM/GEMV/conv/pooling kernels and elementwise fusion (default: "
                        "on); --no-kernels is the reference lowering, linalg -> loops")
    p.add_argument("--no-cache", action="store_true", help="do not use the compile cache")
    p.set_defaults(func=cmd_compile)


def add_run_parser(sub: Any) -> None:
    p = sub.add_parser(
        "run", help="run a compiled artifact (natively, or under qemu for cross targets)",
        description="Run an artifact written by `buddy compile`. Inputs come from .npy files, "
                    "or (without --inputs) from the deterministic pattern of the C driver.",
        epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("artifact", help="artifact directory")
    p.add_argument("-i", "--inputs", nargs="*", default=None, help=".npy file per input")
    p.add_argument("--save", help="directory to write each output as <name>.npy")
    p.set_defaults(func=cmd_run)


def _load_input(path: Path) -> Any:
    if path.suffix == ".py":
        ns = runpy.run_path(str(path))
        if "build_model" not in ns:
            raise SystemExit(f"buddy compile: {path} defines no build_model()")
        return ns["build_model"]()
    return path


def cmd_compile(args: argparse.Namespace) -> int:
    import buddy

    src = Path(args.input)
    if not src.is_file():
        print(f"buddy compile: {src} not found", file=sys.stderr)
        return 1
    built = _load_input(src)
    model, example = (built if isinstance(built, tuple) else (built, None))
    module = buddy.compile(model, example, target=args.target, opt_level=args.opt_level,
                           openmp=args.openmp, kernels=args.kernels, num_params=args.num_params,
                           name=args.name,
                           use_cache=not args.no_cache)
    out = Path(args.output)
    if out.resolve() != module.artifact_dir.resolve():
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(module.artifact_dir, out)
    print(f"{out}  ({module.target}{', cached' if module.cache_hit else ''})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import numpy as np

    import buddy
    from buddy.backend import cdriver

    module = buddy.load(args.artifact)
    non_outputs = [s for s in module.signature if s.role != "output"]
    pattern = cdriver.driver_inputs(module.signature)
    if module.manifest.get("weights") is None and any(s.role == "param" for s in non_outputs):
        # No weight file (MLIR compiled with --num-params): the driver's pattern.
        module = buddy.load(args.artifact, params={
            s.name: a for s, a in zip(non_outputs, pattern) if s.role == "param"})
    names = [s.name for s in module.signature if s.role == "output"]
    if module.library is None:
        if args.inputs:
            print("buddy run: cross targets run with the driver's deterministic inputs; "
                  "--inputs is only for host artifacts", file=sys.stderr)
            return 1
        exe = cdriver.build_executable(module.object_file, module.signature,
                                       module.artifact_dir / "driver", module.target,
                                       symbol=module.manifest["symbol"])
        outputs = cdriver.parse_outputs(cdriver.run_executable(exe, module.target),
                                        module.signature)
    else:
        if args.inputs is None:
            feeds = [a for a, s in zip(pattern, non_outputs) if s.role == "input"]
        else:
            feeds = [np.load(p) for p in args.inputs]
        result = module(*feeds)
        outputs = list(result) if isinstance(result, tuple) else [result]
    for name, arr in zip(names, outputs):
        flat = np.asarray(arr).ravel()
        preview = ", ".join(f"{v:.6g}" for v in flat[:6]) + (", ..." if flat.size > 6 else "")
        print(f"{name}: {arr.dtype}{list(arr.shape)} [{preview}]")
        if args.save:
            Path(args.save).mkdir(parents=True, exist_ok=True)
            np.save(Path(args.save) / f"{name}.npy", arr)
    if args.save:
        (Path(args.save) / "outputs.json").write_text(json.dumps(names) + "\n")
    return 0
