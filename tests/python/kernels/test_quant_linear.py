"""Quantized linear layers (`buddy.quant.QuantLinear`, GGUF Q8_0 / Q4_0 / Q4_1) through `buddy.compile`.

Weights are quantized with the `gguf` package's own quantizer, repacked into Buddy's planes
(`buddy.quant.planes_from_gguf`) and compiled (the frontend's quantized `linalg.generic`, then
`--buddy-quant-matmul-vectorize` in the default pipeline: the GEMV kernel for M <= 4, dequantize
+ GEMM above). The reference is `gguf.quants.dequantize` + a float64 matmul.

Tolerance: every output is a dot product of K terms x_k * w_k computed in f32 in some order
(the kernel sums x * q per block, scales once per block, adds mins * sum(x)); any such order
has |error| <= gamma_(K+c) * sum_k |x_k| (|d q_k| + |m|), gamma_n = n u / (1 - n u), u = 2^-24
(Higham, "Accuracy and Stability of Numerical Algorithms", 3.1), with c = 8 covering the scale
and min products, the dequantized reference's own f32 rounding and the final addition into y.

That bound is for f32 activations (the default, `int8_activations=False`). With int8 activations
(`int8_activations=True`, on a target with an integer dot kernel,
`buddy.backend.pipeline.int8_dot_kernel`), x is rounded per block b of 32 to dx_b * q, |q| <= 127,
dx_b = max_b |x| / 127, so |x_k - dx_b q_k| <= dx_b / 2 (round to nearest; the factor below is
0.5 + 2^-10 for the f32 rounding of x * (127 / max|x|)); the block dots are exact integers, so
|error| <= sum_b (dx_b / 2) sum_(k in b) |w_k| + the f32 bound above over the rounded x
(`_int8_bound`; docs/quantization.md).
"""
from __future__ import annotations

import dataclasses
import platform
from pathlib import Path
from typing import Any
import numpy as np
import pytest
import torch

gguf = pytest.importorskip("gguf")

import buddy  # noqa: E402
from buddy.quant import BLOCK, QuantFormatError, QuantLinear, block_of, planes_from_gguf, unpack_quants  # noqa: E402

FORMATS = ("Q8_0", "Q4_0", "Q4_1")


