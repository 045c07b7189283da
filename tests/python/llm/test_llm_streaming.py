"""buddy.llm.streaming: stop strings split across pieces, and the incremental decoders (the
runtime's StreamDecoder for a GGUF, WindowDecoder for HF tokenizers) against a full decode."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from buddy.llm.streaming import StopMatcher, WindowDecoder, check_stop_strings, stream_decoder


def _run(pieces: list[str], stops: list[str]) -> tuple[str, str | None]:
    m = StopMatcher(stops)
    out = "".join(m.feed(p) for p in pieces)
    return out + m.flush(), m.stopped


@pytest.mark.parametrize("pieces,stops,want", [
    (["Hel", "lo wo", "rld"], ["o w"], ("Hell", "o w")),            # split over two pieces
    (["Hel", "lo wo", "rld"], ["xyz"], ("Hello world", None)),      # no stop: everything, held tail too
    (["a", "b", "c"], ["bc", "abd"], ("a", "bc")),                  # a partial match of one, full of another
    (["ab"], ["abd"], ("ab", None)),                                # a held prefix comes out at the end
    (["abab", "c"], ["abc"], ("ab", "abc")),
    (["x\n", "\ny"], ["\n\n", "y"], ("x", "\n\n")),                 # the earliest stop wins
    (["one", " two"], [], ("one two", None)),
])
def test_stop_matcher(pieces: list[str], stops: list[str], want: tuple[str, str | None]) -> None:
    assert _run(pieces, stops) == want


def test_stop_matcher_holds_back_only_a_possible_prefix() -> None:
    m = StopMatcher(["END"])
    assert m.feed("abc E") == "abc "
    assert m.feed("N") == ""
    assert m.feed("x") == "ENx"
    assert m.feed("yEND tail") == "y" and m.stopped == "END"
    assert m.feed("more") == "" and m.flush() == ""


def test_stop_strings_are_checked() -> None:
    assert check_stop_strings(None) == () and check_stop_strings("a") == ("a",)
    with pytest.raises(ValueError, match="stop string #1 is empty"):
        check_stop_strings(["a", ""])
    with pytest.raises(TypeError, match="stop string #0 must be a str"):
        check_stop_strings([3])  # type: ignore[list-item]


TEXTS = ["The capital of France is Paris.\n\nThe answer", "héllo wörld 日本語 😀  two  spaces\ttab",
         "   leading spaces", "<|im_start|>user\nhi<|im_end|>"]


@pytest.fixture(scope="module")
def smollm2() -> Path:
    from buddy.llm.data import find_smollm2_gguf

    try:
        return find_smollm2_gguf()
    except FileNotFoundError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def tokenizers(smollm2: Path) -> list[Any]:
    from buddy.llm import HFTokenizer, RuntimeTokenizer

    return [RuntimeTokenizer(smollm2), HFTokenizer(smollm2)]


@pytest.mark.parametrize("text", TEXTS)
def test_incremental_decoders_equal_a_full_decode(tokenizers: list[Any], text: str) -> None:
    from buddy.llm import HFTokenizer

    for tok in tokenizers:
        ids = tok.encode(text)
        dec = stream_decoder(tok)
        assert isinstance(dec, WindowDecoder) == isinstance(tok, HFTokenizer)
        pieces = [dec.push(i) for i in ids] + [dec.flush()]
        assert "".join(pieces) == tok.decode(ids), (type(tok).__name__, pieces)
        assert all("\ufffd" not in p for p in pieces), pieces   # split UTF-8 is held, not mangled


def test_serialized_tokenizer_from_several_threads(tokenizers: list[Any]) -> None:
    """buddy serve encodes on the event loop while its worker decodes: one call at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from buddy.llm.serve_engine import SerializedTokenizer

    hf = tokenizers[1]
    tok = SerializedTokenizer(hf)
    assert (tok.eos_token_id, tok.chat_template) == (hf.eos_token_id, hf.chat_template)

    def roundtrip(text: str) -> tuple[list[int], str]:
        dec = stream_decoder(tok)
        ids = tok.encode(text)
        return ids, "".join(dec.push(i) for i in ids) + dec.flush()

    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(roundtrip, TEXTS * 8, timeout=120))
    for text, (ids, out) in zip(TEXTS * 8, got):
        assert ids == hf.encode(text) and out == hf.decode(ids)
