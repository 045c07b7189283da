"""Whole-model tests: import with buddy.frontend, run through the JIT, compare with PyTorch eager."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import buddy.frontend as bf

transformers = pytest.importorskip("transformers")


def _close(got, want, atol=1e-4, rtol=1e-4):
    want = want if isinstance(want, (list, tuple)) else [want]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        torch.testing.assert_close(g, w.detach(), atol=atol, rtol=rtol)


# ------------------------------------------------------------------ tiny Llama (random config, no hub)
N_LAYERS, N_KV, HEAD_DIM, VOCAB = 2, 2, 8, 128


@pytest.fixture(scope="module")
def llama():
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=N_LAYERS,
                      num_attention_heads=4, num_key_value_heads=N_KV, max_position_embeddings=64)
    torch.manual_seed(0)
    return LlamaForCausalLM(cfg).eval()


class LlamaLogits(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, ids):
        return self.m(input_ids=ids, use_cache=False).logits


class LlamaDecodeStep(nn.Module):
    """One decode step with an explicit KV cache: (ids, k0, v0, k1, v1) -> (logits, new k/v...)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, ids, *kv):
        from transformers import DynamicCache
        cache = DynamicCache(config=self.m.config)
        for i in range(N_LAYERS):
            cache.update(kv[2 * i], kv[2 * i + 1], i)
        out = self.m(input_ids=ids, past_key_values=cache, use_cache=True)
        news = []
        for layer in out.past_key_values.layers:
            news += [layer.keys, layer.values]
        return (out.logits, *news)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_llama_without_cache(llama, dtype):
    import copy
    ids = torch.randint(0, VOCAB, (1, 7), generator=torch.Generator().manual_seed(1))
    w = LlamaLogits(copy.deepcopy(llama).to(dtype)).eval()
    g = bf.import_model(w, (ids,))
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
class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=2, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 2 * 2, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.avg_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return self.fc(torch.flatten(x, 1))


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


# ------------------------------------------------------------------ BERT-style encoder
class EncoderLayer(nn.Module):
    def __init__(self, d=32, heads=4):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln1 = nn.LayerNorm(d)
        self.ln2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, 4 * d)
        self.ff2 = nn.Linear(4 * d, d)

    def forward(self, x, mask):
        b, s, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)
        q, k, v = (t.view(b, s, self.heads, d // self.heads).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / (d // self.heads) ** 0.5 + mask
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(b, s, d)
        x = self.ln1(x + self.proj(y))
        return self.ln2(x + self.ff2(F.gelu(self.ff1(x))))


class TinyBert(nn.Module):
    def __init__(self, vocab=100, d=32, layers=2, max_len=16):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(max_len, d)
        self.ln = nn.LayerNorm(d)
        self.layers = nn.ModuleList([EncoderLayer(d) for _ in range(layers)])

    def forward(self, ids, attn_mask):
        pos = torch.arange(ids.shape[1]).unsqueeze(0)
        x = self.ln(self.tok(ids) + self.pos(pos))
        mask = (1.0 - attn_mask[:, None, None, :].to(x.dtype)) * -1e4
        for layer in self.layers:
            x = layer(x, mask)
        return x


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
class GQAAttention(nn.Module):
    def __init__(self, d=32, heads=4, kv_heads=2):
        super().__init__()
        self.h, self.kvh, self.hd = heads, kv_heads, d // heads
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, kv_heads * self.hd, bias=False)
        self.v = nn.Linear(d, kv_heads * self.hd, bias=False)
        self.o = nn.Linear(d, d, bias=False)

    def forward(self, x):
        b, s, _ = x.shape
        q = self.q(x).view(b, s, self.h, self.hd).transpose(1, 2)
        k = self.k(x).view(b, s, self.kvh, self.hd).transpose(1, 2)
        v = self.v(x).view(b, s, self.kvh, self.hd).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        return self.o(y.transpose(1, 2).reshape(b, s, -1))


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
