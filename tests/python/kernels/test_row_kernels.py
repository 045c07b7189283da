"""Row kernels (issue 6): softmax and RMSNorm compiled by Buddy vs PyTorch eager.

The frontend emits `linalg.softmax` for f32 softmax over the last dimension and fuses LLaMA's
pow/mean/add/rsqrt/mul/mul chain into `buddy.rms_norm`; buddy-opt's --buddy-softmax-vectorize /
--buddy-rmsnorm-vectorize lower them to vector row kernels (named pipeline and default stages),
the in-process JIT decomposes them with upstream passes. Ragged row lengths (not a multiple of
any vector width) and causal -inf masks, including fully masked rows (NaN, as in torch)."""

from __future__ import annotations

import re

from pathlib import Path

import pytest
import torch
from torch.fx.experimental.proxy_tensor import make_fx

import buddy
from buddy import toolchain
from buddy.frontend import import_model
from buddy.frontend.graph import from_fx
from buddy.frontend.passes import dead_code_elimination, fuse_rms_norm

aten = torch.ops.aten
ROWS = (1, 5, 16, 37, 129, 513)  # row lengths: below, at and around 16-lane multiples


def _avx512() -> bool:
    cpu = Path("/proc/cpuinfo")
    return cpu.exists() and {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= set(cpu.read_text().split())


def _configs():
    out = [pytest.param(None, False, id="stages-seq"), pytest.param("avx2", True, id="kernels-avx2-omp")]
    if _avx512():
        out += [pytest.param("avx512", False, id="kernels-avx512-seq"),
                pytest.param("avx512", True, id="kernels-avx512-omp")]
    return out


class Softmaxes(torch.nn.Module):
    """softmax(x_i + mask_i, -1) for several row lengths; mask_i is causal (-inf above the diagonal,
    row 0 fully masked)."""

    def forward(self, *xm: torch.Tensor):
        return tuple(torch.softmax(x + m, dim=-1) for x, m in zip(xm[0::2], xm[1::2]))


def _softmax_inputs():
    g = torch.Generator().manual_seed(0)
    args = []
    for n in ROWS:
        # The longest rows get enough of them (>= 16384 elements) for the parallel row loop.
        x = 4 * torch.randn(8 if n == ROWS[-1] else 3, 4, n, generator=g)
        m = torch.full((4, n), float("-inf")).triu(1)
        m[0] = float("-inf")  # a fully masked row: torch gives NaN
        args += [x, m]
    return args


class RMSNorms(torch.nn.Module):
    """LLaMA RMSNorm (weight * (x * rsqrt(mean(x^2) + eps))) for several row lengths, plus one without weight."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.w = torch.nn.ParameterList([torch.nn.Parameter(1 + torch.randn(n, generator=g), requires_grad=False)
                                         for n in ROWS])

    def forward(self, *xs: torch.Tensor):
        out = tuple(w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5)) for w, x in zip(self.w, xs))
        x = xs[-1]
        return out + (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6),)


def _rms_inputs():
    g = torch.Generator().manual_seed(2)
    return [3 * torch.randn(12 if n == ROWS[-1] else 2, 3, n, generator=g) for n in ROWS]


def _compile_and_compare(mod, args, kernels, openmp, tmp_path):
    """`kernels`: None = reference lowering (kernels=False) on the host, else the x86 ISA row."""
    if kernels is not None or openmp:
        try:
            toolchain.find_libomp()
        except toolchain.ToolNotFound as e:
            pytest.skip(str(e))
    with torch.no_grad():
        want = mod(*args)
        target = "host" if kernels is None else f"x86-{kernels}"
        compiled = buddy.compile(mod, args, target=target, kernels=kernels is not None, openmp=openmp,
                                 cache_dir=tmp_path / "cache",
                                 progress=False, artifact_dir=tmp_path / "art")
        got = compiled(*args)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g = torch.as_tensor(g)
        assert g.shape == w.shape
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6, equal_nan=True)
    return compiled


@pytest.mark.parametrize("kernels,openmp", _configs())
def test_softmax_matches_eager(kernels, openmp, tmp_path):
    compiled = _compile_and_compare(Softmaxes().eval(), _softmax_inputs(), kernels, openmp, tmp_path)
    # The rows with a fully masked first row really are NaN there, and only there.
    got = compiled(*_softmax_inputs())
    assert torch.isnan(torch.as_tensor(got[0])[:, 0]).all() and not torch.isnan(torch.as_tensor(got[0])[:, 1:]).any()


@pytest.mark.parametrize("kernels,openmp", _configs())
def test_rms_norm_matches_eager(kernels, openmp, tmp_path):
    _compile_and_compare(RMSNorms().eval(), _rms_inputs(), kernels, openmp, tmp_path)


def test_row_kernels_emitted_and_lowered(tmp_path):
    """The frontend's forms reach buddy-opt, and its row kernels replace them (no scalar expf call)."""
    mod, args = RMSNorms().eval(), _rms_inputs()
    g = import_model(mod, args)
    text = str(g.module.mlir_text)
    assert text.count("math.rsqrt") == len(ROWS) + 1 and "aten" not in text and "buddy." not in text
    rc = buddy.compile(mod, args, target="x86-avx2", openmp=False, artifact_dir=tmp_path / "rms", progress=False)
    # The RMSNorms became the row kernel: 8-lane fmas (vector.fma -> fmuladd) with masked row tails.
    rt = (rc.artifact_dir / "2-llvm.mlir").read_text()
    assert re.search(r"llvm.intr.fmuladd.*vector<8xf32>", rt) and "llvm.intr.masked" in rt
    sm = import_model(Softmaxes().eval(), _softmax_inputs())
    assert str(sm.module.mlir_text).count("linalg.softmax") == len(ROWS)
    compiled = buddy.compile(Softmaxes().eval(), _softmax_inputs(), target="x86-avx2", openmp=False,
                             artifact_dir=tmp_path / "art", progress=False)
    t = (compiled.artifact_dir / "2-llvm.mlir").read_text()
    assert "llvm.intr.maximum" in t and "expf" not in t and "llvm.intr.exp" not in t


def test_jit_decomposes_softmax_and_runs_rms_norm():
    args = _softmax_inputs()[:4]
    mod = Softmaxes().eval()
    with torch.no_grad():
        want = mod(*args)
    got = import_model(mod, args).run(*args)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6, equal_nan=True)
    rms, xs = RMSNorms().eval(), _rms_inputs()
    with torch.no_grad():
        want = rms(*xs)
    for g, w in zip(import_model(rms, xs).run(*xs), want):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- the graph pass
