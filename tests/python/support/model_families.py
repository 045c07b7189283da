"""Tiny Hugging Face models of the families in issue 16, built from local configs with random
weights (no hub download), and how their results are compared with eager.

This module imports only torch and transformers (never buddy): the user-path tests run its
source text, followed by their own lines, as the script a user would write.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Tuple

import torch

Built = Tuple[torch.nn.Module, Tuple[torch.Tensor, ...]]

# Token ids inside the tiny vocabularies (the configs' defaults point past them).
_TOKEN_IDS = {"pad_token_id": 1, "bos_token_id": 2, "eos_token_id": 3}


def _images(n: int, size: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def resnet() -> Built:
    """ResNet-18-style (basic blocks, one per stage), 2 stages of 8 and 16 channels, 32x32 input."""
    from transformers import ResNetConfig, ResNetForImageClassification

    cfg = ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                       layer_type="basic", num_labels=10)
    torch.manual_seed(0)
    m = ResNetForImageClassification(cfg).eval()
    _randomize_batch_norm(m)
    return m, (_images(2, 32),)


def mobilenet_v2() -> Built:
    """MobileNetV2 (depthwise convs, ReLU6) at depth multiplier 0.25 on 32x32 images."""
    from transformers import MobileNetV2Config, MobileNetV2ForImageClassification

    cfg = MobileNetV2Config(num_channels=3, image_size=32, depth_multiplier=0.25, num_labels=10)
    torch.manual_seed(0)
    m = MobileNetV2ForImageClassification(cfg).eval()
    _randomize_batch_norm(m)
    return m, (_images(1, 32),)


def vit() -> Built:
    """ViT: hidden 32, 2 layers, 4 heads, 4x4 patches of a 16x16 image."""
    from transformers import ViTConfig, ViTForImageClassification

    cfg = ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                    image_size=16, patch_size=4, num_labels=10)
    torch.manual_seed(0)
    return ViTForImageClassification(cfg).eval(), (_images(2, 16),)


def clip_text() -> Built:
    """CLIP text tower: vocab 100, hidden 32, 2 layers, 4 heads, 7 tokens (causal mask, EOS pooling)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    cfg = CLIPTextConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=16, **_TOKEN_IDS)
    torch.manual_seed(0)
    ids = torch.randint(4, 100, (2, 7), generator=torch.Generator().manual_seed(1))
    return CLIPTextModel(cfg).eval(), (ids,)


def clip_vision() -> Built:
    """CLIP vision tower: hidden 32, 2 layers, 4 heads, 4x4 patches of a 16x16 image."""
    from transformers import CLIPVisionConfig, CLIPVisionModel

    cfg = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=16, patch_size=4)
    torch.manual_seed(0)
    return CLIPVisionModel(cfg).eval(), (_images(1, 16),)


def whisper_encoder() -> Built:
    """Whisper encoder: d_model 32, 2 layers, 4 heads, 16 mel bins, 32 frames (16 positions)."""
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    torch.manual_seed(0)
    feats = torch.randn(1, 16, 32, generator=torch.Generator().manual_seed(1))
    return WhisperEncoder(_whisper_config()).eval(), (feats,)


WHISPER_DECODER_LAYERS = 2


def _whisper_config() -> Any:
    from transformers import WhisperConfig

    return WhisperConfig(vocab_size=100, d_model=32, encoder_layers=2, encoder_attention_heads=4,
                         decoder_layers=WHISPER_DECODER_LAYERS, decoder_attention_heads=4, encoder_ffn_dim=64,
                         decoder_ffn_dim=64, num_mel_bins=16, max_source_positions=16, max_target_positions=16,
                         decoder_start_token_id=2, **_TOKEN_IDS)


class WhisperDecoderNoCache(torch.nn.Module):
    """(token ids, encoder states) -> the decoder's last hidden state, no KV cache."""

    def __init__(self, decoder: torch.nn.Module) -> None:
        super().__init__()
        self.decoder = decoder

    def forward(self, ids: torch.Tensor, encoder_states: torch.Tensor) -> torch.Tensor:
        return self.decoder(input_ids=ids, encoder_hidden_states=encoder_states, use_cache=False).last_hidden_state


