"""Small whole models shared by the frontend and backend model tests (random weights, no hub)."""

from __future__ import annotations

from typing import Any, List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

# tiny Llama: random config
N_LAYERS, N_KV, HEAD_DIM, VOCAB = 2, 2, 8, 128


def tiny_llama() -> nn.Module:
    """A 2-layer LlamaForCausalLM (hidden 32, 4 heads, 2 KV heads), seeded."""
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


def decode_step_inputs(past: int = 5, seed: int = 2) -> Tuple[torch.Tensor, ...]:
    """(ids, k0, v0, k1, v1) for LlamaDecodeStep with `past` cached positions."""
    gen = torch.Generator().manual_seed(seed)
    kv = [torch.randn(1, N_KV, past, HEAD_DIM, generator=gen) for _ in range(2 * N_LAYERS)]
    ids = torch.randint(0, VOCAB, (1, 1), generator=gen)
    return (ids, *kv)


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


def small_cnn() -> nn.Module:
    """SmallCNN with non-trivial BatchNorm running statistics, seeded."""
    torch.manual_seed(0)
    m = SmallCNN().eval()
    for bn in (m.bn1, m.bn2):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 1.5)
    return m


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


def bert_inputs() -> Tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(0, 100, (2, 9))
    attn = torch.ones(2, 9, dtype=torch.int64)
    attn[1, 6:] = 0
    return ids, attn


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


def close(got: Any, want: Any, atol: float = 1e-4, rtol: float = 1e-4) -> None:
    """Compare outputs (torch tensors or NumPy arrays) with eager results, shape and dtype included."""
    got = list(got) if isinstance(got, (list, tuple)) else [got]
    want: List[torch.Tensor] = list(want) if isinstance(want, (list, tuple)) else [want]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g = torch.from_numpy(g) if not isinstance(g, torch.Tensor) else g
        assert tuple(g.shape) == tuple(w.shape) and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        torch.testing.assert_close(g, w.detach(), atol=atol, rtol=rtol)
