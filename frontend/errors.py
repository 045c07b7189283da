"""Errors raised by the Buddy frontend. Each names the op, the node and the model source line."""

from __future__ import annotations

from typing import Optional

from .source import SourceLoc, source_loc

UNKNOWN_SOURCE = "<unknown source line>"


class FrontendError(RuntimeError):
    """Base class of all frontend errors."""


class CaptureError(FrontendError):
    """TorchDynamo / aot_autograd could not capture the model as a single graph."""


def source_line(stack_trace: Optional[str]) -> str:
    """`path:line (`code`)` of the innermost user frame of an FX stack trace."""
    loc = source_loc(stack_trace)
    return str(loc) if loc is not None else UNKNOWN_SOURCE


class UnsupportedOpError(FrontendError):
    """An ATen overload (or one of its argument combinations) has no lowering for the chosen dialect.

    `loc` is the user source line that produced the node (`SourceLoc`, None if unknown);
    `source` is it as text, `path:line (`code`)`."""

    def __init__(self, op: str, node: str, stack_trace: Optional[str], dialect: str, reason: str = "",
                 loc: Optional[SourceLoc] = None) -> None:
        self.op, self.node, self.dialect, self.reason = op, node, dialect, reason
        self.loc = loc if loc is not None else source_loc(stack_trace)
        self.source = str(self.loc) if self.loc is not None else UNKNOWN_SOURCE
        other = "tosa" if dialect == "linalg" else "linalg"
        why = reason or "no emitter for this overload"
        where = f"at {self.source}" if self.loc is not None else "(source line unknown)"
        super().__init__(
            f"`{op}` {where} is not supported by Buddy's {dialect} lowering: {why} "
            f"(node `{node}`). Try import_model(..., dialect=\"{other}\"). The ops each dialect supports are "
            f"listed in Buddy's docs/ops.md; docs/frontend.md says how to add one."
        )


class LoweringError(FrontendError):
    """An emitter failed on a node; wraps the underlying error with the node's identity and source line.

    `loc` is the user source line of the node (None if unknown)."""

    def __init__(self, message: str, loc: Optional[SourceLoc] = None) -> None:
        self.loc = loc
        super().__init__(message)
