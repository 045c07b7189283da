"""The engine behind `buddy serve`: one `Generator` (one KV cache), one worker thread, and a
FIFO queue of jobs served one at a time (no batched decode).

A job's text pieces and its end (`Finished` / `Failed`) are handed to the asyncio loop of
the request that submitted it. `Job.cancel()` (the client went away) is honoured before the
job starts and after every generated token, so a disconnect frees the engine within a token.
"""
from __future__ import annotations

import asyncio
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence, Union

from .generate import GenerationResult, Generator, SamplingConfig

__all__ = ["Engine", "Job", "Finished", "Failed", "QueueFullError", "ShuttingDownError", "SerializedTokenizer"]


class SerializedTokenizer:
    """A tokenizer used from two threads (requests encode, the worker decodes) one call at a
    time. For Python-side tokenizers (HF `tokenizers`), whose objects are not documented as
    thread-safe; the runtime's C++ tokenizer is used directly (its BPE cache has a mutex)."""

    def __init__(self, tok: Any) -> None:
        self._tok = tok
        self._lock = threading.Lock()
        self.eos_token_id = tok.eos_token_id
        self.bos_token_id = tok.bos_token_id
        self.chat_template = tok.chat_template
        self.bos_token = getattr(tok, "bos_token", None)
        self.eos_token = getattr(tok, "eos_token", None)

    def encode(self, text: str) -> list[int]:
        with self._lock:
            return list(self._tok.encode(text))

    def decode(self, ids: Sequence[int]) -> str:
        with self._lock:
            return str(self._tok.decode(ids))

    def token_str(self, token_id: int) -> str:
        with self._lock:
            return str(self._tok.token_str(token_id))


@dataclass
class Finished:
    result: GenerationResult


@dataclass
class Failed:
    error: BaseException


Event = Union[str, Finished, Failed]


class QueueFullError(RuntimeError):
    """More jobs are waiting than the engine accepts (`max_queue`)."""


class ShuttingDownError(RuntimeError):
    """The server stopped (SIGTERM / Ctrl-C) before this job was done."""

    def __init__(self) -> None:
        super().__init__("the server is shutting down; the request was not completed")


@dataclass
class Job:
    """One generation request. Create it inside the event loop that will read `events`."""
    prompt_ids: list[int]
    cfg: SamplingConfig
    stop: tuple[str, ...] = ()
    label: str = ""
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)
    events: "asyncio.Queue[Event]" = field(default_factory=asyncio.Queue)
    submitted: float = field(default_factory=time.perf_counter)
    _cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def emit(self, event: Event) -> None:
        """Called by the worker thread."""
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, event)
        except RuntimeError:   # the loop is closed (server shutting down): nobody is listening
            self.cancel()


@dataclass
class EngineStats:
    completed: int = 0
    cancelled: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0


class Engine:
    """Serves `Job`s one at a time on a worker thread that alone touches the Generator."""

    def __init__(self, gen: Generator, max_queue: int = 64, log: bool = True) -> None:
        if gen.tokenizer is not None and getattr(gen.tokenizer, "runtime", None) is None:
            gen.tokenizer = SerializedTokenizer(gen.tokenizer)
        self.gen = gen
        self.max_queue = max_queue
        self.stats = EngineStats()
        self._log = log
        self._jobs: "queue.Queue[Job | None]" = queue.Queue()
        self._lock = threading.Lock()
        self._waiting = 0
        self._running: Job | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._work, name="buddy-serve-engine", daemon=True)
        self._thread.start()

    # -- the request side -------------------------------------------------------
    def submit(self, job: Job) -> None:
        with self._lock:
            if self._waiting >= self.max_queue:
                raise QueueFullError(f"{self._waiting} requests are already waiting (buddy serve --max-queue "
                                     f"{self.max_queue}); retry later")
            self._waiting += 1
        self._jobs.put(job)

    def status(self) -> dict[str, object]:
        with self._lock:
            waiting, running = self._waiting, self._running is not None
        s = self.stats
        return {"waiting": waiting, "running": running, "completed": s.completed, "cancelled": s.cancelled,
                "failed": s.failed, "prompt_tokens": s.prompt_tokens, "generated_tokens": s.generated_tokens}

    def begin_shutdown(self) -> None:
        """Stop serving: the running job and every waiting one fail with ShuttingDownError.

        Takes no lock, so it is safe in a signal handler (uvicorn's, on SIGTERM / Ctrl-C):
        the streams end at once instead of running into the graceful-shutdown timeout."""
        self._closing = True
        job = self._running
        if job is not None:
            job.cancel()

    def shutdown(self) -> None:
        """`begin_shutdown`, then fail what is still queued and stop the worker."""
        self.begin_shutdown()
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.cancel()
                job.emit(Failed(ShuttingDownError()))
        self._jobs.put(None)

    # -- the worker --------------------------------------------------------------
    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            with self._lock:
                self._waiting -= 1
                self._running = job
            try:
                if self._closing:
                    job.emit(Failed(ShuttingDownError()))
                elif job.cancelled:
                    self.stats.cancelled += 1
                else:
                    self._run(job)
            finally:
                with self._lock:
                    self._running = None

    def _run(self, job: Job) -> None:
        started = time.perf_counter()
        try:
            stream = self.gen.stream(job.prompt_ids, job.cfg, stop=job.stop, cancel=lambda: job.cancelled)
            for piece in stream:
                job.emit(piece)
        except Exception as e:  # noqa: BLE001 - reported to the client; the engine keeps serving
            self.stats.failed += 1
            job.emit(Failed(e))
            self._say(f"{job.label} failed: {type(e).__name__}: {e}")
            return
        res = stream.result
        if res.stop_reason == "cancelled" and self._closing:
            job.emit(Failed(ShuttingDownError()))
            return
        self.stats.prompt_tokens += len(res.prompt_tokens)
        self.stats.generated_tokens += len(res.tokens)
        if res.stop_reason == "cancelled":
            self.stats.cancelled += 1
        else:
            self.stats.completed += 1
        job.emit(Finished(res))
        self._say(f"{job.label}: {len(res.prompt_tokens)} prompt tokens ({res.prefill_tokens_per_second:.1f} tok/s), "
                  f"{len(res.tokens)} generated ({res.decode_tokens_per_second:.1f} tok/s decode), "
                  f"stop: {res.stop_reason}, waited {started - job.submitted:.2f}s")

    def _say(self, msg: str) -> None:
        if self._log:
            sys.stderr.write(f"[buddy.serve] {msg}\n")   # one write: other threads log too
            sys.stderr.flush()
