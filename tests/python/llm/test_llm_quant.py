"""buddy.llm with block-quantized GGUF weights (the default for a GGUF): `QuantLinear` layers,
compiled through `CompiledLlama` (frontend `buddy.quant_linear` -> --buddy-quant-matmul-vectorize).

The reference is the same file dequantized to float32 (`LlamaStatic.from_gguf(path, n,
torch.float32)`, eager): the planes hold exactly the dequantized weights, so the two differ only
in f32 rounding order."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

pytest.importorskip("gguf")
pytest.importorskip("transformers")

from gguf import GGMLQuantizationType as QT  # noqa: E402

from buddy.llm import CompiledLlama, Generator, HFTokenizer, SamplingConfig, find_smollm2_gguf  # noqa: E402
from buddy.llm.gguf_loader import UnsupportedModelError, load_gguf  # noqa: E402
from buddy.llm.model import LlamaStatic  # noqa: E402
from buddy.quant import QuantEmbedding, QuantLinear  # noqa: E402

from test_llm_model import tiny_hf, write_tiny_gguf  # noqa: E402


@pytest.fixture(scope="module")
def smollm2() -> Path:
    try:
        return find_smollm2_gguf()
    except FileNotFoundError as e:
        pytest.skip(str(e))


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    a64, b64 = a.double().reshape(-1), b.double().reshape(-1)
    return float(a64 @ b64 / (a64.norm() * b64.norm()))


def _host_has_int8_kernel() -> bool:
    from buddy.backend.pipeline import int8_dot_kernel
    from buddy.backend.targets import detect_host

    return int8_dot_kernel(detect_host()) is not None


# f32 activations: the logits differ from the dequantized model's by f32 rounding only.
# int8 activations (the default on a VNNI host): x is rounded per block of 32 to 8 bits
# (docs/quantization.md derives the per-output bound); over the model that measured a
# minimum cosine of 0.9979 with libm's expf in SiLU (2026-12-03) and 0.9965 with the inline
# polynomial (buddy-math-approximation, within 4 ulp; 2026-12-08): rounding x to 8 bits turns
# ulp-level differences upstream into whole-step flips, so the bar is 0.995.
@pytest.mark.parametrize("int8,min_cos", [
    (False, 0.999),
    pytest.param(True, 0.995, marks=pytest.mark.skipif(
        not _host_has_int8_kernel(), reason="this CPU has no int8 dot-product kernel (AVX-512 "
                                            "VNNI: avx512_vnni in /proc/cpuinfo) to run int8 activations"))],
    ids=["f32-activations", "int8-activations"])
def test_smollm2_q4_1_compiled_matches_dequantized(smollm2: Path, tmp_path: Path, int8: bool,
                                                   min_cos: float) -> None:
    """The Q4_1 file (Q8_0 tied embedding): every projection and the LM head stay quantized;
    greedy says " Paris", and each of the first 16 steps' logits has cosine >= min_cos with the
    dequantized float32 model's logits for the same prefix."""
    n = 64
    q = LlamaStatic.from_gguf(str(smollm2), n)
    quant = {name: m.fmt for name, m in q.named_modules() if isinstance(m, QuantLinear)}
    assert quant["lm_head"] == "Q8_0" and quant["model.layers.0.mlp.down_proj"] == "Q4_1"
    assert len(quant) == 7 * q.n_layers + 1
    assert not any(isinstance(m, (torch.nn.Linear, torch.nn.Embedding)) for m in q.modules())
    # the tied Q8_0 table is one set of planes, read by the lookup and the LM head
    emb = q.model.embed_tokens
    assert isinstance(emb, QuantEmbedding) and emb.fmt == "Q8_0" and emb.qweight is q.lm_head.qweight
    tok = HFTokenizer(smollm2)
    prompt = tok.encode("The capital of France is")
    runner = CompiledLlama(q, prefill_lengths=(16,), progress=False, cache_dir=tmp_path,
                           int8_activations=int8)
    res = Generator(runner, tok, prefill_buckets=(16,)).generate(
        prompt, SamplingConfig(max_new_tokens=16, stop_at_eos=False))
    assert tok.decode(res.tokens).startswith(" Paris"), tok.decode(res.tokens)
    assert len(res.logits) == 16
    # the weight file holds the blocks, not floats: within 1.3x the GGUF (planes widen f16 scales)
    bwt = sorted(tmp_path.rglob("*.bwt"))
    assert len(bwt) == 1 and bwt[0].stat().st_size <= 1.3 * smollm2.stat().st_size, \
        (bwt, [b.stat().st_size for b in bwt], smollm2.stat().st_size)

    ref = LlamaStatic.from_gguf(str(smollm2), n, torch.float32)   # dequantized on request
    assert isinstance(ref.lm_head, torch.nn.Linear)
    seq = list(prompt) + list(res.tokens)
    with torch.no_grad():
        for step in range(16):
            s = len(prompt) + step           # the logits of step i follow prompt + i tokens
            want, _, _ = ref.prefill(torch.tensor([seq[:s]]), torch.tensor([s - 1]))
            c = _cos(res.logits[step], want)
            assert c >= min_cos, f"step {step}: cosine {c:.6f} with the dequantized float32 logits"


