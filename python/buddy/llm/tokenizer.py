"""Tokenizers behind one small interface: the runtime's C++ tokenizer for GGUF files
(`RuntimeTokenizer`, `buddy._runtime.Tokenizer`) and HF `tokenizers` for Hugging Face
directories (`HFTokenizer`: the runtime reads no tokenizer.json). `load_tokenizer` picks."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol, Sequence

__all__ = ["Tokenizer", "RuntimeTokenizer", "HFTokenizer", "load_tokenizer", "render_chat_template"]


class Tokenizer(Protocol):
    eos_token_id: int | None
    bos_token_id: int | None
    chat_template: str | None

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def token_str(self, token_id: int) -> str: ...


class RuntimeTokenizer:
    """Buddy's C++ tokenizer (`buddy._runtime.Tokenizer.from_gguf`), the one buddy-llama-run uses.

    Encodes like the HF GGUF tokenizer: BOS as the GGUF asks (`add_bos_default`) and special
    token text such as `<|im_start|>` parsed into its id; decoding drops control tokens."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"tokenizer source not found (a .gguf file is needed): {p}")
        try:
            from buddy import _runtime
        except ImportError as e:
            raise RuntimeError(f"tokenizing {p} needs the C++ runtime module buddy._runtime: {e}") from e
        self.path = p
        self._tok: Any = _runtime.Tokenizer.from_gguf(str(p))
        self.eos_token_id = self._tok.eos_id if self._tok.eos_id >= 0 else None
        self.bos_token_id = self._tok.bos_id if self._tok.bos_id >= 0 else None
        self.bos_token = self._tok.piece(self.bos_token_id) if self.bos_token_id is not None else None
        self.eos_token = self._tok.piece(self.eos_token_id) if self.eos_token_id is not None else None
        self.chat_template: str | None = _gguf_chat_template(p)

    @property
    def runtime(self) -> Any:
        """The underlying `buddy._runtime.Tokenizer` (e.g. for `stream_decoder()`)."""
        return self._tok

    def encode(self, text: str) -> list[int]:
        return list(self._tok.encode(text, add_bos=self._tok.add_bos_default, parse_special=True))

    def decode(self, ids: Sequence[int]) -> str:
        return str(self._tok.decode([int(i) for i in ids]))

    def token_str(self, token_id: int) -> str:
        return str(self._tok.piece(int(token_id)))


def _gguf_chat_template(path: Path) -> str | None:
    """`tokenizer.chat_template` of a GGUF, from the C++ reader's header parse."""
    from .gguf_header import read_header

    value = read_header(path).values.get("tokenizer.chat_template")
    return str(value) if value is not None else None


def load_tokenizer(path: str | os.PathLike[str]) -> RuntimeTokenizer | HFTokenizer:
    """The C++ runtime tokenizer for a .gguf file; HF `tokenizers` for a HF directory."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"tokenizer source not found: {p}")
    return HFTokenizer(p) if p.is_dir() else RuntimeTokenizer(p)


class HFTokenizer:
    """HF `tokenizers` (via transformers) built from a GGUF's vocab or a local HF directory."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        from transformers import AutoTokenizer

        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"tokenizer source not found: {p}")
        if p.is_file():  # a GGUF: the vocab, merges and specials stored in its metadata
            self._tok: Any = AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name)
        else:
            self._tok = AutoTokenizer.from_pretrained(str(p), local_files_only=True)
        self.eos_token_id = self._tok.eos_token_id
        self.bos_token_id = self._tok.bos_token_id
        self.chat_template = getattr(self._tok, "chat_template", None)
        self.bos_token = self._tok.bos_token
        self.eos_token = self._tok.eos_token

    def encode(self, text: str) -> list[int]:
        # The GGUF/HF tokenizer adds BOS itself when the model asks for it.
        return list(self._tok(text)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=True)

    def token_str(self, token_id: int) -> str:
        return self._tok.convert_ids_to_tokens(int(token_id))


def render_chat_template(template: str, messages: list[dict[str, str]], *,
                         add_generation_prompt: bool = True, bos_token: str | None = "",
                         eos_token: str | None = "") -> str:
    """Render a Hugging Face-style Jinja2 chat template (as stored in `tokenizer.chat_template`)."""
    try:
        from jinja2.exceptions import TemplateError
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError as e:  # pragma: no cover - jinja2 ships with transformers
        raise RuntimeError("rendering a chat template needs jinja2 (pip install jinja2)") from e

    def raise_exception(msg: str) -> None:
        raise TemplateError(msg)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template).render(
        messages=messages, add_generation_prompt=add_generation_prompt,
        bos_token=bos_token or "", eos_token=eos_token or "")