def _quantized(fmt: str, n: int, k: int, seed: int):
    """(planes, gguf-dequantized f32 W [N, K]) of a random weight."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n, k)).astype(np.float32) * 0.5
    qt = getattr(gguf.GGMLQuantizationType, fmt)
    raw = gguf.quants.quantize(w, qt)
    deq = gguf.quants.dequantize(raw, qt).reshape(n, k).astype(np.float32)
    return planes_from_gguf(fmt, raw, (n, k), name="w"), deq


class _Lin(torch.nn.Module):
    def __init__(self, q: QuantLinear) -> None:
        super().__init__()
        self.proj = q

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


def _abs_terms(planes) -> np.ndarray:
    """|d q| + |m| [N, K] in float64 from the planes (>= |w|)."""
    b = block_of(planes.fmt)
    d = np.repeat(planes.scales.astype(np.float64), b, axis=1)
    q = unpack_quants(planes.fmt, torch.from_numpy(planes.qweight)).numpy().astype(np.float64)
    aw = np.abs(d * q)
    if planes.mins is not None:
        aw = aw + np.abs(np.repeat(planes.mins.astype(np.float64), b, axis=1))
    return aw


def _bound(x: np.ndarray, planes, k: int) -> np.ndarray:
    """gamma_(K+8) * sum_k |x_k| (|d q_k| + |m|) per output (module docstring)."""
    n = planes.shape[0]
    aw = _abs_terms(planes)
    u = 2.0 ** -24
    g = (k + 8) * u / (1 - (k + 8) * u)
    return g * (np.abs(x.reshape(-1, k).astype(np.float64)) @ aw.T).reshape(*x.shape[:-1], n)


def _int8_bound(x: np.ndarray, planes, k: int) -> np.ndarray:
    """sum_b (dx_b / 2) sum_(k in b) |w_k| + the f32 bound over |x| + dx / 2 (module docstring)."""
    x2 = np.abs(x.reshape(-1, k).astype(np.float64))
    dx = x2.reshape(x2.shape[0], k // BLOCK, BLOCK).max(axis=2) / 127.0
    half = np.repeat(dx, BLOCK, axis=1) * (0.5 + 2.0 ** -10)
    aw = _abs_terms(planes)
    u = 2.0 ** -24
    g = (k + 8) * u / (1 - (k + 8) * u)
    total = half @ aw.T + g * ((x2 + half) @ aw.T)
    return total.reshape(*x.shape[:-1], planes.shape[0])


def _check(fmt: str, m_shape: tuple[int, ...], n: int, k: int, tmp_path: Path, kernels: bool = True,
           target: Any = "host", int8_activations: bool = False) -> np.ndarray:
    seed = hash((fmt, m_shape, n, k)) % (2 ** 32)
    planes, deq = _quantized(fmt, n, k, seed)
    mod = _Lin(QuantLinear.from_planes(planes)).eval()
    x = torch.from_numpy(np.random.default_rng(seed + 1).standard_normal((*m_shape, k)).astype(np.float32))
    ref = x.numpy().astype(np.float64) @ deq.astype(np.float64).T
    # the eager op (dequantize + matmul) is the same function
    eager = mod(x).numpy()
    np.testing.assert_allclose(eager, ref, rtol=0, atol=float(_bound(x.numpy(), planes, k).max()) + 1e-6)
    compiled = buddy.compile(mod, (x,), target=target, cache_dir=tmp_path, progress=False, kernels=kernels,
                             int8_activations=int8_activations)
    y = np.asarray(compiled(x))
    assert y.shape == ref.shape and y.dtype == np.float32
    err = np.abs(y.astype(np.float64) - ref)
    bound = (_int8_bound if int8_activations else _bound)(x.numpy(), planes, k)
    worst = np.unravel_index(np.argmax(err - bound), err.shape)
    assert (err <= bound).all(), (f"{fmt} M={m_shape} N={n} K={k}: |err| {err[worst]:.3g} > bound "
                                  f"{bound[worst]:.3g} at {worst}")
    return err / _bound(x.numpy(), planes, k)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("m_shape", [(1,), (3,), (7,), (128,)], ids=lambda s: f"M{s[0]}")
def test_matches_gguf_dequantize(fmt: str, m_shape: tuple[int, ...], tmp_path: Path) -> None:
    # N = 45: not a multiple of any vector width (16/8/4) nor of the kernel's row step
    _check(fmt, m_shape, 45, 96, tmp_path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_llm_shapes(fmt: str, tmp_path: Path) -> None:
    """[1, S, K] activations as the LLM's projections see them, decode and prefill."""
    _check(fmt, (1, 1), 200, 576, tmp_path)
    _check(fmt, (1, 9), 130, 256, tmp_path)


class _Siblings(torch.nn.Module):
    """q/k/v-style projections of one x, plus a consumer of the first between them (as
    attention reshapes q): the pass runs the three GEMVs as one parallel loop."""

    def __init__(self, qs: list) -> None:
        super().__init__()
        self.ps = torch.nn.ModuleList(qs)

    def forward(self, x: torch.Tensor):
        q = self.ps[0](x)
        qt = q.transpose(0, 1) * 2.0
        return qt, self.ps[1](x), self.ps[2](x)


def _host_int8_kernel() -> str | None:
    from buddy.backend.pipeline import int8_dot_kernel
    from buddy.backend.targets import detect_host

    return int8_dot_kernel(detect_host())


needs_int8_dot = pytest.mark.skipif(
    _host_int8_kernel() is None,
    reason="this CPU has no integer dot-product kernel for int8 activations "
           "(AVX-512 VNNI: avx512_vnni in /proc/cpuinfo), so it cannot run them")