def _graph(fn, *args):
    gm = make_fx(fn)(*args)
    n = len([p for p in gm.graph.nodes if p.op == "placeholder"])
    return from_fx(gm, [None] * n, {}, list(args))


def _rms(x, w, dim=-1, exponent=2):
    r = aten.rsqrt.default(aten.add.Tensor(aten.mean.dim(aten.pow.Tensor_Scalar(x, exponent), [dim], True), 1e-6))
    return aten.mul.Tensor(w, aten.mul.Tensor(x, r))


def test_fuse_rms_norm_chain():
    g = dead_code_elimination(fuse_rms_norm(_graph(lambda x, w: _rms(x, w), torch.randn(3, 8), torch.randn(8))))
    assert [n.op for n in g.nodes] == ["buddy.rms_norm"]
    kw = g.nodes[0].kwargs
    assert kw["eps"] == 1e-6 and kw["weight"] is not None and kw["input"] is not None


@pytest.mark.parametrize("case", ["bf16", "dim0", "cube", "shared"])
def test_fuse_rms_norm_leaves_other_chains(case):
    x, w = torch.randn(3, 8), torch.randn(8)
    if case == "bf16":
        fn, args = (lambda x, w: _rms(x, w)), (x.bfloat16(), w.bfloat16())
    elif case == "dim0":
        fn, args = (lambda x, w: _rms(x, w, dim=0)), (x, torch.randn(3, 1))
    elif case == "cube":
        fn, args = (lambda x, w: _rms(x, w, exponent=3)), (x, w)
    else:  # the mean is used twice
        def fn(x, w):
            m = aten.mean.dim(aten.pow.Tensor_Scalar(x, 2), [-1], True)
            return aten.mul.Tensor(x, aten.rsqrt.default(aten.add.Tensor(m, 1e-6))), m
        args = (x, w)
    g = dead_code_elimination(fuse_rms_norm(_graph(fn, *args)))
    assert "buddy.rms_norm" not in [n.op for n in g.nodes]


def test_tosa_path_unchanged_and_fused(tmp_path):
    """TOSA keeps its own softmax/RMSNorm ops (no Buddy graph ops); the named pipeline (from-tosa,
    elementwise fusion on the lowered linalg) still matches eager."""
    try:
        toolchain.find_libomp()
    except toolchain.ToolNotFound as e:
        pytest.skip(str(e))
    for mod, args in ((Softmaxes().eval(), _softmax_inputs()[:4]), (RMSNorms().eval(), _rms_inputs())):
        g = import_model(mod, args, dialect="tosa")
        text = str(g.module.mlir_text)
        assert "linalg.softmax" not in text and "buddy.rms_norm" not in text
        with torch.no_grad():
            want = mod(*args)
        got = buddy.compile(g, target="x86-avx2", artifact_dir=tmp_path / type(mod).__name__, progress=False)(*args)
        for a, b in zip(got, want):
            torch.testing.assert_close(torch.as_tensor(a), b, rtol=1e-5, atol=1e-6, equal_nan=True)
