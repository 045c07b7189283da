"""`buddy.compile(model, inputs)` on the tiny model families of issue 16 (support.model_families):
the native library built with the fast pipeline (kernels on) matches PyTorch eager."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import buddy

from support import model_families as fam


@pytest.mark.parametrize("family", list(fam.FAMILIES))
def test_buddy_compile_matches_eager(family: str, tmp_path: Path) -> None:
    pytest.importorskip(fam.PACKAGE[family])
    model, inputs = fam.FAMILIES[family]()
    with torch.no_grad():
        want = model(*inputs)
    compiled = buddy.compile(model, inputs, cache_dir=tmp_path / "cache", progress=False)
    flags = " ".join(" ".join(stage) for stage in compiled.manifest["pipeline"]["buddy-opt"])
    assert "cpu-pipeline" in flags and "kernels=1" in flags, flags
    got = compiled(*inputs)
    assert type(got) is type(want)  # the ModelOutput class comes back, as from eager
    fam.assert_matches_eager(got, want)


def test_whisper_decoder_step_continues_the_full_sequence(tmp_path: Path) -> None:
    # The compiled step on the cache of the first 4 tokens gives the 5th token's hidden state of
    # an uncached eager run over all 5: the cache inputs are used, not just passed through.
    pytest.importorskip("transformers")
    step, inputs = fam.whisper_decoder_step()
    full, (ids, encoder_states) = fam.whisper_decoder()
    assert torch.equal(inputs[0], ids[:, 4:])
    with torch.no_grad():
        want = full(ids, encoder_states)[:, -1:]
    got = buddy.compile(step, inputs, cache_dir=tmp_path / "cache", progress=False)(*inputs)
    assert len(got) == 1 + 2 * fam.WHISPER_DECODER_LAYERS
    assert tuple(got[1].shape) == (1, 4, 5, 8)  # the self-attention keys grew by one position
    torch.testing.assert_close(got[0], want, rtol=fam.RTOL, atol=fam.ATOL_SCALE * float(want.abs().max()))
