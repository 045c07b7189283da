"""Out-of-range indices reaching compiled code: IndexError naming the op (and the user's
source line), as eager raises, never garbage or a segfault. The compiled code clamps every
index it reads and reports bad ones through @forward's `index_errors` result
(buddy.runtime.index_errors); each case is checked against eager for a good and a bad index."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Callable

import pytest
import torch
from torch import nn

import buddy
import buddy.dynamo  # noqa: F401  (backend="buddy" without an installed entry point)


class Embed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.e = nn.Embedding(10, 4)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.e(ids)


class IndexSelect(nn.Module):
    def forward(self, x: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        return torch.index_select(x, 1, i)


class Gather(nn.Module):
    def forward(self, x: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        return torch.gather(x, 1, i)


class Advanced(nn.Module):
    def forward(self, x: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        return x[i]


class Scatter(nn.Module):
    def forward(self, x: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        return x.scatter(1, i, 5.0)


class IndexPut(nn.Module):
    def forward(self, x: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        return torch.index_put(x, (i,), torch.ones(i.shape[0], x.shape[1]))


X = torch.arange(24.0).reshape(4, 6)
# (name, model, make inputs from an index value, good index, bad indices, op in the message)
CASES: list[tuple[str, Callable[[], nn.Module], Callable[[int], tuple], int, list[int], str]] = [
    ("embedding", Embed, lambda v: (torch.tensor([[1, v, 3]]),), 9, [10, 1000, 10**7, 10**12, -1],
     "aten.embedding.default"),
    ("index_select", IndexSelect, lambda v: (X, torch.tensor([0, v])), 5, [6, -7, 10**9],
     "aten.index_select.default"),
    ("gather", Gather, lambda v: (X, torch.tensor([[0, v], [1, 2], [3, 4], [5, 0]])), 5, [6, -1],
     "aten.gather.default"),
    ("advanced_index", Advanced, lambda v: (X, torch.tensor([v, 0])), -4, [4, -5, 10**6],
     "aten.index.Tensor"),
    ("scatter", Scatter, lambda v: (X, torch.tensor([[0, v], [1, 2], [3, 4], [5, 0]])), 5, [6, 100],
     "aten.scatter.value"),
    ("index_put", IndexPut, lambda v: (X, torch.tensor([v, 1])), -1, [4, -5],
     "aten.index_put.default"),
]


@pytest.mark.parametrize("name,factory,make,good,bads,opname", CASES, ids=[c[0] for c in CASES])
def test_bad_index_raises_like_eager(tmp_path, name, factory, make, good, bads, opname) -> None:
    torch.manual_seed(0)
    m = factory().eval()
    mod = buddy.compile(m, make(good), cache_dir=tmp_path, progress=False)
    torch.testing.assert_close(mod(*make(good)), m(*make(good)))
    for bad in bads:
        with pytest.raises((IndexError, RuntimeError)):
            m(*make(bad))  # eager refuses it too
        with pytest.raises(IndexError, match=rf"index {bad} is out of range for a dimension of size \d+ in `{opname}`"):
            mod(*make(bad))
        # and the module is still good afterwards
        torch.testing.assert_close(mod(*make(good)), m(*make(good)))


def test_torch_compile_raises_index_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BUDDY_CACHE_DIR", str(tmp_path))
    torch._dynamo.reset()
    m = Embed().eval()
    f = torch.compile(m, backend="buddy")
    ids = torch.tensor([[1, 2]])
    torch.testing.assert_close(f(ids), m(ids))
    with pytest.raises(IndexError, match=r"index 10 is out of range .* `aten.embedding.default`"):
        f(torch.tensor([[1, 10]]))
    torch._dynamo.reset()


def test_error_names_the_users_source_line(tmp_path) -> None:
    """In a fresh process, from the user's own model file: the message has file:line."""
    (tmp_path / "model.py").write_text(textwrap.dedent("""\
        import torch
        class M(torch.nn.Module):
            def forward(self, x, i):
                return torch.gather(x, 0, i)
        """))
    (tmp_path / "run.py").write_text(textwrap.dedent("""\
        import torch, buddy
        from model import M
        x = torch.arange(6.0)
        mod = buddy.compile(M(), (x, torch.tensor([0, 5])), progress=False)
        try:
            mod(x, torch.tensor([0, 6]))
        except IndexError as e:
            print("ERR", e)
        """))
    env = dict(os.environ, BUDDY_CACHE_DIR=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "run.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "ERR index 6 is out of range for a dimension of size 6 in `aten.gather.default` at" in r.stdout, r.stdout
    assert "model.py:4" in r.stdout, r.stdout


def test_checks_can_be_turned_off_and_stay_memory_safe() -> None:
    """import_model(check_indices=False) (buddy.llm, which checks token ids itself): no extra
    result, and a bad index reads a clamped row instead of memory outside the table."""
    from buddy.frontend import import_model

    m = Embed().eval()
    g = import_model(m, (torch.tensor([[1, 2]]),), check_indices=False)
    assert not g.index_sites and [o.name for o in g.outputs] == ["output0"]
    out = g.run(torch.tensor([[1, 10**9]]))[0]
    torch.testing.assert_close(out[0, 1], m.e.weight[9].detach())
