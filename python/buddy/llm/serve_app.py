"""The HTTP side of `buddy serve`: OpenAI-compatible routes over an `Engine` (FastAPI).

    GET  /v1/models              the one model served
    POST /v1/chat/completions    chat (the model's chat template), streaming (SSE) or not
    POST /v1/completions         plain text completion, streaming (SSE) or not
    GET  /health                 queue and engine counters

Requests are validated and tokenized here (a bad one is a 4xx before it is queued); the
engine runs them one at a time. A streaming client that disconnects cancels its job.
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .generate import GenerationResult, SamplingConfig
from .serve_engine import Engine, Failed, Finished, Job, QueueFullError, ShuttingDownError
from .serve_schema import ApiError, ChatRequest, CompletionRequest, error_body, parse_body

__all__ = ["build_app", "ServedModel"]

_POLL_S = 0.5   # how often a non-streaming request checks that its client is still connected
_FINISH = {"eos": "stop", "stop": "stop", "length": "length", "cache_full": "length", "cancelled": "stop"}


@dataclass
class ServedModel:
    id: str
    max_len: int
    created: int


@dataclass
class _Prepared:
    """A validated request, tokenized, ready to queue."""
    ids: list[int]
    cfg: SamplingConfig
    stop: tuple[str, ...]
    stream: bool
    include_usage: bool


def build_app(engine: Engine, model: ServedModel) -> FastAPI:
    app = FastAPI(title="buddy serve", description="OpenAI-compatible API over a Buddy-compiled LLaMA model",
                  docs_url=None, redoc_url=None, openapi_url=None)
    tok = engine.gen.tokenizer
    if tok is None:
        raise ValueError("buddy serve needs a Generator with a tokenizer")
    vocab = getattr(engine.gen.runner, "vocab_size", None)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, e: ApiError) -> JSONResponse:
        return JSONResponse(e.body(), status_code=e.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        msg = (f"no route {request.method} {request.url.path}" if e.status_code in (404, 405)
               else str(e.detail))
        return JSONResponse(error_body(msg), status_code=e.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, e: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body(f"invalid request: {e.errors()}"), status_code=400)

    @app.exception_handler(Exception)
    async def _internal(_: Request, e: Exception) -> JSONResponse:
        return JSONResponse(error_body(f"internal error: {type(e).__name__}: {e}", "server_error"),
                            status_code=500)

    def model_card() -> dict[str, Any]:
        return {"id": model.id, "object": "model", "created": model.created, "owned_by": "buddy",
                "max_model_len": model.max_len}

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [model_card()]}

    @app.get("/v1/models/{model_id:path}")
    async def get_model(model_id: str) -> dict[str, Any]:
        check_model(model_id)
        return model_card()

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": model.id, **engine.status()}

    def check_model(name: str) -> None:
        if name != model.id:
            raise ApiError(404, f"the model '{name}' does not exist: this server serves '{model.id}' only",
                           param="model", code="model_not_found")

    def prepare(body: ChatRequest | CompletionRequest, ids: list[int], what: str) -> _Prepared:
        n = len(ids)
        if n == 0:
            raise ApiError(400, f"the {what} is empty (0 tokens)", param=what)
        if vocab is not None:
            bad = [t for t in ids if not 0 <= t < int(vocab)]
            if bad:
                raise ApiError(400, f"prompt token id {bad[0]} is outside the vocabulary [0, {vocab})",
                               param="prompt")
        room = model.max_len - n
        if room < 1:
            raise ApiError(400, f"the {what} is {_tokens(n)}: no room left in the KV cache of {model.max_len} "
                                f"positions (buddy serve --max-len {model.max_len})",
                           param="messages" if what == "messages" else "prompt", code="context_length_exceeded")
        budget = body.token_budget()
        field = "max_completion_tokens" if isinstance(body, ChatRequest) and body.max_completion_tokens else "max_tokens"
        if budget is not None and n + budget > model.max_len:
            raise ApiError(400, f"{field}={budget} plus the {what} ({_tokens(n)}) is {n + budget} positions, "
                                f"more than the KV cache holds ({model.max_len}, buddy serve --max-len); "
                                f"at most {room} new tokens fit", param=field, code="context_length_exceeded")
        cfg = SamplingConfig(max_new_tokens=budget if budget is not None else room, temperature=body.temperature,
                             top_k=body.top_k, top_p=body.top_p, seed=body.seed, stop_at_eos=not body.ignore_eos)
        return _Prepared(ids, cfg, body.stop_strings(), body.stream, body.include_usage())

    def chat_ids(body: ChatRequest) -> list[int]:
        msgs = [{"role": m.role, "content": m.text()} for m in body.messages]
        try:
            text = engine.gen.chat_prompt(msgs)
        except ValueError as e:
            raise ApiError(400, f"messages: {e}", param="messages") from None
        except Exception as e:  # noqa: BLE001 - jinja2's TemplateError (raise_exception in the template)
            raise ApiError(400, f"messages: the model's chat template rejects them: {e}", param="messages") from None
        return list(tok.encode(text))

    def completion_ids(body: CompletionRequest) -> list[int]:
        p = body.prompt
        if isinstance(p, str):
            return list(tok.encode(p))
        if p and isinstance(p[0], str):
            return list(tok.encode(str(p[0])))
        return [int(t) for t in p]

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = parse_body(await request.body(), ChatRequest)
        check_model(body.model)
        prep = prepare(body, chat_ids(body), "messages")
        return await respond(request, prep, "chatcmpl", _ChatShape(model.id))

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        body = parse_body(await request.body(), CompletionRequest)
        check_model(body.model)
        if body.echo:
            raise ApiError(400, "echo is not supported", param="echo")
        prep = prepare(body, completion_ids(body), "prompt")
        return await respond(request, prep, "cmpl", _CompletionShape(model.id))

    async def respond(request: Request, prep: _Prepared, prefix: str, shape: "_Shape") -> Response:
        rid = f"{prefix}-{uuid.uuid4().hex[:24]}"
        job = Job(prep.ids, prep.cfg, prep.stop, label=rid)
        try:
            engine.submit(job)
        except QueueFullError as e:
            raise ApiError(429, str(e), type="rate_limit_error", code="queue_full") from None
        created = int(time.time())
        if prep.stream:
            return _JobStream(job, _sse(job, shape, rid, created, prep.include_usage),
                              media_type="text/event-stream",
                              headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        res = await _collect(job, request.is_disconnected)
        if res is None:
            return Response(status_code=499)   # the client is gone; nobody reads this
        return JSONResponse(shape.full(rid, created, res))

    return app


async def _collect(job: Job, disconnected: Callable[[], Any]) -> GenerationResult | None:
    """Wait for the whole generation (None if the client disconnected: the job is cancelled).

    The connection is checked every `_POLL_S`, also while pieces keep arriving."""
    loop = asyncio.get_running_loop()
    checked = loop.time()
    try:
        while True:
            try:
                ev: Any = await asyncio.wait_for(job.events.get(), timeout=_POLL_S)
            except asyncio.TimeoutError:
                ev = None
            if ev is None or loop.time() - checked >= _POLL_S:
                checked = loop.time()
                if await disconnected():
                    return None
            if isinstance(ev, Finished):
                return ev.result
            if isinstance(ev, Failed):
                raise _failure(ev.error)
    finally:
        job.cancel()   # a no-op once finished; stops the engine if the client left or this was cancelled


class _JobStream(StreamingResponse):
    """A streaming response that cancels its job however it ends (done, error, client gone)."""

    def __init__(self, job: Job, content: AsyncIterator[str], **kw: Any) -> None:
        super().__init__(content, **kw)
        self.job = job

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.job.cancel()


def _tokens(n: int) -> str:
    return f"{n} token" if n == 1 else f"{n} tokens"


def _failure(e: BaseException) -> ApiError:
    from .model import KVCacheOverflowError

    if isinstance(e, ShuttingDownError):
        return ApiError(503, str(e), type="server_error", code="shutting_down")
    if isinstance(e, (ValueError, KVCacheOverflowError)):
        return ApiError(400, str(e))
    return ApiError(500, f"generation failed: {type(e).__name__}: {e}", type="server_error")


def _data(obj: Any) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


async def _sse(job: Job, shape: "_Shape", rid: str, created: int, include_usage: bool) -> AsyncIterator[str]:
    """Server-sent events of one job; closing this generator (client gone) cancels the job."""
    try:
        first = shape.first_chunk(rid, created)
        if first is not None:
            yield _data(first)
        while True:
            ev = await job.events.get()
            if isinstance(ev, str):
                yield _data(shape.chunk(rid, created, ev))
            elif isinstance(ev, Finished):
                yield _data(shape.chunk(rid, created, None, _FINISH.get(ev.result.stop_reason, "stop")))
                if include_usage:
                    yield _data({**shape.base(rid, created), "choices": [], "usage": _usage(ev.result)})
                break
            else:
                yield _data(_failure(ev.error).body())
                break
        yield "data: [DONE]\n\n"
    finally:
        job.cancel()


def _usage(res: GenerationResult) -> dict[str, int]:
    p, c = len(res.prompt_tokens), len(res.tokens)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


class _Shape(ABC):
    """The JSON of one endpoint's responses."""
    object_full = ""
    object_chunk = ""

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id

    def base(self, rid: str, created: int, chunk: bool = True) -> dict[str, Any]:
        return {"id": rid, "object": self.object_chunk if chunk else self.object_full, "created": created,
                "model": self.model_id}

    def first_chunk(self, rid: str, created: int) -> dict[str, Any] | None:
        return None

    @abstractmethod
    def chunk(self, rid: str, created: int, text: str | None, finish: str | None = None) -> dict[str, Any]:
        """A streamed piece of text (None: the closing chunk with `finish`)."""

    @abstractmethod
    def full(self, rid: str, created: int, res: GenerationResult) -> dict[str, Any]:
        """The non-streaming response."""


