"""Numerical tests of --buddy-conv2d-vectorize and --buddy-pooling-vectorize:
linalg on tensors (as the frontend emits it, padding included) is lowered with
`buddy-opt --buddy-cpu-pipeline`, compiled natively, run through the
`_buddy_<f>(void **)` ABI and compared with PyTorch (float64 reference); and
small CNNs go through the whole frontend (`buddy.compile`, kernels on by default) and are
compared with eager.

Shapes cover the kernels' edges: odd H/W, output widths below, at and above the
register tile (masked tails), output channels not a multiple of the channel
block, strides 2 (shuffle path) and 3 (gather path), dilation, 1x1 kernels
(stride 1: the GEMM route, or GEMV for 3 output channels; stride 2: the direct
kernel), 7x7 kernels, batch > 1, input channels split into c-block passes, the
4-lane (neon/generic) tiles run natively, and the NHWC variants.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import buddy

from support.conv_harness import ConvSpec, PoolSpec, build_conv, build_pool, conv_reference, pool_reference
from support.midend_harness import aligned_empty, require_native_toolchain


def _skip_unless_cpu_has(flags: set[str]) -> None:
    cpu = Path("/proc/cpuinfo")
    have = set(cpu.read_text().split()) if cpu.exists() else set()
    if not flags <= have:
        pytest.skip(f"this CPU lacks {sorted(flags - have)}")


def _check_conv(spec: ConvSpec, workdir: Path, options: str) -> None:
    kernel = build_conv(spec, workdir, options)
    sx, sw, so = spec.shapes()
    rng = np.random.default_rng(abs(hash(spec.name)) % 2**32)
    x = rng.standard_normal(sx, dtype=np.float32)
    w = rng.standard_normal(sw, dtype=np.float32)
    o = aligned_empty(so)
    o[...] = np.nan  # the kernel must overwrite every element
    kernel.bind(x, w, o)()
    ref = conv_reference(spec, x, w)
    assert np.isfinite(o).all(), f"{spec.name}: unwritten/NaN outputs"
    # f32 accumulation of C*KH*KW products of N(0,1) values.
    tol = 1e-5 * (1.0 + float(np.sqrt(spec.c * spec.kh * spec.kw)))
    err = float(np.abs(o.astype(np.float64) - ref).max())
    assert err <= tol, f"{spec.name} [{options}]: max abs error {err:.3e} > {tol:.1e}"


def _check_pool(spec: PoolSpec, workdir: Path, options: str) -> None:
    kernel = build_pool(spec, workdir, options)
    sx, so = spec.shapes()
    rng = np.random.default_rng(abs(hash(spec.name)) % 2**32)
    x = rng.standard_normal(sx, dtype=np.float32)
    o = aligned_empty(so)
    o[...] = np.nan
    kernel.bind(x, o)()
    ref = pool_reference(spec, x)
    assert np.isfinite(o).all(), f"{spec.name}: unwritten/NaN outputs"
    err = float(np.abs(o.astype(np.float64) - ref).max())
    assert err <= 1e-5 * spec.kh * spec.kw, f"{spec.name} [{options}]: max abs error {err:.3e}"


CONVS = {
    "3x3_pad_odd_hw_f19": ConvSpec(1, 5, 13, 11, 19, 3, 3, pad=(1, 1)),
    "7x7_s2_stem": ConvSpec(1, 3, 23, 29, 8, 7, 7, stride=(2, 2), pad=(3, 3)),
    "3x3_dil2_batch2": ConvSpec(2, 4, 15, 17, 6, 3, 3, pad=(2, 2), dil=(2, 2)),
    "3x2_stride3_gather": ConvSpec(1, 3, 14, 20, 5, 3, 2, stride=(3, 3)),
    "1x1_gemm_batch2": ConvSpec(2, 8, 7, 9, 12, 1, 1),
    "1x1_f3_gemv_route": ConvSpec(1, 20, 5, 37, 3, 1, 1),
    "1x1_s2_direct": ConvSpec(1, 16, 9, 9, 10, 1, 1, stride=(2, 2)),
    "wide_row_tiles_and_tail": ConvSpec(1, 4, 6, 70, 9, 3, 3, pad=(0, 1)),
    "3x3_s2_rect_stride": ConvSpec(1, 6, 12, 19, 17, 3, 3, stride=(2, 1), pad=(1, 1)),
    "48ch_two_channel_blocks": ConvSpec(1, 48, 9, 20, 11, 3, 3, pad=(1, 1)),
    "nhwc_3x3_pad_f20": ConvSpec(1, 7, 9, 11, 20, 3, 3, pad=(1, 1), layout="nhwc"),
    "nhwc_s2_dil_batch2": ConvSpec(2, 5, 12, 13, 37, 3, 3, stride=(2, 2), dil=(1, 2), layout="nhwc"),
}


@pytest.mark.parametrize("case", list(CONVS))
def test_conv_matches_torch(tmp_path: Path, case: str) -> None:
    require_native_toolchain()
    _skip_unless_cpu_has({"avx512f"})
    _check_conv(CONVS[case], tmp_path, "target=avx512")


@pytest.mark.parametrize("case", ["3x3_pad_odd_hw_f19", "7x7_s2_stem", "3x2_stride3_gather", "nhwc_3x3_pad_f20"])
def test_conv_avx2_tiles_match_torch(tmp_path: Path, case: str) -> None:
    """8-lane vectors and the avx2 channel block (4)."""
    require_native_toolchain()
    _skip_unless_cpu_has({"avx2", "fma"})
    _check_conv(CONVS[case], tmp_path, "target=avx2")


@pytest.mark.parametrize("case", ["3x3_pad_odd_hw_f19", "7x7_s2_stem", "3x2_stride3_gather", "nhwc_s2_dil_batch2"])
def test_conv_generic_4_lane_tiles_match_torch(tmp_path: Path, case: str) -> None:
    """The neon/generic configuration (4 lanes, channel block 4), run natively."""
    require_native_toolchain()
    _check_conv(CONVS[case], tmp_path, "target=generic")


def test_conv_custom_tiles_match_torch(tmp_path: Path) -> None:
    """Non-default register tiles through the pipeline options."""
    require_native_toolchain()
    _skip_unless_cpu_has({"avx512f"})
    _check_conv(ConvSpec(1, 3, 19, 40, 13, 3, 3, pad=(1, 1)), tmp_path,
                "target=avx512 conv-oc-block=5 conv-ow-vectors=3")


POOLS = {
    "max_3x3_s2_pad_resnet": PoolSpec(1, 5, 17, 19, 3, 3, stride=(2, 2), pad=(1, 1)),
    "max_2x2_s2_batch2": PoolSpec(2, 3, 8, 10, 2, 2, stride=(2, 2)),
    "max_3x3_dil2": PoolSpec(1, 4, 13, 37, 3, 3, dil=(2, 2)),
    "max_s3_gather": PoolSpec(1, 2, 11, 50, 3, 3, stride=(3, 3)),
    "sum_3x3_pad": PoolSpec(1, 3, 9, 21, 3, 3, pad=(1, 1), kind="sum"),
    "sum_2x2_s2_wide": PoolSpec(1, 2, 6, 130, 2, 2, stride=(2, 2), kind="sum"),
    "nhwc_max_3x3_s2": PoolSpec(1, 20, 9, 11, 3, 3, stride=(2, 2), pad=(1, 1), layout="nhwc"),
    "nhwc_sum_dil": PoolSpec(2, 70, 7, 8, 2, 3, dil=(2, 1), kind="sum", layout="nhwc"),
}


@pytest.mark.parametrize("case", list(POOLS))
def test_pool_matches_torch(tmp_path: Path, case: str) -> None:
    require_native_toolchain()
    _skip_unless_cpu_has({"avx512f"})
    _check_pool(POOLS[case], tmp_path, "target=avx512")


@pytest.mark.parametrize("case", ["max_3x3_s2_pad_resnet", "sum_3x3_pad"])
def test_pool_avx2_matches_torch(tmp_path: Path, case: str) -> None:
    require_native_toolchain()
    _skip_unless_cpu_has({"avx2", "fma"})
    _check_pool(POOLS[case], tmp_path, "target=avx2")


@pytest.mark.parametrize("case", ["max_3x3_s2_pad_resnet", "max_s3_gather", "nhwc_sum_dil"])
def test_pool_generic_4_lane_matches_torch(tmp_path: Path, case: str) -> None:
    require_native_toolchain()
    _check_pool(POOLS[case], tmp_path, "target=generic")


class _ResNetStyle(torch.nn.Module):
    """Stem 7x7/2 + maxpool 3x3/2, a 3x3 block with a 1x1 projection, a
    dilated conv and average pooling; odd channel counts, conv biases."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 12, 7, stride=2, padding=3)
        self.pool = torch.nn.MaxPool2d(3, stride=2, padding=1)
        self.c1 = torch.nn.Conv2d(12, 17, 3, padding=1)
        self.proj = torch.nn.Conv2d(12, 17, 1, bias=False)
        self.dil = torch.nn.Conv2d(17, 9, 3, padding=2, dilation=2)
        self.avg = torch.nn.AvgPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(torch.relu(self.stem(x)))
        y = torch.relu(self.c1(y) + self.proj(y))
        return self.avg(self.dil(y))


@pytest.mark.parametrize("kernels", ["avx512", "avx2"])
def test_resnet_style_cnn_through_frontend_matches_eager(tmp_path: Path, kernels: str) -> None:
    require_native_toolchain()
    _skip_unless_cpu_has({"avx512f"} if kernels == "avx512" else {"avx2", "fma"})
    torch.manual_seed(0)
    m = _ResNetStyle().eval()
    x = torch.randn(2, 3, 45, 39)
    with torch.no_grad():
        want = m(x)
    target = "x86-avx512" if kernels == "avx512" else "x86-avx2"
    compiled = buddy.compile(m, (x,), target=target, cache_dir=tmp_path / "cache",
                             progress=False)
    got = compiled(x)
    got = got[0] if isinstance(got, (list, tuple)) else got
    torch.testing.assert_close(torch.as_tensor(got), want, rtol=1e-4, atol=1e-4)
