"""`import_model(..., tracer="aot")` (aot_autograd without Dynamo) against the default
Dynamo capture: the same Core ATen graph, the same numbers, tied weights as one parameter,
in-place input updates recorded; and clear errors for what it cannot take."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import buddy.frontend as bf
from buddy.frontend.errors import CaptureError


class TiedCounter(nn.Module):
    """A tied embedding/head, a buffer read, and an in-place update of an input."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(11, 6)
        self.head = nn.Linear(6, 11, bias=False)
        self.head.weight = self.emb.weight
        self.register_buffer("scale", torch.tensor([1.5]))

    def forward(self, ids: torch.Tensor, acc: torch.Tensor) -> torch.Tensor:
        h = self.emb(ids) * self.scale
        acc.add_(h.sum(dim=1))
        return torch.tanh(self.head(h))


def _ops(g) -> list[str]:
    return sorted(str(n.target) for n in g.graph.nodes)


def test_aot_tracer_matches_dynamo():
    torch.manual_seed(0)
    m = TiedCounter().eval()
    ids = torch.tensor([[1, 4, 9]])
    acc = torch.zeros(1, 6)
    gd = bf.import_model(m, (ids, acc))
    ga = bf.import_model(m, (ids, acc), tracer="aot")
    assert _ops(ga) == _ops(gd)
    assert sorted(p.name for p in ga.params) == sorted(p.name for p in gd.params) == ["emb.weight", "scale"]
    assert ga.graph.input_mutations == gd.graph.input_mutations and len(ga.graph.input_mutations) == 1
    assert torch.equal(acc, torch.zeros(1, 6)), "importing changed an input"
    with torch.no_grad():
        want_acc = acc.clone()
        want = m(ids, want_acc)
        got_d = gd.run(ids, acc.clone())
        got_a = ga.run(ids, acc.clone())
    # @forward's results: the updated input (in place in the compiled code), then the output
    assert len(got_a) == len(got_d) == 2
    for a, d in zip(got_a, got_d):
        torch.testing.assert_close(a, d, rtol=0, atol=0)
    (k, o), = ga.graph.input_mutations
    torch.testing.assert_close(got_a[o], want_acc, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got_a[1 - o], want, rtol=1e-5, atol=1e-6)


def test_aot_tracer_rejects_non_tensor_arguments():
    class AddN(nn.Module):
        def forward(self, x: torch.Tensor, n: int) -> torch.Tensor:
            return x + n

    with pytest.raises(CaptureError, match="tensor arguments only"):
        bf.import_model(AddN(), (torch.ones(2), 3), tracer="aot")


def test_unknown_tracer_is_named():
    with pytest.raises(ValueError, match="tracer must be one of"):
        bf.import_model(nn.Identity(), (torch.ones(2),), tracer="fx")