def test_tiny_mixed_quant_types_eager_equals_dequantized(tmp_path: Path) -> None:
    """Q8_0/Q4_0/Q4_1/Q5_0 layers are kept quantized (q/k rows unpermuted like the floats), F16/BF16
    ones are dequantized; the eager model equals the fully dequantized one."""
    hf = tiny_hf(tied=True, seed=3)
    qtypes = {"token_embd.weight": QT.Q8_0, "blk.0.attn_q.weight": QT.Q4_0, "blk.0.attn_k.weight": QT.Q4_1,
              "blk.1.attn_q.weight": QT.Q8_0, "blk.1.ffn_up.weight": QT.F16, "blk.2.attn_k.weight": QT.Q4_0,
              "blk.3.ffn_down.weight": QT.Q4_1, "blk.2.attn_v.weight": QT.Q5_0, "blk.3.attn_q.weight": QT.Q5_0}
    p = tmp_path / "tiny-q.gguf"
    write_tiny_gguf(p, hf, qtypes, tied=True)
    g = load_gguf(p, quantized=True)
    assert set(g.quantized) == {"lm_head", "model.embed_tokens", "model.layers.0.self_attn.q_proj",
                                "model.layers.0.self_attn.k_proj", "model.layers.1.self_attn.q_proj",
                                "model.layers.2.self_attn.k_proj", "model.layers.3.mlp.down_proj",
                                "model.layers.2.self_attn.v_proj", "model.layers.3.self_attn.q_proj"}
    assert g.quantized["lm_head"] is g.quantized["model.embed_tokens"]   # tied: one table
    assert "model.embed_tokens.weight" not in g.state_dict
    assert "model.layers.0.self_attn.q_proj.weight" not in g.state_dict
    q = LlamaStatic.from_gguf(str(p), 32)
    f = LlamaStatic.from_gguf(str(p), 32, torch.float32)
    for name, m in q.named_modules():
        if isinstance(m, QuantLinear):
            w = f.get_submodule(name).weight
            torch.testing.assert_close(m.dequantized_weight(), w, rtol=0, atol=0, msg=name)
    assert isinstance(q.model.embed_tokens, QuantEmbedding)
    torch.testing.assert_close(q.model.embed_tokens.weight, f.model.embed_tokens.weight, rtol=0, atol=0)
    tokens = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6]])
    with torch.no_grad():
        lq, _, _ = q.prefill(tokens, torch.tensor([7]))
        lf, _, _ = f.prefill(tokens, torch.tensor([7]))
    torch.testing.assert_close(lq, lf, rtol=0, atol=1e-4)


def test_bf16_dequantizes_and_quantized_bf16_is_refused(tmp_path: Path) -> None:
    hf = tiny_hf(seed=4)
    p = tmp_path / "tiny-q8.gguf"
    write_tiny_gguf(p, hf, {"blk.0.ffn_up.weight": QT.Q8_0})
    m = LlamaStatic.from_gguf(str(p), 16, torch.bfloat16)
    assert not any(isinstance(x, QuantLinear) for x in m.modules())
    assert m.model.layers[0].mlp.up_proj.weight.dtype == torch.bfloat16
    g = load_gguf(p, quantized=True)
    with pytest.raises(ValueError, match="float32"):
        LlamaStatic.from_state_dict(g.config, g.state_dict, 16, torch.bfloat16, quantized=g.quantized)


