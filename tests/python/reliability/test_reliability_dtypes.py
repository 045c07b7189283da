"""Dtypes at the edges: bf16 on every x86 host (AVX2 CPUs convert f32 -> bf16 through
__truncsfbf2, which GCC 12's libgcc lacks; backend/builtins.py supplies it), bf16 torch
tensors in and out, and uint8 refused with a message that names the dtype."""

from __future__ import annotations

import platform

import pytest
import torch
from torch import nn

import buddy


class ToBF16(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * b + 1).to(torch.bfloat16)


class FromBF16(nn.Module):
    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return a.float() * 3


def _avx2_runs_here() -> str | None:
    if platform.machine() not in ("x86_64", "AMD64"):
        return f"the x86-avx2 target does not run on {platform.machine()}"
    flags = open("/proc/cpuinfo").read()
    if " avx2" not in flags or " fma" not in flags:
        return "this CPU lacks AVX2/FMA, which the x86-avx2 target's code uses"
    return None


@pytest.mark.parametrize("target", ["x86-avx2", "host"])
def test_bf16_output_rounds_like_torch(tmp_path, target: str) -> None:
    why = _avx2_runs_here() if target == "x86-avx2" else None
    if why:
        pytest.skip(why)
    torch.manual_seed(0)
    a = torch.randn(8, 64)
    b = torch.randn(8, 64)
    # exact ties (round to even), huge values, infinities and NaN
    a[0, :6] = torch.tensor([1.00390625, 1.01171875, 3.0e38, float("inf"), float("-inf"), float("nan")])
    b[0, :6] = 1.0
    a[0, :6] -= 1.0
    mod = buddy.compile(ToBF16(), (a, b), target=target, cache_dir=tmp_path, progress=False)
    got = mod(a, b)
    want = ToBF16()(a, b)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)


def test_bf16_tensor_input(tmp_path) -> None:
    a = torch.randn(4, 16).to(torch.bfloat16)
    mod = buddy.compile(FromBF16(), (a,), cache_dir=tmp_path, progress=False)
    torch.testing.assert_close(mod(a), FromBF16()(a), rtol=0, atol=0)


def test_uint8_is_refused_by_name(tmp_path) -> None:
    class AddOne(nn.Module):
        def forward(self, a: torch.Tensor) -> torch.Tensor:
            return a + 1

    a = torch.arange(6, dtype=torch.uint8)
    with pytest.raises(TypeError, match=r"dtype u8 is not supported by the Buddy runtime"):
        buddy.compile(AddOne(), (a,), cache_dir=tmp_path, progress=False)
