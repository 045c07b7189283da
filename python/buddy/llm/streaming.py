"""Incremental text for generated tokens: a per-token decoder that never re-decodes the
whole sequence, and stop strings that may be split across tokens.

* `stream_decoder(tok)`: the runtime's `buddy._runtime.StreamDecoder` for a GGUF tokenizer
  (`RuntimeTokenizer`), which only emits complete UTF-8; for other tokenizers (HF
  `tokenizers`) `WindowDecoder`, which decodes a short window of recent tokens.
* `StopMatcher`: feeds text pieces, holds back a tail that could still become a stop string
  and reports the text before the first stop string (which itself is never emitted).
"""
from __future__ import annotations

from typing import Any, Protocol, Sequence

__all__ = ["IncrementalDecoder", "WindowDecoder", "stream_decoder", "StopMatcher", "check_stop_strings"]


class IncrementalDecoder(Protocol):
    def push(self, token_id: int) -> str:
        """Feed one token id; return the text that became complete (may be empty)."""
        ...

    def flush(self) -> str:
        """The text still held back (an incomplete character becomes U+FFFD)."""
        ...


class _RuntimeDecoder:
    """`buddy._runtime.StreamDecoder` behind `IncrementalDecoder` (control tokens skipped)."""

    def __init__(self, runtime_tokenizer: Any) -> None:
        self._dec = runtime_tokenizer.stream_decoder(keep_special=False)

    def push(self, token_id: int) -> str:
        return str(self._dec.push(int(token_id)))

    def flush(self) -> str:
        return str(self._dec.flush())


class WindowDecoder:
    """Incremental decoding with any `decode(ids) -> str` (e.g. HF `tokenizers`).

    Decodes only the tokens not yet emitted plus the previously emitted ones as context (for
    the tokenizer's spacing rules), so each step costs O(window), not O(sequence). Text
    ending in U+FFFD (an incomplete UTF-8 character) is held back until a later token
    completes it."""

    def __init__(self, tokenizer: Any) -> None:
        self._tok = tokenizer
        self._ids: list[int] = []
        self._prefix = 0     # start of the context window
        self._read = 0       # tokens before `read` have been emitted

    def push(self, token_id: int) -> str:
        self._ids.append(int(token_id))
        return self._emit(final=False)

    def flush(self) -> str:
        return self._emit(final=True)

    def _emit(self, final: bool) -> str:
        done = str(self._tok.decode(self._ids[self._prefix:self._read]))
        now = str(self._tok.decode(self._ids[self._prefix:]))
        if len(now) <= len(done) or (now.endswith("\ufffd") and not final):
            return ""
        self._prefix, self._read = self._read, len(self._ids)
        return now[len(done):]


def stream_decoder(tokenizer: Any) -> IncrementalDecoder:
    """The incremental decoder for `tokenizer`: the runtime's C++ `StreamDecoder` when the
    tokenizer is a `RuntimeTokenizer` (it has `.runtime`), else a `WindowDecoder`."""
    runtime = getattr(tokenizer, "runtime", None)
    if runtime is not None and hasattr(runtime, "stream_decoder"):
        return _RuntimeDecoder(runtime)
    return WindowDecoder(tokenizer)


def check_stop_strings(stop: Sequence[str] | str | None) -> tuple[str, ...]:
    """`stop` as a tuple of non-empty strings (a single string is one stop string)."""
    if stop is None:
        return ()
    items = (stop,) if isinstance(stop, str) else tuple(stop)
    for i, s in enumerate(items):
        if not isinstance(s, str):
            raise TypeError(f"stop string #{i} must be a str, got {type(s).__name__}")
        if not s:
            raise ValueError(f"stop string #{i} is empty")
    return items


class StopMatcher:
    """Finds the first stop string in a stream of text pieces.

    `feed(piece)` returns the text that is safe to emit now: everything except a tail that
    is a prefix of some stop string (it could be completed by the next piece). Once a stop
    string is seen, `stopped` is True, `feed` returns the text before it and ignores any
    later input. `flush()` returns the held tail at the end of a generation without a stop."""

    def __init__(self, stop: Sequence[str] | str | None = ()) -> None:
        self.stops = check_stop_strings(stop)
        self.stopped: str | None = None        # the stop string that matched
        self._held = ""

    def feed(self, piece: str) -> str:
        if self.stopped is not None:
            return ""
        if not self.stops:
            return piece
        text = self._held + piece
        first = -1
        for s in self.stops:
            i = text.find(s)
            if i >= 0 and (first < 0 or i < first):
                first, self.stopped = i, s
        if first >= 0:
            self._held = ""
            return text[:first]
        keep = self._partial_tail(text)
        self._held = text[len(text) - keep:] if keep else ""
        return text[:len(text) - keep]

    def flush(self) -> str:
        out, self._held = self._held, ""
        return "" if self.stopped is not None else out

    def _partial_tail(self, text: str) -> int:
        """Length of the longest suffix of `text` that is a proper prefix of a stop string."""
        best = 0
        for s in self.stops:
            for k in range(min(len(s) - 1, len(text)), best, -1):
                if text.endswith(s[:k]):
                    best = k
                    break
        return best
