"""`buddy.compile(model, inputs)` on the tiny model families of issue 16 (support.model_families):
the native library built with the fast pipeline (kernels on) matches PyTorch eager."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import buddy

pytest.importorskip("transformers")

from support import model_families as fam  # noqa: E402


@pytest.mark.parametrize("family", list(fam.FAMILIES))
def test_buddy_compile_matches_eager(family: str, tmp_path: Path) -> None:
    model, inputs = fam.FAMILIES[family]()
    with torch.no_grad():
        want = model(*inputs)
    compiled = buddy.compile(model, inputs, cache_dir=tmp_path / "cache", progress=False)
    flags = " ".join(" ".join(stage) for stage in compiled.manifest["pipeline"]["buddy-opt"])
    assert "cpu-pipeline" in flags and "kernels=1" in flags, flags
    got = compiled(*inputs)
    assert type(got) is type(want)  # the ModelOutput class comes back, as from eager
    fam.assert_matches_eager(got, want)