@pytest.mark.parametrize("int8", [False, pytest.param(True, marks=needs_int8_dot)], ids=["f32x", "int8x"])
@pytest.mark.parametrize("m", [1, 3])
@pytest.mark.parametrize("fmt", FORMATS)
def test_sibling_projections(fmt: str, m: int, int8: bool, tmp_path: Path) -> None:
    """Three GEMVs sharing x (N = 96, 45, 45: ragged against the common task size), one
    fork (x quantized once for all three with int8): every output against its float64
    reference and bound."""
    k = 128 if int8 else 96  # the int8 kernel takes K % 64 == 0
    made = [_quantized(fmt, n, k, seed=500 + i) for i, n in enumerate((96, 45, 45))]
    mod = _Siblings([QuantLinear.from_planes(p) for p, _ in made]).eval()
    x = torch.from_numpy(np.random.default_rng(9).standard_normal((m, k)).astype(np.float32))
    compiled = buddy.compile(mod, (x,), cache_dir=tmp_path, progress=False, int8_activations=int8)
    outs = [np.asarray(o) for o in compiled(x)]
    assert len(outs) == 3
    for i, ((planes, deq), y) in enumerate(zip(made, outs)):
        ref = x.numpy().astype(np.float64) @ deq.astype(np.float64).T
        bound = (_int8_bound if int8 else _bound)(x.numpy(), planes, k)
        if i == 0:
            ref, bound = 2.0 * ref.T, 2.0 * bound.T
        err = np.abs(y.astype(np.float64) - ref)
        assert y.shape == ref.shape and (err <= bound + 1e-6).all(), \
            f"{fmt} M={m} projection {i}: |err| {err.max():.3g}"


@needs_int8_dot
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("m,n,k", [(1, 45, 128), (3, 45, 128), (4, 19, 64), (1, 200, 576)],
                         ids=["M1", "M3", "M4", "M1-llm"])
def test_int8_activations_within_bound(fmt: str, m: int, n: int, k: int, tmp_path: Path) -> None:
    """Decode GEMVs with x quantized to int8 (vpdpbusd): within the derived int8 bound, and
    really int8 (the kernel's dot intrinsic is in the lowered IR; its error exceeds the f32
    bound somewhere, which the f32 kernel's never does)."""
    over_f32 = _check(fmt, (m,), n, k, tmp_path, int8_activations=True)
    assert over_f32.max() > 1.0, f"{fmt}: int8 activations should round x visibly"
    irs = [p.read_text() for p in sorted(tmp_path.rglob("*.mlir"))]
    assert any("llvm.x86.avx512.vpdpbusd.512" in t for t in irs), "the int8 kernel did not run"


@needs_int8_dot
def test_int8_activations_fallback_keeps_f32(tmp_path: Path) -> None:
    """K % 64 != 0 keeps f32 activations (to fp32 rounding), even when int8 is asked for."""
    err = _check("Q8_0", (2,), 45, 96, tmp_path, int8_activations=True)
    assert err.max() <= 1.0, "K = 96 is not a multiple of 64: f32 activations, to fp32 rounding"


def test_int8_activations_refused_without_kernel() -> None:
    """Asking for int8 activations on a target without the kernel, or with the reference
    loops, is a clear error before anything is compiled."""
    from buddy.backend.pipeline import PipelineOptions, buddy_opt_flags
    from buddy.backend.targets import TARGETS

    with pytest.raises(ValueError, match=r"target 'x86-avx2'.*has none"):
        buddy_opt_flags(PipelineOptions(int8_activations=True), TARGETS["x86-avx2"])
    with pytest.raises(ValueError, match=r"target 'aarch64-neon'"):
        buddy_opt_flags(PipelineOptions(int8_activations=True), TARGETS["aarch64-neon"])
    vnni = dataclasses.replace(TARGETS["x86-avx512"], features=TARGETS["x86-avx512"].features + ",+avx512vnni")
    assert any("int8-dot=avx512-vnni" in f for f in buddy_opt_flags(PipelineOptions(int8_activations=True), vnni))
    assert not any("int8-dot" in f for f in buddy_opt_flags(PipelineOptions(), vnni)), "f32 is the default"
    assert not any("int8-dot" in f for f in buddy_opt_flags(PipelineOptions(), TARGETS["x86-avx512"]))
    with pytest.raises(ValueError, match="kernels=False"):
        buddy_opt_flags(PipelineOptions(int8_activations=True, kernels=False), vnni)
    with pytest.raises(TypeError, match="int8_activations must be"):
        buddy.compile(torch.nn.Linear(4, 4), (torch.zeros(1, 4),), int8_activations="yes")


