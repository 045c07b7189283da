"""Error messages of the frontend: they name the op overload, the node and the model source line."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn as nn

import buddy.frontend as bf
from buddy.frontend.errors import UnsupportedOpError


class PairwiseDistances(nn.Module):
    def forward(self, x):
        y = x * 2
        d = torch.cdist(y, x)  # the unsupported op is on this line
        return d + 1


def test_unsupported_op_names_overload_node_and_source_line():
    # cdist has a linalg lowering but no TOSA one
    with pytest.raises(UnsupportedOpError) as info:
        bf.import_model(PairwiseDistances(), (torch.randn(3, 4),), dialect="tosa")
    e = info.value
    msg = str(e)
    assert e.op == "aten._cdist_forward.default" and "`aten._cdist_forward.default`" in msg
    assert e.node.startswith("_cdist_forward") and f"node `{e.node}`" in msg
    assert "test_frontend_errors.py" in msg and "torch.cdist(y, x)" in msg
    assert 'dialect="linalg"' in msg and "docs/ops.md" in msg and "github.com" not in msg


class Sorting(nn.Module):
    def forward(self, x):
        return torch.sort(x, dim=0).values


def test_tosa_gap_suggests_linalg_and_linalg_handles_it():
    x = torch.randn(4, 3)
    with pytest.raises(UnsupportedOpError, match=r'aten\.sort\.\w+.*dialect="linalg"'):
        bf.import_model(Sorting(), (x,), dialect="tosa")
    g = bf.import_model(Sorting(), (x,), dialect="linalg")
    torch.testing.assert_close(g.run(x)[0], torch.sort(x, 0).values)
    g = bf.import_model(PairwiseDistances(), (x,), dialect="linalg")
    torch.testing.assert_close(g.run(x)[0], PairwiseDistances()(x))


def test_unsupported_argument_combination_gives_the_reason():
    class StridedSlice(nn.Module):
        def forward(self, x):
            return x[:, ::2] + 1

    with pytest.raises(UnsupportedOpError, match=r"aten\.slice\.Tensor.*step != 1.*to tosa"):
        bf.import_model(StridedSlice(), (torch.randn(3, 6),), dialect="tosa")


def test_unknown_dialect_is_rejected():
    with pytest.raises(ValueError, match="unknown dialect 'spirv'"):
        bf.import_model(nn.ReLU(), (torch.randn(2),), dialect="spirv")


def test_data_dependent_model_raises_capture_error():
    class DataDependent(nn.Module):
        def forward(self, x):
            return x[x > 0]  # nonzero: output shape depends on values

    with pytest.raises(bf.FrontendError):
        bf.import_model(DataDependent(), (torch.randn(5),))


def test_dynamic_shapes_are_specialized_with_a_warning():
    m = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    compiled = torch.compile(m, backend="buddy", dynamic=True)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        with torch.no_grad():
            for n in (2, 5):
                x = torch.randn(n, 4)
                torch.testing.assert_close(compiled(x), m(x))
    assert any("specialized" in str(w.message) for w in rec)
