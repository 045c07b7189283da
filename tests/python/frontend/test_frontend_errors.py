"""Error messages of the frontend: they name the op overload, the node and the model source line."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn as nn

import buddy.frontend as bf
import buddy.dynamo  # noqa: F401  (backend="buddy" without an installed entry point)
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

    with pytest.raises(UnsupportedOpError, match=r"aten\.slice\.Tensor.* tosa lowering: strided slice \(step != 1\)"):
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


_LOC_MODEL = '''\
import torch
import torch.nn.functional as F

import buddy.frontend as bf


class Conv3d(torch.nn.Module):
    def forward(self, x, w):
        y = x + 1
        return F.conv3d(y, w)  # UNSUPPORTED: linalg lowers 2-D convolution only


class Scaled(torch.nn.Module):
    def forward(self, x):
        return torch.relu(x) * 2  # SUPPORTED


try:
    bf.import_model(Conv3d(), (torch.randn(1, 2, 4, 4, 4), torch.randn(3, 2, 2, 2, 2)))
except bf.UnsupportedOpError as e:
    print("ERROR:", e)
    print("LOC:", e.loc.file, e.loc.line, e.loc.col)
else:
    print("NO ERROR")
print(bf.import_model(Scaled(), (torch.randn(5),)).module.text(debug_info=True))
'''


def test_errors_and_ir_carry_the_user_source_line(tmp_path):
    """A model file run in a fresh process: the error names that file and line, and the emitted
    ops carry `loc("<node>"(".../model.py":line:col))`."""
    import os
    import re
    import subprocess
    import sys

    src = tmp_path / "model.py"
    src.write_text(_LOC_MODEL)
    lines = _LOC_MODEL.splitlines()
    bad = next(i for i, ln in enumerate(lines, 1) if "# UNSUPPORTED" in ln)
    good = next(i for i, ln in enumerate(lines, 1) if "# SUPPORTED" in ln)
    r = subprocess.run([sys.executable, str(src)], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ))
    assert r.returncode == 0, r.stderr[-4000:]
    out = r.stdout
    err = next(ln for ln in out.splitlines() if ln.startswith(("ERROR:", "NO ERROR")))
    assert err.startswith("ERROR:"), out[-2000:]
    # `aten.convolution.default` at model.py:10 (`return F.conv3d(y, w)  # ...`) is not supported ...
    assert f"`aten.convolution.default` at model.py:{bad} (`return F.conv3d(y, w)" in err, err
    assert "3-D convolution" in err and "linalg lowering" in err
    loc = next(ln for ln in out.splitlines() if ln.startswith("LOC:")).split()
    assert os.path.samefile(loc[1], src) and int(loc[2]) == bad
    assert int(loc[3]) == lines[bad - 1].index("F.conv3d") + 1  # the column of the call
    # the relu and the mul of `Scaled.forward` carry the line, wrapped in their FX node names
    file_locs = set(re.findall(r'^(#loc\d*) = loc\("[^"]*model\.py":%d:\d+\)$' % good, out, re.M))
    assert file_locs, out[-3000:]
    name_locs = re.findall(r'^(#loc\d*) = loc\("(\w+)"\((#loc\d*)\)\)$', out, re.M)
    named = {alias: name for alias, name, child in name_locs if child in file_locs}
    assert set(named.values()) == {"relu", "mul"}, out[-3000:]
    # ... and so do the ops emitted for them (each linalg.generic ends with `} -> tensor<...> loc(#locN)`)
    generic_locs = re.findall(r"^\s*\} -> tensor<5xf32> loc\((#loc\d*)\)$", out, re.M)
    assert sorted(named[a] for a in generic_locs) == ["mul", "relu"], out[-3000:]


def test_source_loc_skips_torch_frames():
    import os

    from buddy.frontend.source import source_loc
    torch_file = os.path.join(os.path.dirname(torch.__file__), "nn", "functional.py")
    trace = (f'  File "/home/u/proj/model.py", line 7, in forward\n    y = F.gelu(x) + 1\n        ^^^^^^^^^\n'
             f'  File "{torch_file}", line 100, in gelu\n    return torch._C._nn.gelu(x)\n'
             f'  File "<eval_with_key>.3", line 5, in forward\n    gelu = torch.ops.aten.gelu.default(x)\n')
    loc = source_loc(trace)
    assert (loc.file, loc.line, loc.col, loc.func, loc.code) == ("/home/u/proj/model.py", 7, 5, "forward",
                                                                "y = F.gelu(x) + 1")
    assert str(loc) == "/home/u/proj/model.py:7 (`y = F.gelu(x) + 1`)"
    assert source_loc(f'  File "{torch_file}", line 100, in gelu\n    return g(x)\n') is None
    assert source_loc(None) is None
