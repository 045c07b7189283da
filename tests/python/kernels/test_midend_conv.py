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
4-lane (neon/generic) tiles run natively, and the NHWC variants. Grouped and
depthwise convolutions (linalg.conv_2d_ngchw_gfchw, the same NCHW kernel with a
group dimension) cover one and several input channels per group, depth
multiplier 2, the taller tiles of few-channel groups and grouped 1x1 (the direct
kernel, not the GEMM route); MobileNetV2's depthwise layers go through the
frontend and are compared with eager.
"""

from __future__ import annotations

import re
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
    # groups > 1: linalg.conv_2d_ngchw_gfchw
    "dw_3x3_pad_odd_w": ConvSpec(1, 5, 13, 19, 5, 3, 3, pad=(1, 1), groups=5),
    "dw_3x3_s2_pad": ConvSpec(1, 7, 15, 21, 7, 3, 3, stride=(2, 2), pad=(1, 1), groups=7),
    "dw_mult2_dil_batch2": ConvSpec(2, 3, 12, 40, 6, 3, 3, pad=(2, 2), dil=(2, 2), groups=3),
    "dw_5x5_wide_rows": ConvSpec(1, 4, 9, 70, 4, 5, 5, pad=(2, 2), groups=4),
    "dw_7x7_small": ConvSpec(1, 9, 7, 7, 9, 3, 3, pad=(1, 1), groups=9),
    "grouped_c4_f6": ConvSpec(1, 8, 9, 11, 12, 3, 3, pad=(1, 1), groups=2),
    "grouped_s3_gather": ConvSpec(1, 6, 14, 20, 9, 3, 2, stride=(3, 3), groups=3),
    "grouped_1x1_direct": ConvSpec(1, 8, 7, 9, 8, 1, 1, groups=4),
}


@pytest.mark.parametrize("case", list(CONVS))
def test_conv_matches_torch(tmp_path: Path, case: str) -> None:
    require_native_toolchain()
    _skip_unless_cpu_has({"avx512f"})
    _check_conv(CONVS[case], tmp_path, "target=avx512")


@pytest.mark.parametrize("case", ["3x3_pad_odd_hw_f19", "7x7_s2_stem", "3x2_stride3_gather", "nhwc_3x3_pad_f20",
                                  "dw_3x3_s2_pad", "dw_mult2_dil_batch2", "grouped_c4_f6"])
def test_conv_avx2_tiles_match_torch(tmp_path: Path, case: str) -> None:
    """8-lane vectors and the avx2 channel block (4)."""
    require_native_toolchain()
    _skip_unless_cpu_has({"avx2", "fma"})
    _check_conv(CONVS[case], tmp_path, "target=avx2")


@pytest.mark.parametrize("case", ["3x3_pad_odd_hw_f19", "7x7_s2_stem", "3x2_stride3_gather", "nhwc_s2_dil_batch2",
                                  "dw_3x3_pad_odd_w", "dw_3x3_s2_pad", "grouped_s3_gather"])
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


# MobileNetV2 (width 1.0, 224x224): every depthwise 3x3 layer's (channels, input size, stride).
MOBILENET_V2_DW = [(32, 112, 1), (96, 112, 2), (144, 56, 1), (144, 56, 2), (192, 28, 1), (192, 28, 2),
                   (384, 14, 1), (576, 14, 1), (576, 14, 2), (960, 7, 1)]
# Odd shapes: (in channels, depth multiplier, H, W, stride, bias); widths not a multiple of the vector.
ODD_DW = [(6, 1, 11, 37, 1, True), (5, 2, 9, 23, 2, False), (4, 2, 13, 19, 1, True), (3, 1, 5, 3, 2, False)]


def _compile_and_compare(tmp_path: Path, m: torch.nn.Module, x: torch.Tensor, target: str) -> tuple[str, str]:
    """buddy.compile vs eager (rtol 1e-4); returns the artifact's frontend MLIR and LLVM-dialect MLIR."""
    with torch.no_grad():
        want = m(x)
    art = tmp_path / "art"
    compiled = buddy.compile(m, (x,), target=target, artifact_dir=art, progress=False)
    got = compiled(x)
    got = got[0] if isinstance(got, (list, tuple)) else got
    torch.testing.assert_close(torch.as_tensor(got), want, rtol=1e-4, atol=1e-4)
    return (art / "0-input.mlir").read_text(), (art / "2-llvm.mlir").read_text()


def _assert_grouped_conv_vectorized(frontend: str, llvm: str, lanes: int) -> None:
    # The frontend emits the named grouped conv (no 7-loop generic), and the only vector FMAs of
    # the compiled module are the conv kernel's (padding and bias are scalar loops otherwise).
    assert "linalg.conv_2d_ngchw_gfchw" in frontend
    assert not re.search(r'iterator_types = \["parallel", "parallel", "parallel", "parallel", "reduction"', frontend)
    assert re.search(rf"llvm\.intr\.fmuladd\(.*\) : \(vector<{lanes}xf32>", llvm)


@pytest.mark.parametrize("c,hw,stride", MOBILENET_V2_DW, ids=[f"c{c}_{hw}_s{s}" for c, hw, s in MOBILENET_V2_DW])
def test_mobilenet_v2_depthwise_through_frontend_matches_eager(tmp_path: Path, c: int, hw: int, stride: int) -> None:
    require_native_toolchain()
    _skip_unless_cpu_has({"avx512f"})
    torch.manual_seed(c + hw + stride)
    m = torch.nn.Conv2d(c, c, 3, stride=stride, padding=1, groups=c, bias=False).eval()
    frontend, llvm = _compile_and_compare(tmp_path, m, torch.randn(1, c, hw, hw), "x86-avx512")
    _assert_grouped_conv_vectorized(frontend, llvm, 16)


@pytest.mark.parametrize("target,lanes", [("x86-avx512", 16), ("x86-avx2", 8)])
@pytest.mark.parametrize("c,mult,h,w,stride,bias", ODD_DW,
                         ids=[f"c{c}_m{k}_{h}x{w}_s{s}_{'bias' if b else 'nobias'}" for c, k, h, w, s, b in ODD_DW])
def test_odd_depthwise_through_frontend_matches_eager(tmp_path: Path, target: str, lanes: int, c: int, mult: int,
                                                      h: int, w: int, stride: int, bias: bool) -> None:
    require_native_toolchain()
    _skip_unless_cpu_has({"avx512f"} if lanes == 16 else {"avx2", "fma"})
    torch.manual_seed(c * mult + h)
    m = torch.nn.Conv2d(c, c * mult, 3, stride=stride, padding=1, groups=c, bias=bias).eval()
    frontend, llvm = _compile_and_compare(tmp_path, m, torch.randn(1, c, h, w), target)
    _assert_grouped_conv_vectorized(frontend, llvm, lanes)


def test_grouped_conv_through_frontend_matches_eager(tmp_path: Path) -> None:
    """groups = 2 with 3 input / 5 output channels per group, stride 2, bias."""
    require_native_toolchain()
    _skip_unless_cpu_has({"avx512f"})
    torch.manual_seed(1)
    m = torch.nn.Conv2d(6, 10, 3, stride=2, padding=1, groups=2).eval()
    frontend, llvm = _compile_and_compare(tmp_path, m, torch.randn(2, 6, 17, 29), "x86-avx512")
    _assert_grouped_conv_vectorized(frontend, llvm, 16)
