"""Argument types for the `buddy` commands: a bad value fails at parse time, before anything
is loaded or compiled, with a message naming the flag and the accepted range (argparse adds
`argument --flag:`)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Callable, Optional


def int_in(lo: int, hi: Optional[int] = None) -> Callable[[str], int]:
    """An int in [lo, hi] (no upper bound when hi is None)."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(
                f"must be {'>= ' + str(lo) if hi is None else f'in [{lo}, {hi}]'}, got {v}")
        return v
    parse.__name__ = "int"
    return parse


def float_in(lo: float, hi: float = math.inf, *, lo_open: bool = False) -> Callable[[str], float]:
    """A finite float in [lo, hi] (or (lo, hi] with lo_open)."""
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(v) or v < lo or v > hi or (lo_open and v == lo):
            rng = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]" if hi != math.inf else \
                f"{'>' if lo_open else '>='} {lo:g}"
            raise argparse.ArgumentTypeError(f"must be {'in ' if hi != math.inf else ''}{rng}, got {text}")
        return v
    parse.__name__ = "float"
    return parse


def target_name(text: str) -> str:
    """A row of the target table (`host` included); the message lists the known ones."""
    from buddy.backend.targets import get_target

    try:
        get_target(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def existing_file(text: str) -> Path:
    p = Path(text)
    if not p.is_file():
        raise argparse.ArgumentTypeError(f"{text}: no such file" if not p.exists() else f"{text} is not a file")
    return p


def existing_path(text: str) -> Path:
    p = Path(text)
    if not p.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file or directory")
    return p


def non_empty(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    return text