class _CpuAllocations(TorchDispatchMode):
    """Records the bytes of every tensor an aten factory op allocates on the CPU."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        if func in (torch.ops.aten.empty.memory_format, torch.ops.aten.empty_strided.default) \
                and isinstance(out, torch.Tensor) and out.device.type == "cpu":
            self.sizes.append(out.numel() * out.element_size())
        return out


def test_quantized_model_never_allocates_float_layers(tmp_path: Path) -> None:
    """from_state_dict builds on the meta device: no float copy of a quantized layer is ever
    made (a 7B Q4_0 file used to build 27 GB of f32 before swapping in the planes and was
    OOM-killed), and float weights are the checkpoint's own tensors, not copies."""
    hf = tiny_hf(seed=6)
    p = tmp_path / "tiny-q8.gguf"
    names = [f"blk.{i}.{n}.weight" for i in range(4) for n in ("ffn_gate", "ffn_up", "ffn_down")]
    write_tiny_gguf(p, hf, {n: QT.Q8_0 for n in names})
    g = load_gguf(p, quantized=True)
    f32_layer = hf.model.layers[0].mlp.gate_proj.weight.numel() * 4
    with _CpuAllocations() as seen:
        m = LlamaStatic.from_state_dict(g.config, g.state_dict, 16, quantized=g.quantized)
    assert all(n < f32_layer for n in seen.sizes), (sorted(seen.sizes)[-3:], f32_layer)
    assert m.model.norm.weight.data_ptr() == g.state_dict["model.norm.weight"].data_ptr()
    assert not m.rope_cos.is_meta and not m.lm_head.weight.is_meta
    ref = LlamaStatic.from_gguf(str(p), 16, torch.float32)
    tokens = torch.tensor([[3, 1, 4, 1, 5]])
    with torch.no_grad():
        torch.testing.assert_close(m.prefill(tokens, torch.tensor([4]))[0],
                                   ref.prefill(tokens, torch.tensor([4]))[0], rtol=0, atol=1e-4)


def test_unsupported_quant_type_names_the_tensor(tmp_path: Path) -> None:
    """A block type Buddy neither keeps nor dequantizes: the error names tensor and type."""
    hf = tiny_hf(seed=5)
    p = tmp_path / "tiny-q5_1.gguf"
    write_tiny_gguf(p, hf, {"blk.2.ffn_gate.weight": QT.Q5_1})
    with pytest.raises(UnsupportedModelError, match=r"blk\.2\.ffn_gate\.weight.*Q5_1"):
        LlamaStatic.from_gguf(str(p), 16)


def test_generator_dtype_option(smollm2: Path) -> None:
    with pytest.raises(ValueError, match="dtype must be one of auto, f32, bf16"):
        Generator.from_model(smollm2, max_len=16, engine="eager", dtype="int4")


def test_one_gguf_compiled_at_two_cache_lengths(tmp_path: Path) -> None:
    """The RoPE tables in the weight file are [max_len, head_dim]: a second max_len for the same
    GGUF and cache gets its own weight file (it used to load the first one's tables and fail), and
    both compiled models decode like the eager one of their length."""
    hf = tiny_hf(tied=True, seed=5)
    p = tmp_path / "tiny-q.gguf"
    write_tiny_gguf(p, hf, {"token_embd.weight": QT.Q8_0, "blk.0.attn_q.weight": QT.Q4_0}, tied=True)
    cache = tmp_path / "cache"
    tokens = torch.tensor([[3, 1, 4, 1, 5]])
    for n in (16, 24):
        c = CompiledLlama.from_gguf(p, n, prefill_lengths=(5,), cache_dir=cache, progress=False)
        e = LlamaStatic.from_gguf(str(p), n)
        last = torch.tensor([4])
        lc, kc, vc = c.prefill(tokens, last)
        with torch.no_grad():
            le, ke, ve = e.prefill(tokens, last)
            torch.testing.assert_close(lc, le, rtol=1e-4, atol=1e-4, msg=f"max_len {n}: prefill")
            for pos in range(5, n):   # to the end of the cache: the tables' last rows are used
                t = torch.tensor([[int(le.argmax())]])
                lc = c.decode(t, torch.tensor([pos]), kc, vc)
                le = e.decode(t, torch.tensor([pos]), ke, ve)
                torch.testing.assert_close(lc, le, rtol=1e-4, atol=1e-4, msg=f"max_len {n}: decode at {pos}")
    assert len(list(cache.rglob("*.bwt"))) == 2