class _ChatShape(_Shape):
    object_full = "chat.completion"
    object_chunk = "chat.completion.chunk"

    def first_chunk(self, rid: str, created: int) -> dict[str, Any]:
        return {**self.base(rid, created),
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                             "finish_reason": None}]}

    def chunk(self, rid: str, created: int, text: str | None, finish: str | None = None) -> dict[str, Any]:
        delta = {"content": text} if text is not None else {}
        return {**self.base(rid, created),
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    def full(self, rid: str, created: int, res: GenerationResult) -> dict[str, Any]:
        return {**self.base(rid, created, chunk=False),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": res.text},
                             "logprobs": None, "finish_reason": _FINISH.get(res.stop_reason, "stop")}],
                "usage": _usage(res)}


class _CompletionShape(_Shape):
    object_full = "text_completion"
    object_chunk = "text_completion"

    def chunk(self, rid: str, created: int, text: str | None, finish: str | None = None) -> dict[str, Any]:
        return {**self.base(rid, created),
                "choices": [{"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}]}

    def full(self, rid: str, created: int, res: GenerationResult) -> dict[str, Any]:
        return {**self.base(rid, created, chunk=False),
                "choices": [{"index": 0, "text": res.text, "logprobs": None,
                             "finish_reason": _FINISH.get(res.stop_reason, "stop")}],
                "usage": _usage(res)}