def _x86_rows() -> list:
    """Native x86 target rows with narrower vectors than the host's: the 8-lane (avx2) and
    4-lane (128-bit, the `generic` kernel ISA) kernels, which cut each 16-byte nibble block
    with vector.extract_strided_slice."""
    if platform.machine() != "x86_64":
        return []
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    if " avx2" not in flags or " fma" not in flags:
        return []
    from buddy.backend.targets import TARGETS

    avx2 = TARGETS["x86-avx2"]
    return [avx2, dataclasses.replace(avx2, name="x86-128", vector_bits=128)]


@pytest.mark.parametrize("target", _x86_rows(), ids=lambda t: t.name)
@pytest.mark.parametrize("fmt", FORMATS)
def test_narrow_vector_kernels(fmt: str, target: Any, tmp_path: Path) -> None:
    from buddy.backend.pipeline import kernel_isa

    assert kernel_isa(target) in ("avx2", "generic")
    _check(fmt, (1,), 45, 96, tmp_path, target=target)
    _check(fmt, (2,), 19, 64, tmp_path, target=target)
    _check(fmt, (7,), 45, 96, tmp_path, target=target)


def test_reference_lowering(tmp_path: Path) -> None:
    """kernels=False: the frontend's generic alone (linalg -> loops) computes the same op."""
    _check("Q4_1", (2,), 19, 64, tmp_path, kernels=False)


def test_k_not_multiple_of_block_refused() -> None:
    with pytest.raises(QuantFormatError, match=r"'blk.0.ffn_up.weight'.*\[8, 40\].*K = 40"):
        planes_from_gguf("Q8_0", np.zeros(8 * 34, np.uint8), (8, 40), name="blk.0.ffn_up.weight")
    with pytest.raises(QuantFormatError, match=r"\[8, 40\].*K = 40"):
        QuantLinear(40, 8, "Q4_0")


def test_bad_planes_refused_by_the_frontend(tmp_path: Path) -> None:
    """Planes whose shapes do not fit are refused at capture, naming the shapes."""
    class Bad(torch.nn.Module):
        def __init__(self, q_cols: int, groups: int) -> None:
            super().__init__()
            self.register_buffer("q", torch.zeros(8, q_cols, dtype=torch.int8))
            self.register_buffer("s", torch.zeros(8, groups))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.ops.buddy.quant_linear(x, self.q, self.s, None, "Q4_0")

    with pytest.raises(Exception, match=r"scales must be float32 \[8, 2\]"):
        buddy.compile(Bad(32, 3), (torch.zeros(1, 64),), cache_dir=tmp_path, progress=False)
    with pytest.raises(Exception, match=r"Q4_0 qweight for K = 64 must be int8 \[8, 32\]"):
        buddy.compile(Bad(64, 2), (torch.zeros(1, 64),), cache_dir=tmp_path, progress=False)