class WhisperDecoderStep(torch.nn.Module):
    """One decode step with an explicit cache: (ids, encoder states, then per layer self k, self v,
    cross k, cross v) -> (last hidden state, then per layer the new self k and v)."""

    def __init__(self, decoder: torch.nn.Module) -> None:
        super().__init__()
        self.decoder = decoder

    def forward(self, ids: torch.Tensor, encoder_states: torch.Tensor, *kv: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        from transformers import DynamicCache, EncoderDecoderCache

        self_cache, cross_cache = DynamicCache(), DynamicCache()
        for i in range(WHISPER_DECODER_LAYERS):
            self_cache.update(kv[4 * i], kv[4 * i + 1], i)
            cross_cache.update(kv[4 * i + 2], kv[4 * i + 3], i)
        out = self.decoder(input_ids=ids, encoder_hidden_states=encoder_states,
                           past_key_values=EncoderDecoderCache(self_cache, cross_cache), use_cache=True)
        news: List[torch.Tensor] = []
        for layer in out.past_key_values.self_attention_cache.layers:
            news += [layer.keys, layer.values]
        return (out.last_hidden_state, *news)


def _whisper_decoder_and_inputs() -> Tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    from transformers.models.whisper.modeling_whisper import WhisperDecoder

    torch.manual_seed(0)
    decoder = WhisperDecoder(_whisper_config()).eval()
    gen = torch.Generator().manual_seed(1)
    encoder_states = torch.randn(1, 16, 32, generator=gen)
    ids = torch.randint(4, 100, (1, 5), generator=gen)
    return decoder, ids, encoder_states


def whisper_decoder() -> Built:
    """Whisper decoder without a cache: 5 tokens attending to 16 encoder positions."""
    decoder, ids, encoder_states = _whisper_decoder_and_inputs()
    return WhisperDecoderNoCache(decoder).eval(), (ids, encoder_states)


def whisper_decoder_step() -> Built:
    """Whisper decoder, one token with the KV cache of an eager prefill of the 4 before it."""
    decoder, ids, encoder_states = _whisper_decoder_and_inputs()
    with torch.no_grad():
        prefill = decoder(input_ids=ids[:, :4], encoder_hidden_states=encoder_states, use_cache=True)
    cache = prefill.past_key_values
    kv: List[torch.Tensor] = []
    for s, c in zip(cache.self_attention_cache.layers, cache.cross_attention_cache.layers):
        kv += [s.keys, s.values, c.keys, c.values]
    return WhisperDecoderStep(decoder).eval(), (ids[:, 4:], encoder_states, *kv)


class WhisperLogitsPadded(torch.nn.Module):
    """(ids padded to a fixed length, encoder states) -> logits at every position, no KV cache.

    Shape bucketing for greedy decoding: compiled once at the maximum length; at step t the
    caller reads the logits at position t (the causal mask makes the padding after t irrelevant).
    Whisper's output projection is tied to the token embedding."""

    def __init__(self, decoder: torch.nn.Module) -> None:
        super().__init__()
        self.decoder = decoder

    def forward(self, ids: torch.Tensor, encoder_states: torch.Tensor) -> torch.Tensor:
        hidden = self.decoder(input_ids=ids, encoder_hidden_states=encoder_states, use_cache=False).last_hidden_state
        return hidden @ self.decoder.embed_tokens.weight.T


class WhisperStaticCacheStep(torch.nn.Module):
    """One decode step with a static self-attention cache, the HF decoder's weights in plain torch ops.

    (token [1, 1] int64, pos [1] int64, encoder states [1, S, d_model], self-attention keys and
    values [layers, heads, max_len, head_dim]) -> (logits [1, 1, vocab], keys, values with the
    token's key and value written at `pos`). Cache positions after `pos` are masked out, so their
    contents do not matter; the cross-attention keys and values are computed from the encoder
    states in the step. Every shape is static: one compiled graph serves every position."""

    def __init__(self, decoder: torch.nn.Module) -> None:
        super().__init__()
        self.decoder = decoder
        cfg = decoder.config
        self.heads = int(cfg.decoder_attention_heads)
        self.head_dim = int(cfg.d_model) // self.heads
        self.max_len = int(cfg.max_target_positions)

    def empty_cache(self) -> Tuple[torch.Tensor, torch.Tensor]:
        shape = (len(self.decoder.layers), self.heads, self.max_len, self.head_dim)
        return torch.zeros(shape), torch.zeros(shape)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        # [1, n, d_model] -> [heads, n, head_dim]
        return x.view(x.shape[1], self.heads, self.head_dim).transpose(0, 1)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        # q [heads, 1, head_dim] (already scaled), k/v [heads, n, head_dim] -> [1, 1, d_model]
        scores = q @ k.transpose(1, 2)
        if mask is not None:
            scores = scores + mask
        out = torch.softmax(scores, dim=-1) @ v
        return out.transpose(0, 1).reshape(1, 1, self.heads * self.head_dim)

    def forward(self, token: torch.Tensor, pos: torch.Tensor, encoder_states: torch.Tensor,
                keys: torch.Tensor, values: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        d = self.decoder
        h = d.embed_tokens(token) + d.embed_positions.weight[pos].unsqueeze(0)
        slots = torch.arange(self.max_len, device=token.device)
        is_new = (slots == pos).view(1, self.max_len, 1)  # broadcast over [heads, max_len, head_dim]
        mask = torch.where(slots > pos, torch.finfo(h.dtype).min, 0.0).to(h.dtype)  # [max_len]
        new_keys: List[torch.Tensor] = []
        new_values: List[torch.Tensor] = []
        for i, layer in enumerate(d.layers):
            sa = layer.self_attn
            x = layer.self_attn_layer_norm(h)
            q = self._split(sa.q_proj(x) * sa.scaling)
            k_i = torch.where(is_new, self._split(sa.k_proj(x)), keys[i])
            v_i = torch.where(is_new, self._split(sa.v_proj(x)), values[i])
            new_keys.append(k_i)
            new_values.append(v_i)
            h = h + sa.out_proj(self._attend(q, k_i, v_i, mask))

            ca = layer.encoder_attn
            x = layer.encoder_attn_layer_norm(h)
            q = self._split(ca.q_proj(x) * ca.scaling)
            h = h + ca.out_proj(self._attend(q, self._split(ca.k_proj(encoder_states)),
                                             self._split(ca.v_proj(encoder_states)), None))

            x = layer.final_layer_norm(h)
            h = h + layer.fc2(layer.activation_fn(layer.fc1(x)))
        logits = d.layer_norm(h) @ d.embed_tokens.weight.T
        return logits, torch.stack(new_keys), torch.stack(new_values)


# Greedy decoding: the decoder starts from decoder_start_token_id (2) and two prompt tokens.
WHISPER_GREEDY_PROMPT = (2, 7, 42)


def whisper_greedy_decoder(seed: int = 0, init_std: float = 0.5) -> Tuple[torch.nn.Module, torch.Tensor]:
    """The tiny Whisper decoder for greedy decoding, and 16 encoder states.

    Weights drawn with std `init_std` (the config's 0.02 gives near-uniform logits and a greedy
    loop that repeats one token); with the defaults the 14 greedy tokens after the prompt are
    varied and every top-2 logit margin is clear."""
    from transformers.models.whisper.modeling_whisper import WhisperDecoder

    cfg = _whisper_config()
    cfg.init_std = init_std
    torch.manual_seed(seed)
    decoder = WhisperDecoder(cfg).eval()
    encoder_states = torch.randn(1, 16, 32, generator=torch.Generator().manual_seed(seed + 1))
    return decoder, encoder_states


def unet() -> Built:
    """Stable Diffusion's UNet2DConditionModel: channels (8, 16), one cross-attention down and up
    block, group norm of 4 groups, an 8x8 latent of 4 channels, 5 text states of width 16."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    m = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                             block_out_channels=(8, 16), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                             up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16,
                             attention_head_dim=4, norm_num_groups=4).eval()
    gen = torch.Generator().manual_seed(1)
    latent = torch.randn(1, 4, 8, 8, generator=gen)
    return m, (latent, torch.tensor([10.0]), torch.randn(1, 5, 16, generator=gen))


class VaeDecode(torch.nn.Module):
    """latent -> image of an AutoencoderKL (its decoder and post-quant conv)."""

    def __init__(self, vae: torch.nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latent).sample


def vae_decoder() -> Built:
    """Stable Diffusion's AutoencoderKL decoder: channels (8, 16), group norm of 4 groups,
    nearest 2x upsampling, mid-block attention; a 4-channel 8x8 latent to a 16x16 image."""
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16), layers_per_block=1,
                        latent_channels=4, norm_num_groups=4, sample_size=16)
    return VaeDecode(vae.eval()).eval(), (torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1)),)


def _randomize_batch_norm(m: torch.nn.Module) -> None:
    """Non-trivial running statistics, so that eval-mode batch norm is not the identity."""
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                c = mod.num_features
                mod.running_mean.copy_(torch.rand(c, generator=gen) - 0.5)
                mod.running_var.copy_(torch.rand(c, generator=gen) + 0.5)


FAMILIES: Dict[str, Callable[[], Built]] = {
    "resnet": resnet, "mobilenet_v2": mobilenet_v2, "vit": vit, "clip_text": clip_text,
    "clip_vision": clip_vision, "whisper_encoder": whisper_encoder, "whisper_decoder": whisper_decoder,
    "whisper_decoder_step": whisper_decoder_step, "unet": unet, "vae_decoder": vae_decoder,
}

# The package each family is built with (a test skips a family whose package is missing).
# Stable Diffusion's text encoder is CLIP's text tower (`clip_text`).
PACKAGE: Dict[str, str] = {name: "transformers" for name in FAMILIES}
PACKAGE.update({"unet": "diffusers", "vae_decoder": "diffusers"})

# Tolerance against eager, fp32: |got - want| <= ATOL_SCALE * max|want| + RTOL * |want|.
# The absolute part is scaled by the output's magnitude because reassociated fp32 sums
# (blocked GEMMs and reductions) differ from eager by a few ulps of the largest terms,
# not of each (possibly near-zero) element.
RTOL = 1e-4
ATOL_SCALE = 1e-5


def tensors(result: Any) -> List[torch.Tensor]:
    """The tensors of a model result (a ModelOutput, tuple or tensor), in pytree order."""
    from torch.utils._pytree import tree_flatten

    return [t for t in tree_flatten(result)[0] if isinstance(t, torch.Tensor)]


def max_scaled_error(got: Any, want: Any) -> float:
    """max over outputs of max|got - want| / max(max|want|, 1e-30); shapes and dtypes must match."""
    g_list, w_list = tensors(got), tensors(want)
    assert len(g_list) == len(w_list), (len(g_list), len(w_list))
    worst = 0.0
    for g, w in zip(g_list, w_list):
        assert tuple(g.shape) == tuple(w.shape) and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        scale = max(float(w.abs().max()), 1e-30)
        worst = max(worst, float((g - w).abs().max()) / scale)
    return worst


def assert_matches_eager(got: Any, want: Any) -> None:
    """Every output tensor within RTOL plus ATOL_SCALE * its max magnitude of eager's."""
    g_list, w_list = tensors(got), tensors(want)
    assert len(g_list) == len(w_list), (len(g_list), len(w_list))
    for g, w in zip(g_list, w_list):
        assert tuple(g.shape) == tuple(w.shape) and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        atol = ATOL_SCALE * float(w.abs().max())
        torch.testing.assert_close(g, w, rtol=RTOL, atol=atol)
