"""Whole-model tests: import with buddy.frontend, run through the JIT, compare with PyTorch eager."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import buddy.frontend as bf
import buddy.dynamo  # noqa: F401  (backend="buddy" without an installed entry point)

from support.model_zoo import (HEAD_DIM, N_KV, N_LAYERS, VOCAB, GQAAttention, LlamaDecodeStep,  # noqa: E402
                       LlamaLogits, SmallCNN, TinyBert, tiny_llama)

transformers = pytest.importorskip("transformers")


def _close(got, want, atol=1e-4, rtol=1e-4):
    want = want if isinstance(want, (list, tuple)) else [want]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        torch.testing.assert_close(g, w.detach(), atol=atol, rtol=rtol)


# ------------------------------------------------------------------ tiny Llama (random config, no hub)
@pytest.fixture(scope="module")
def llama():
    return tiny_llama()


@pytest.mark.parametrize("dialect,dtype", [("linalg", torch.float32), ("linalg", torch.bfloat16),
                                           ("tosa", torch.float32), ("tosa", torch.bfloat16)])
def test_llama_without_cache(llama, dialect, dtype):
    import copy
    ids = torch.randint(0, VOCAB, (1, 7), generator=torch.Generator().manual_seed(1))
    w = LlamaLogits(copy.deepcopy(llama).to(dtype)).eval()
    g = bf.import_model(w, (ids,), dialect=dialect)
    if dialect == "tosa":  # HF's mask code (cumsum, advanced indexing) and RMSNorm (pow) in pure TOSA
        text = g.module.mlir_text
        assert "tosa.gather" in text and "tosa.matmul" in text and "linalg." not in text
    assert g.params and all(p.name.startswith("m.") for p in g.params)
    assert {p.dtype for p in g.params} == {"f32" if dtype == torch.float32 else "bf16"}
    assert g.inputs[0].dtype == "i64" and g.inputs[0].shape == (1, 7)
    assert g.outputs[0].shape == (1, 7, VOCAB)
    tol = 1e-4 if dtype == torch.float32 else 1e-2
    with torch.no_grad():
        _close(g.run(ids), w(ids), atol=tol, rtol=tol)


def test_llama_with_kv_cache(llama):
    gen = torch.Generator().manual_seed(2)
    past = 5
    kv = [torch.randn(1, N_KV, past, HEAD_DIM, generator=gen) for _ in range(2 * N_LAYERS)]
    ids = torch.randint(0, VOCAB, (1, 1), generator=gen)
    w = LlamaDecodeStep(llama).eval()
    g = bf.import_model(w, (ids, *kv))
    assert [o.shape for o in g.outputs[1:]] == [(1, N_KV, past + 1, HEAD_DIM)] * (2 * N_LAYERS)
    with torch.no_grad():
        _close(g.run(ids, *kv), w(ids, *kv))


# ------------------------------------------------------------------ small CNN
@pytest.mark.parametrize("dialect", ["linalg", "tosa"])
def test_small_cnn(dialect):
    torch.manual_seed(0)
    m = SmallCNN().eval()
    for bn in (m.bn1, m.bn2):  # non-trivial running statistics
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 1.5)
    x = torch.randn(2, 3, 16, 16)
    g = bf.import_model(m, (x,), dialect=dialect)
    text = g.module.mlir_text
    if dialect == "linalg":
        assert "linalg.conv_2d_nchw_fchw" in text and "linalg.pooling_nchw_max" in text
        assert "linalg.pooling_nchw_sum" in text
    else:
        assert "tosa.conv2d" in text and "tosa.max_pool2d" in text and "linalg." not in text
    with torch.no_grad():
        _close(g.run(x), m(x))


def test_instance_norm_3d_pooling_cnn():
    """eval-mode InstanceNorm (batch statistics of the input itself) and 3-D pooling/padding."""
    from torch import nn
    torch.manual_seed(0)
    m = nn.Sequential(nn.InstanceNorm3d(4, affine=True), nn.ReLU(), nn.MaxPool3d(2),
                      nn.ReplicationPad3d(1), nn.AdaptiveAvgPool3d((2, 1, 3))).eval()
    with torch.no_grad():
        m[0].weight.uniform_(0.5, 1.5)
        m[0].bias.uniform_(-0.5, 0.5)
    x = torch.randn(2, 4, 7, 6, 9) * 3 + 1
    g = bf.import_model(m, (x,))
    with torch.no_grad():
        _close(g.run(x), m(x), atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------ BERT-style encoder
@pytest.mark.parametrize("dialect", ["linalg", "tosa"])
def test_bert_encoder(dialect):
    torch.manual_seed(0)
    m = TinyBert().eval()
    ids = torch.randint(0, 100, (2, 9))
    attn = torch.ones(2, 9, dtype=torch.int64)
    attn[1, 6:] = 0
    g = bf.import_model(m, (ids, attn), dialect=dialect)
    with torch.no_grad():
        _close(g.run(ids, attn), m(ids, attn))


# ------------------------------------------------------------------ GQA attention with SDPA
@pytest.mark.parametrize("dialect", ["linalg", "tosa"])
def test_gqa_sdpa_attention(dialect):
    torch.manual_seed(0)
    m = GQAAttention().eval()
    x = torch.randn(2, 6, 32)
    g = bf.import_model(m, (x,), dialect=dialect)
    with torch.no_grad():
        _close(g.run(x), m(x))


def test_torch_compile_backend_runs_the_cnn():
    torch.manual_seed(0)
    m = SmallCNN().eval()
    x = torch.randn(1, 3, 16, 16)
    compiled = torch.compile(m, backend="buddy")
    with torch.no_grad():
        _close([compiled(x)], m(x))


# ------------------------------------------------------------------ lazy (meta-device) import
def test_llama_captured_on_meta_writes_params_one_at_a_time(llama, tmp_path):
    """A model built on the meta device imports without weight memory; write_params materializes
    one parameter at a time, the file holds exactly the materialized values, and the module is
    the one a real-weight import produces and computes the eager result with those weights."""
    import weakref
    from transformers import LlamaForCausalLM
    from buddy.runtime import load_weights

    with torch.device("meta"):
        meta = LlamaForCausalLM(llama.config).eval()
    ids = torch.randint(0, VOCAB, (1, 5), generator=torch.Generator().manual_seed(3))
    g = bf.import_model(LlamaLogits(meta), (ids.to("meta"),))
    assert g.param_data.lazy == [p.name for p in g.params]
    with pytest.raises(RuntimeError, match="meta device"):
        g.run(ids)
    assert g.module.mlir_text == bf.import_model(LlamaLogits(llama), (ids,)).module.mlir_text

    inv_freq = dict(llama.named_buffers())["model.rotary_emb.inv_freq"]

    def make(spec, seed):
        if spec.name.endswith("inv_freq"):
            return inv_freq.clone()
        gen = torch.Generator().manual_seed(seed)
        return (torch.randn(spec.shape, generator=gen) * 0.2).to(spec.torch_dtype)

    live, max_live, order = [0], [0], []

    def materialize(spec):
        t = make(spec, len(order))
        order.append(spec.name)
        live[0] += 1
        max_live[0] = max(max_live[0], live[0])
        weakref.finalize(t, lambda: live.__setitem__(0, live[0] - 1))
        return t

    path = g.write_params(tmp_path / "lazy.bwt", materialize=materialize)
    assert order == [p.name for p in g.params]
    assert max_live[0] == 1 and live[0] == 0  # never two materialized parameters alive at once
    loaded = load_weights(path, as_torch=True)
    assert list(loaded) == order
    for k, (name, spec) in enumerate(zip(order, g.params)):
        torch.testing.assert_close(loaded[name], make(spec, k), atol=0, rtol=0)

    real = LlamaForCausalLM(llama.config).eval()
    real.load_state_dict({n[2:]: t for n, t in loaded.items()}, strict=False)
    g.param_data.values.update(loaded)
    with torch.no_grad():
        _close(g.run(ids), LlamaLogits(real)(ids))