def random_q4_k(n: int, k: int, seed: int) -> np.ndarray:
    """Random GGUF Q4_K super-blocks [N, K/256, 144] (gguf has no Q4_K quantizer): any bytes
    are a valid block once d and dmin are finite f16."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(n, k // 256, 144), dtype=np.uint8)
    dd = (rng.uniform(0.2, 1.0, (n, k // 256, 2)) * 0.02).astype(np.float16)
    blocks[:, :, 0:4] = dd.view(np.uint8).reshape(n, k // 256, 4)
    return blocks


def random_q6_k(n: int, k: int, seed: int) -> np.ndarray:
    """Random GGUF Q6_K super-blocks [N, K/256, 210] with a finite f16 d (its last 2 bytes)."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(n, k // 256, 210), dtype=np.uint8)
    d = (rng.uniform(0.2, 1.0, (n, k // 256, 1)) * 0.002).astype(np.float16)
    blocks[:, :, 208:210] = d.view(np.uint8).reshape(n, k // 256, 2)
    return blocks


def test_q6_k_repacks_exactly_into_q8_16_planes() -> None:
    """Q6_K super-blocks become Q8_16 planes (int8 q - 32, scale d * sc per 16 weights) whose
    dequantization is gguf's, bit for bit."""
    raw = random_q6_k(6, 512, seed=3)
    planes = planes_from_gguf("Q6_K", raw, (6, 512), name="output.weight")
    assert planes.fmt == "Q8_16" and planes.qweight.shape == (6, 512) and planes.scales.shape == (6, 32)
    assert planes.qweight.min() >= -32 and planes.qweight.max() <= 31
    ref = gguf.quants.dequantize(raw.reshape(-1), gguf.GGMLQuantizationType.Q6_K).reshape(6, 512)
    np.testing.assert_array_equal(QuantLinear.from_planes(planes).dequantized_weight().numpy(), ref)


@pytest.mark.parametrize("int8", [False, pytest.param(True, marks=needs_int8_dot)], ids=["f32x", "int8x"])
@pytest.mark.parametrize("m", [1, 3, 7])
def test_q6_k_compiled_matches_gguf_dequantize(m: int, int8: bool, tmp_path: Path) -> None:
    """A Q6_K layer through buddy.compile: the Q8_16 planes take the GEMV kernel (blocks of 16;
    f32 activations even when int8 is asked for: the int8 kernel takes blocks of 32) and the
    dequantize + GEMM path, within the f32 bound of gguf's dequantization + float64 matmul."""
    n, k = 45, 768
    raw = random_q6_k(n, k, seed=m)
    planes = planes_from_gguf("Q6_K", raw, (n, k))
    deq = gguf.quants.dequantize(raw.reshape(-1), gguf.GGMLQuantizationType.Q6_K).reshape(n, k)
    mod = _Lin(QuantLinear.from_planes(planes)).eval()
    x = torch.from_numpy(np.random.default_rng(5).standard_normal((m, k)).astype(np.float32))
    compiled = buddy.compile(mod, (x,), cache_dir=tmp_path, progress=False, int8_activations=int8)
    y = np.asarray(compiled(x))
    err = np.abs(y.astype(np.float64) - x.numpy().astype(np.float64) @ deq.astype(np.float64).T)
    assert (err <= _bound(x.numpy(), planes, k)).all(), f"|err| {err.max():.3g}"
    if m <= 4:  # the decode kernel ran: 16-byte i8 vector loads of the weight (the generic
        # lowering's loops are scalar)
        lowered = [p.read_text() for p in sorted(tmp_path.rglob("2-llvm.mlir"))]
        assert lowered and any("vector<16xi8>" in t for t in lowered)


def test_q5_0_repacks_exactly_into_q8_0_planes() -> None:
    """Q5_0 blocks (gguf's own quantizer, on rows with outliers so every 5-bit code occurs)
    become Q8_0 planes (int8 q - 16) whose dequantization is gguf's, bit for bit."""
    rng = np.random.default_rng(7)
    w = rng.standard_normal((9, 576)).astype(np.float32) * np.linspace(0.1, 3.0, 576, dtype=np.float32)
    raw = gguf.quants.quantize(w, gguf.GGMLQuantizationType.Q5_0)
    planes = planes_from_gguf("Q5_0", raw, (9, 576), name="blk.0.attn_q.weight")
    assert planes.fmt == "Q8_0" and planes.qweight.shape == (9, 576) and planes.scales.shape == (9, 18)
    assert planes.qweight.min() == -16 and planes.qweight.max() == 15  # both ends of the 5 bits
    ref = gguf.quants.dequantize(raw, gguf.GGMLQuantizationType.Q5_0).reshape(9, 576)
    np.testing.assert_array_equal(QuantLinear.from_planes(planes).dequantized_weight().numpy(), ref)
    with pytest.raises(QuantFormatError, match=r"Q5_0 tensor 'w' of shape \[2, 64\] has 10 bytes, expected 88"):
        planes_from_gguf("Q5_0", np.zeros(10, np.uint8), (2, 64), name="w")


def test_q4_k_repacks_exactly_into_q4_1_planes() -> None:
    """Q4_K super-blocks become Q4_1 planes (scale d * sc, min -dmin * m per 32) whose
    dequantization is gguf's, bit for bit."""
    raw = random_q4_k(6, 512, seed=3)
    planes = planes_from_gguf("Q4_K", raw, (6, 512), name="blk.0.ffn_down.weight")
    assert planes.fmt == "Q4_1" and planes.qweight.shape == (6, 256) and planes.scales.shape == (6, 16)
    ref = gguf.quants.dequantize(raw.reshape(-1), gguf.GGMLQuantizationType.Q4_K).reshape(6, 512)
    np.testing.assert_array_equal(QuantLinear.from_planes(planes).dequantized_weight().numpy(), ref)


@pytest.mark.parametrize("m", [1, 7])
def test_q4_k_compiled_matches_gguf_dequantize(m: int, tmp_path: Path) -> None:
    """A Q4_K linear layer through buddy.compile (the Q4_1 kernels), f32 activations, against
    gguf's dequantization + a float64 matmul, within the f32 bound."""
    n, k = 45, 768
    raw = random_q4_k(n, k, seed=m)
    planes = planes_from_gguf("Q4_K", raw, (n, k))
    deq = gguf.quants.dequantize(raw.reshape(-1), gguf.GGMLQuantizationType.Q4_K).reshape(n, k)
    mod = _Lin(QuantLinear.from_planes(planes)).eval()
    x = torch.from_numpy(np.random.default_rng(4).standard_normal((m, k)).astype(np.float32))
    y = np.asarray(buddy.compile(mod, (x,), cache_dir=tmp_path, progress=False, int8_activations=False)(x))
    err = np.abs(y.astype(np.float64) - x.numpy().astype(np.float64) @ deq.astype(np.float64).T)
    assert (err <= _bound(x.numpy(), planes, k)).all(), f"|err| {err.max():.3g}"


def test_q4_k_bad_shapes_refused() -> None:
    with pytest.raises(QuantFormatError, match=r"'blk.0.attn_q.weight'.*\[4, 576\].*K = 576.*block size 256"):
        planes_from_gguf("Q4_K", np.zeros(4 * 3 * 144, np.uint8), (4, 576), name="blk.0.attn_q.weight")
    with pytest.raises(QuantFormatError, match=r"Q4_K tensor 'w' of shape \[4, 512\] has 100 bytes, expected 1152"):
        planes_from_gguf("Q4_K", np.zeros(100, np.uint8), (4, 512), name="w")
    raw = random_q4_k(2, 256, seed=1)
    raw[1, 0, 0:2] = np.array([np.inf], np.float16).view(np.uint8)
    with pytest.raises(QuantFormatError, match=r"NaN/Inf scales .* damaged"):
        planes_from_gguf("Q4_K", raw, (2, 256), name="w")


def test_unsupported_format_refused() -> None:
    with pytest.raises(QuantFormatError, match=r"'output.weight'.*Q5_K.*supported: Q8_0, Q4_0, Q4_1, Q5_0, Q4_K, Q6_K"):
        planes_from_gguf("Q5_K", np.zeros(1, np.uint8), (1, 256), name="output.weight")


def test_planes_match_gguf_dequantize() -> None:
    """The repacking itself: d * q (+ m) over the planes is gguf's dequantization, exactly;
    Q4 planes keep GGUF's packed nibble bytes (K/2 bytes per row)."""
    for fmt in FORMATS:
        planes, deq = _quantized(fmt, 5, 128, 7)
        assert planes.qweight.shape == ((5, 64) if fmt != "Q8_0" else (5, 128)), fmt
        q = unpack_quants(fmt, torch.from_numpy(planes.qweight)).numpy()
        w = np.repeat(planes.scales, BLOCK, axis=1) * q
        if planes.mins is not None:
            w = w + np.repeat(planes.mins, BLOCK, axis=1)
        np.testing.assert_array_equal(w, deq, err_msg=fmt)
        mod = QuantLinear.from_planes(planes)
        np.testing.assert_array_equal(mod.dequantized_weight().numpy(), deq, err_msg=fmt)


# ---------------------------------------------------------------- the quantized embedding
class _Emb(torch.nn.Module):
    def __init__(self, e) -> None:
        super().__init__()
        self.emb = e

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.emb(ids)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("ids_shape", [(1, 1), (2, 7), (5,)])
def test_embedding_matches_gguf_dequantize(fmt: str, ids_shape: tuple[int, ...], tmp_path: Path) -> None:
    """`QuantEmbedding` reads exactly the gguf-dequantized rows (a gather, no arithmetic but the
    block's own d * q + m: bit-equal), eager and compiled."""
    from buddy.quant import QuantEmbedding

    n, k = 37, 96
    planes, deq = _quantized(fmt, n, k, seed=len(ids_shape) * 7 + len(fmt))
    mod = _Emb(QuantEmbedding.from_planes(planes)).eval()
    ids = torch.from_numpy(np.random.default_rng(5).integers(0, n, size=ids_shape).astype(np.int64))
    want = deq[ids.numpy()]
    np.testing.assert_array_equal(mod(ids).numpy(), want)
    compiled = buddy.compile(mod, (ids,), cache_dir=tmp_path, progress=False)
    got = np.asarray(compiled(ids))
    assert got.shape == (*ids_shape, k) and got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_embedding_tied_to_linear_is_one_table(tmp_path: Path) -> None:
    """A tied embedding and LM head (`QuantEmbedding.tied`) are one set of planes: the weight
    file holds them once, and both uses read it."""
    from buddy.quant import QuantEmbedding

    planes, deq = _quantized("Q8_0", 64, 32, seed=11)

    class Tied(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = QuantLinear.from_planes(planes)
            self.emb = QuantEmbedding.tied(self.head)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.head(self.emb(ids))

    mod = Tied().eval()
    assert mod.emb.qweight is mod.head.qweight and mod.emb.scales is mod.head.scales
    ids = torch.tensor([[3, 63, 0]])
    compiled = buddy.compile(mod, (ids,), cache_dir=tmp_path, progress=False)
    ref = deq[ids.numpy()].astype(np.float64) @ deq.astype(np.float64).T
    np.testing.assert_allclose(np.asarray(compiled(ids)), ref, rtol=1e-5, atol=1e-4)
    # one i8 [64, 32] table and one f32 [64, 1] scale plane (+ the header), not two of each
    size = (compiled.artifact_dir / "weights.bwt").stat().st_size
    assert 64 * 32 + 64 * 4 <= size < 2 * 64 * 32, size


def test_embedding_bad_ids_and_planes() -> None:
    from buddy.quant import QuantEmbedding

    planes, _ = _quantized("Q4_1", 8, 32, seed=2)
    e = QuantEmbedding.from_planes(planes)
    with pytest.raises(IndexError, match="index 8 is out of range for a table of 8 rows"):
        e(torch.tensor([1, 8]))
    with pytest.raises(IndexError, match="index -1 is out of range"):
        e(torch.tensor([-1]))
    with pytest.raises(QuantFormatError, match="indices must be int64 or int32"):
        e(torch.tensor([1.0]))
    with pytest.raises(QuantFormatError, match="needs mins"):
        torch.ops.buddy.quant_embedding(torch.tensor([0]), e.qweight, e.scales, None, "Q4_1")


def test_embedding_compiled_index_error_names_the_op(tmp_path: Path) -> None:
    """An id outside the table in compiled code: an IndexError naming the op and the id, not a
    read outside the planes."""
    from buddy.quant import QuantEmbedding

    planes, _ = _quantized("Q4_0", 8, 32, seed=9)
    mod = _Emb(QuantEmbedding.from_planes(planes)).eval()
    compiled = buddy.compile(mod, (torch.tensor([[1, 2]]),), cache_dir=tmp_path, progress=False)
    with pytest.raises(IndexError, match=r"index 9 is out of range for a dimension of size 8 in `buddy.quant_embedding"):
        compiled(torch.tensor([[1, 9]]))
