"""The `buddy` command line, and the `buddy-opt` launcher."""

from __future__ import annotations

import argparse
import os
import sys

from buddy import __version__


def _cmd_doctor(args: argparse.Namespace) -> int:
    from buddy import doctor

    return doctor.run(strict=args.strict)


def _cmd_version(_: argparse.Namespace) -> int:
    print(f"buddy {__version__}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="buddy",
        description="Buddy: compile PyTorch models to native code through MLIR.",
    )
    parser.add_argument("--version", action="version", version=f"buddy {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")

    p = sub.add_parser("doctor", help="report the toolchain Buddy found and what is missing")
    p.add_argument("--strict", action="store_true", help="exit non-zero if any optional piece is missing")
    p.set_defaults(func=_cmd_doctor)

    from buddy.backend.cli import add_compile_parser, add_run_parser

    add_compile_parser(sub)
    add_run_parser(sub)

    from buddy.llm.cli import add_llama_parser
    from buddy.llm.serve import add_serve_parser

    add_llama_parser(sub)
    add_serve_parser(sub)

    p = sub.add_parser("version", help="print Buddy's version")
    p.set_defaults(func=_cmd_version)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from buddy.toolchain import ToolNotFound

    try:
        return int(args.func(args) or 0)
    except ToolNotFound as e:  # a missing or broken tool: say which, no traceback
        print(f"buddy {args.command}: error: {e}", file=sys.stderr)
        return 1


def buddy_opt_main() -> None:
    """Entry point `buddy-opt`: exec the binary inside the package."""
    from buddy.toolchain import ToolNotFound, buddy_opt_path

    try:
        path = str(buddy_opt_path())
    except ToolNotFound as e:
        print(f"buddy-opt: {e}", file=sys.stderr)
        raise SystemExit(1)
    os.execv(path, [path, *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
