"""Greedy decoding with the tiny random-weight Whisper decoder (support.model_families), 16
positions, through Buddy without a KV cache and with one, gives eager's tokens and logits.

Both compiled graphs have static shapes (shape bucketing, docs/models.md "Dynamic shapes"):
- no cache: the ids padded to max_target_positions, compiled once; step t reads position t;
- cache: one token, its position, and static self-attention K/V caches of max_target_positions
  slots, compiled once; the step returns the caches with the token's K/V written at its position.
The reference is a manual argmax loop over the HF decoder recomputing the whole prefix each step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, List, Tuple

import pytest
import torch

import buddy

from support import model_families as fam

pytest.importorskip("transformers")

MAX_LEN = 16  # the config's max_target_positions: decoder positions 0..15
PROMPT = list(fam.WHISPER_GREEDY_PROMPT)
PAD = 1  # pad_token_id; padding after position t is causally masked


def _greedy(logits_at: Callable[[int, List[int]], torch.Tensor]) -> Tuple[List[int], torch.Tensor]:
    """Positions 0..MAX_LEN-1: logits_at(t, tokens so far) are position t's logits; from the last
    prompt position on, their argmax is appended. -> (all tokens, logits [MAX_LEN, vocab])."""
    seq = list(PROMPT)
    rows: List[torch.Tensor] = []
    for t in range(MAX_LEN):
        row = logits_at(t, seq).detach().clone()
        rows.append(row)
        if t + 1 >= len(seq):
            seq.append(int(row.argmax()))
    return seq, torch.stack(rows)


def _eager(decoder: torch.nn.Module, encoder_states: torch.Tensor) -> Tuple[List[int], torch.Tensor]:
    def logits_at(t: int, seq: List[int]) -> torch.Tensor:
        with torch.no_grad():
            hidden = decoder(input_ids=torch.tensor([seq[:t + 1]]), encoder_hidden_states=encoder_states,
                             use_cache=False).last_hidden_state
            return hidden[0, -1] @ decoder.embed_tokens.weight.T

    return _greedy(logits_at)


def _assert_close(got: torch.Tensor, want: torch.Tensor, rtol: float, atol_scale: float) -> None:
    """Each step's logits (the last dimension) within rtol plus atol_scale * that step's max|want|."""
    for t, (g, w) in enumerate(zip(got.reshape(-1, got.shape[-1]), want.reshape(-1, want.shape[-1]))):
        torch.testing.assert_close(g, w, rtol=rtol, atol=atol_scale * float(w.abs().max()),
                                   msg=lambda m: f"step {t}: {m}")


def _tolerance(row: torch.Tensor) -> float:
    # The most one compiled logit may differ from eager's under the comparison below.
    return fam.ATOL_SCALE * float(row.abs().max()) + fam.RTOL * float(row.abs().max())


def test_whisper_greedy_16_steps_without_and_with_kv_cache(tmp_path: Path) -> None:
    decoder, encoder_states = fam.whisper_greedy_decoder()
    assert decoder.config.max_target_positions == MAX_LEN
    want_tokens, want_logits = _eager(decoder, encoder_states)
    assert want_tokens[:len(PROMPT)] == PROMPT and len(want_tokens) == MAX_LEN + 1

    # The reference is not degenerate, and no greedy choice is a near tie: every top-2 margin is
    # more than 10x what two logits within tolerance could close, so equal tokens are implied by
    # the logit comparison, and the seed cannot silently drift into a tie.
    generated = want_tokens[len(PROMPT):]
    assert len(set(generated)) >= 8, generated
    for t in range(len(PROMPT) - 1, MAX_LEN):
        top2 = want_logits[t].topk(2).values
        assert float(top2[0] - top2[1]) > 10 * 2 * _tolerance(want_logits[t]), (t, top2)

    # The static-cache step reproduces the HF decoder in eager (so it is the right module), from
    # caches filled with random values: the slots after `pos` are masked, the one at `pos` written.
    step = fam.WhisperStaticCacheStep(decoder).eval()
    keys, values = step.empty_cache()
    gen = torch.Generator().manual_seed(5)
    keys, values = torch.randn(keys.shape, generator=gen), torch.randn(values.shape, generator=gen)
    with torch.no_grad():
        for t in range(MAX_LEN):
            logits, keys, values = step(torch.tensor([[want_tokens[t]]]), torch.tensor([t]), encoder_states,
                                        keys, values)
            _assert_close(logits[0, 0], want_logits[t], rtol=1e-5, atol_scale=1e-5)

    # Without a cache: one graph at the padded length, position t read at step t.
    padded = fam.WhisperLogitsPadded(decoder).eval()
    ids = torch.full((1, MAX_LEN), PAD, dtype=torch.int64)
    nocache = buddy.compile(padded, (ids, encoder_states), cache_dir=tmp_path / "cache", progress=False)

    def nocache_at(t: int, seq: List[int]) -> torch.Tensor:
        ids = torch.full((1, MAX_LEN), PAD, dtype=torch.int64)
        ids[0, :t + 1] = torch.tensor(seq[:t + 1])
        out = nocache(ids, encoder_states)
        assert tuple(out.shape) == (1, MAX_LEN, decoder.config.vocab_size)
        return out[0, t]

    got_tokens, got_logits = _greedy(nocache_at)
    assert got_tokens == want_tokens
    _assert_close(got_logits, want_logits, rtol=fam.RTOL, atol_scale=fam.ATOL_SCALE)

    # With the static KV cache: one graph for every position; the caches go back in each step.
    keys, values = step.empty_cache()
    cached = buddy.compile(step, (torch.tensor([[PROMPT[0]]]), torch.tensor([0]), encoder_states, keys, values),
                           cache_dir=tmp_path / "cache", progress=False)
    state = {"keys": keys, "values": values}

    def cached_at(t: int, seq: List[int]) -> torch.Tensor:
        logits, state["keys"], state["values"] = cached(torch.tensor([[seq[t]]]), torch.tensor([t]),
                                                        encoder_states, state["keys"], state["values"])
        assert tuple(logits.shape) == (1, 1, decoder.config.vocab_size)
        return logits[0, 0]

    got_tokens, got_logits = _greedy(cached_at)
    assert got_tokens == want_tokens
    _assert_close(got_logits, want_logits, rtol=fam.RTOL, atol_scale=fam.ATOL_SCALE)
    # Every slot was written by the compiled step (the zeros it started from are gone).
    assert bool((state["keys"].abs().sum(dim=-1) > 0).all())
