"""`import_model(..., inplace_inputs=[k])`: an input the model updates (a KV cache) is updated
in the caller's buffer by the compiled code, and what cannot be done in place is refused."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import buddy
import buddy.frontend as bf
from buddy.frontend.errors import CaptureError


class RowCache(nn.Module):
    """Writes row `pos` of `cache` (index_copy_, as buddy.llm's decode does), then reads it."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor, cache: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        cache.index_copy_(0, pos, self.proj(x))
        return cache.sum(dim=0, keepdim=True) * 2.0


class AddInto(nn.Module):
    def forward(self, x: torch.Tensor, acc: torch.Tensor) -> torch.Tensor:
        acc.add_(x)  # a new value, not a write into acc
        return acc * 1.0


def test_inplace_input_is_updated_in_the_callers_buffer(tmp_path):
    torch.manual_seed(0)
    m = RowCache().eval()
    x, pos = torch.randn(1, 4), torch.tensor([2])
    g = bf.import_model(m, (x, torch.zeros(5, 4), pos), inplace_inputs=[1])
    assert g.graph.inplace_inputs == [1] and not g.graph.input_mutations
    assert len(g.outputs) == 1  # the new cache is not a result
    assert "bufferization.writable = true" in g.module.mlir_text
    compiled = buddy.compile(g, cache_dir=tmp_path, progress=False)
    for layout in ("contiguous", "transposed view"):
        base = torch.randn(5, 4) if layout == "contiguous" else torch.randn(4, 5)
        cache = base if layout == "contiguous" else base.t()  # a view: passed as a copy
        want_cache = cache.clone()
        with torch.no_grad():
            want = m(x, want_cache, pos)
            got = compiled(x, cache, pos)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(cache, want_cache, rtol=1e-6, atol=1e-6)  # row 2 written


def test_update_that_is_not_a_write_into_the_input_is_refused():
    with pytest.raises(CaptureError, match="does not write into it"):
        bf.import_model(AddInto(), (torch.ones(3), torch.zeros(3)), inplace_inputs=[1])


def test_input_the_model_does_not_update_is_refused():
    with pytest.raises(CaptureError, match="does not update input"):
        bf.import_model(RowCache(), (torch.ones(1, 4), torch.zeros(5, 4), torch.tensor([0])),
                        inplace_inputs=[0])
