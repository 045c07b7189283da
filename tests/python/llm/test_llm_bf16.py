"""bf16 LLaMA compiled end to end on the memory-lean path (bench/llama_7b_scale.py in small):
a meta-device model, seeded random weights streamed into a weight file, CompiledLlama on
that file (bf16 weights, bf16 KV cache, bf16 logits) vs the same weights in eager PyTorch."""
from __future__ import annotations


import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("buddy._runtime")

from buddy.llm.compiled import CompiledLlama  # noqa: E402
from buddy.llm.random_weights import (materialize_model, meta_llama, random_tensor,  # noqa: E402
                                      random_weights_key, write_random_weights)
from support.midend_harness import skip_module_without_model_toolchain  # noqa: E402

skip_module_without_model_toolchain()

MAX_LEN = 16
SEED = 7
PROMPT = [5, 9, 200]


def tiny_config():
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=256, hidden_size=64, intermediate_size=176, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                       rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False)


@pytest.fixture(scope="module")
def meta_model():
    return meta_llama(tiny_config(), MAX_LEN, torch.bfloat16)


@pytest.fixture(scope="module")
def eager(meta_model):
    return materialize_model(meta_model, SEED)


@pytest.fixture(scope="module")
def lean(meta_model, tmp_path_factory):
    d = tmp_path_factory.mktemp("bf16")
    path = d / "tiny.bwt"
    write_random_weights(meta_model, path, SEED)
    return CompiledLlama(meta_model, (len(PROMPT),), cache_dir=d / "cache", progress=False,
                         weight_file=path, weights_key=random_weights_key(meta_model, SEED))


def _close(got: torch.Tensor, want: torch.Tensor, what: str) -> None:
    # The compiled graph performs the same bf16 ops as eager (bf16 matmuls accumulate in f32 and
    # round once); only f32 summation order differs, which can move a bf16 rounding by one ulp
    # (2^-8 relative) and propagate through 2 layers: allow a few bf16 ulps of the largest value.
    assert got.dtype == want.dtype == torch.bfloat16, what
    scale = float(want.float().abs().max())
    torch.testing.assert_close(got.float(), want.float(), rtol=2 ** -6, atol=2 ** -6 * scale, msg=what)


def _generate(runner, steps: int):
    """Greedy prefill + decode with `runner`'s own caches; returns logits per step."""
    tokens = torch.tensor([PROMPT])
    logits, k, v = runner.prefill(tokens, torch.tensor([len(PROMPT) - 1]))
    out, caches = [logits.clone()], (k, v)
    for i in range(steps):
        nxt = int(out[-1].float().argmax())
        logits = runner.decode(torch.tensor([[nxt]]), torch.tensor([len(PROMPT) + i]), k, v)
        out.append(logits.clone())
    return out, caches


class _Eager:
    """`LlamaStatic` as a runner with caches created once (prefill returns fresh ones)."""

    def __init__(self, m) -> None:
        self.m = m

    def prefill(self, tokens, last):
        return self.m.prefill(tokens, last)

    def decode(self, token, pos, k, v):
        return self.m.decode(token, pos, k, v)


def test_weights_are_seeded_and_keyed(meta_model):
    w = meta_model.model.layers[0].mlp.up_proj.weight
    a = random_tensor(meta_model, "model.layers.0.mlp.up_proj.weight", w, SEED)
    b = random_tensor(meta_model, "model.layers.0.mlp.up_proj.weight", w, SEED)
    c = random_tensor(meta_model, "model.layers.0.mlp.up_proj.weight", w, SEED + 1)
    assert a.dtype == torch.bfloat16 and tuple(a.shape) == tuple(w.shape)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert 0.015 < float(a.float().std()) < 0.025
    assert random_weights_key(meta_model, SEED) != random_weights_key(meta_model, SEED + 1)


def test_lean_bf16_matches_eager(lean, eager):
    assert lean.k_cache.dtype == torch.bfloat16
    got, (k, v) = _generate(lean, 5)
    want, (ek, ev) = _generate(_Eager(eager), 5)
    for i, (g, w) in enumerate(zip(got, want)):
        _close(g, w, f"logits of step {i}")
        # Same greedy token wherever eager's choice is not a near tie.
        top2 = w.float().reshape(-1).topk(2).values
        if float(top2[0] - top2[1]) > 2 ** -5 * float(w.float().abs().max()):
            assert int(g.float().argmax()) == int(w.float().argmax()), f"step {i}"
    n = len(PROMPT) + 5
    _close(k[:, :, :n], ek[:, :, :n], "k cache")
    _close(v[:, :, :n], ev[:, :, :n], "v cache")


def test_in_memory_bf16_model_compiles_too(eager, lean, tmp_path):
    """The default path (weights hashed and saved from the eager bf16 model) agrees."""
    c = CompiledLlama(eager, (len(PROMPT),), cache_dir=tmp_path, progress=False)
    got, _ = _generate(c, 2)
    want, _ = _generate(lean, 2)
    for g, w in zip(got, want):
        assert torch.equal(g, w)


def test_meta_model_needs_a_weight_file(meta_model, tmp_path):
    with pytest.raises(ValueError, match="meta device.*weight_file="):
        CompiledLlama(meta_model, cache_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="weights_key="):
        CompiledLlama(meta_model, cache_dir=tmp_path, progress=False, weight_file=tmp_path / "x.bwt")
    with pytest.raises(FileNotFoundError, match="x.bwt"):
        CompiledLlama(meta_model, cache_dir=tmp_path, progress=False, weight_file=tmp_path / "x.bwt",
                      weights_key="k")
