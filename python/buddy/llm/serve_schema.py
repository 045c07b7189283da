"""Request bodies of `buddy serve` (OpenAI's chat/completions API) and its error JSON.

Bodies are parsed here, not by FastAPI, so that every bad request (malformed JSON, a field
of the wrong type or range, an unknown field) becomes an `ApiError` whose message names the
field and the value, in OpenAI's error shape: {"error": {"message", "type", "param", "code"}}.
"""
from __future__ import annotations

import json
import math
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = ["ApiError", "ChatMessage", "ChatRequest", "CompletionRequest", "parse_body", "error_body"]


class ApiError(Exception):
    """An error answered to the client: HTTP `status` and OpenAI's error fields."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",  # noqa: A002
                 param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(message: str, type: str = "invalid_request_error", param: str | None = None,  # noqa: A002
               code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextPart(_Body):
    type: Literal["text"]
    text: str


class ChatMessage(_Body):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None
    name: str | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content)


class StreamOptions(_Body):
    include_usage: bool = False


class _Sampling(_Body):
    """The fields both endpoints share."""
    model: str
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int = Field(default=0, ge=0)                    # extension (as in vLLM); 0 = off
    seed: int | None = Field(default=None, ge=0, lt=2**63)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = 1
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    ignore_eos: bool = False                               # extension (as in vLLM)
    user: str | None = None

    @field_validator("temperature", "top_p", "presence_penalty", "frequency_penalty")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError(f"must be a finite number, got {v}")
        return v

    @field_validator("n")
    @classmethod
    def _one_choice(cls, v: int) -> int:
        if v != 1:
            raise ValueError(f"only n=1 is supported (one engine, no batching), got {v}")
        return v

    @field_validator("presence_penalty", "frequency_penalty")
    @classmethod
    def _no_penalty(cls, v: float) -> float:
        if v != 0.0:
            raise ValueError(f"penalties are not supported (only 0), got {v}")
        return v

    @field_validator("stop")
    @classmethod
    def _stops(cls, v: str | list[str] | None) -> str | list[str] | None:
        items = [v] if isinstance(v, str) else (v or [])
        if len(items) > 16:
            raise ValueError(f"at most 16 stop strings, got {len(items)}")
        for i, s in enumerate(items):
            if not s:
                raise ValueError(f"stop string #{i} is empty")
        return v

    def stop_strings(self) -> tuple[str, ...]:
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())

    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


class ChatRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    logprobs: bool | None = None

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, v: bool | None) -> bool | None:
        if v:
            raise ValueError("logprobs are not supported")
        return v

    def token_budget(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens


class CompletionRequest(_Sampling):
    prompt: str | list[int] | list[str]
    echo: bool = False
    logprobs: int | None = None

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, v: str | list[int] | list[str]) -> str | list[int] | list[str]:
        if isinstance(v, list) and v and isinstance(v[0], str) and len(v) != 1:
            raise ValueError(f"one prompt per request (no batching), got a list of {len(v)}")
        return v

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, v: int | None) -> int | None:
        if v:
            raise ValueError("logprobs are not supported")
        return v

    def token_budget(self) -> int | None:
        return self.max_tokens


_B = TypeVar("_B", bound=BaseModel)


def parse_body(raw: bytes, model: type[_B]) -> _B:
    """`raw` (the request body) as `model`; ApiError(400) naming the problem otherwise."""
    try:
        data = json.loads(raw)
    except UnicodeDecodeError as e:
        raise ApiError(400, f"the request body is not UTF-8: {e}") from None
    except json.JSONDecodeError as e:
        what = "the request body is empty" if not raw.strip() else f"malformed JSON in the request body: {e}"
        raise ApiError(400, f"{what} (a JSON object is expected)") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"the request body must be a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise _validation_error(e) from None


def _validation_error(e: ValidationError) -> ApiError:
    errs = e.errors(include_url=False)
    parts: list[str] = []
    param: str | None = None
    for err in errs[:4]:
        loc = ".".join(str(x) for x in err["loc"] if not _is_union_tag(x))
        param = param or loc or None
        kind = err["type"]
        if kind == "extra_forbidden":
            parts.append(f"unknown field '{loc}'")
        elif kind == "missing":
            parts.append(f"missing required field '{loc}'")
        elif kind == "value_error":   # our validators name the value themselves
            parts.append(f"'{loc}': {str(err['msg']).removeprefix('Value error, ')}")
        else:
            parts.append(f"'{loc}': {err['msg']} (got {json.dumps(err.get('input'), default=str)[:80]})")
    if len(errs) > 4:
        parts.append(f"and {len(errs) - 4} more")
    return ApiError(400, "invalid request: " + "; ".join(parts), param=param)


def _is_union_tag(x: object) -> bool:
    """Pydantic's union branches in `loc` ('str', 'list[int]', ...) say nothing to the client."""
    return isinstance(x, str) and (x in ("str", "int", "float", "bool") or "[" in x)
