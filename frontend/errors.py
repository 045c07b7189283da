"""Errors raised by the Buddy frontend. Each names the op, the node and the model source line."""

from __future__ import annotations

from typing import Optional


class FrontendError(RuntimeError):
    """Base class of all frontend errors."""


class CaptureError(FrontendError):
    """TorchDynamo / aot_autograd could not capture the model as a single graph."""


def source_line(stack_trace: Optional[str]) -> str:
    """The innermost `File "...", line N, in f` entry of an FX stack trace, plus its code line."""
    if not stack_trace:
        return "<unknown source line>"
    lines = [ln.strip() for ln in stack_trace.strip().splitlines() if ln.strip()]
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("File "):
            code = lines[i + 1] if i + 1 < len(lines) and not lines[i + 1].startswith("File ") else ""
            return f"{lines[i]}{': ' + code if code else ''}"
    return lines[-1]


class UnsupportedOpError(FrontendError):
    """An ATen overload (or one of its argument combinations) has no lowering for the chosen dialect."""

    def __init__(self, op: str, node: str, stack_trace: Optional[str], dialect: str, reason: str = "") -> None:
        self.op, self.node, self.dialect, self.reason = op, node, dialect, reason
        self.source = source_line(stack_trace)
        other = "tosa" if dialect == "linalg" else "linalg"
        detail = f" ({reason})" if reason else ""
        super().__init__(
            f"Buddy cannot lower `{op}`{detail} to {dialect}: node `{node}` from {self.source}. "
            f"Try import_model(..., dialect=\"{other}\"). The ops each dialect supports are listed "
            f"in Buddy's docs/ops.md; docs/frontend.md says how to add one."
        )


class LoweringError(FrontendError):
    """An emitter failed on a node; wraps the underlying error with the node's identity."""
