"""buddy.llm compiled end to end: imported + compiled prefill/decode vs transformers eager."""
from __future__ import annotations


import pytest
import torch

transformers = pytest.importorskip("transformers")
pytest.importorskip("buddy._runtime")

from buddy.llm import Generator, KVCacheOverflowError, LlamaStatic, SamplingConfig  # noqa: E402
from buddy.llm.compiled import CompiledLlama  # noqa: E402
from support.midend_harness import skip_module_without_model_toolchain  # noqa: E402

skip_module_without_model_toolchain()

MAX_LEN = 48
BUCKET = 8
PROMPT = [1, 17, 5, 42, 9]


def tiny_config():
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=160, num_hidden_layers=3,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                       rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=True,
                       bos_token_id=1, eos_token_id=2, pad_token_id=0)


@pytest.fixture(scope="module")
def hf_model():
    from transformers import LlamaForCausalLM

    torch.manual_seed(1234)
    cfg = tiny_config()
    m = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():  # default init is too tame to tell tokens apart; widen it
        for p in m.parameters():
            p.normal_(0.0, 0.15)
    return m


@pytest.fixture(scope="module")
def static_model(hf_model):
    return LlamaStatic.from_state_dict(hf_model.config, hf_model.state_dict(), MAX_LEN)


@pytest.fixture(scope="module")
def compiled(static_model, tmp_path_factory):
    cache = tmp_path_factory.mktemp("buddy-cache")
    return CompiledLlama(static_model, prefill_lengths=(BUCKET,), cache_dir=cache, progress=False)


def test_greedy_matches_transformers_generate(hf_model, compiled):
    n_new = 32
    with torch.no_grad():
        out = hf_model.generate(torch.tensor([PROMPT]), max_new_tokens=n_new, min_new_tokens=n_new,
                                do_sample=False, output_logits=True, return_dict_in_generate=True,
                                pad_token_id=0)
    ref_tokens = out.sequences[0, len(PROMPT):].tolist()
    res = Generator(compiled, None, prefill_buckets=(BUCKET,)).generate(
        PROMPT, SamplingConfig(max_new_tokens=n_new, stop_at_eos=False))
    assert res.tokens == ref_tokens
    assert len(set(ref_tokens)) > 3, "degenerate reference: the test would not tell models apart"
    assert len(res.logits) == n_new == len(out.logits)
    for step, (got, want) in enumerate(zip(res.logits, out.logits)):
        torch.testing.assert_close(got, want[0].float(), rtol=1e-4, atol=1e-4,
                                   msg=lambda m, step=step: f"step {step}: {m}")


def test_decode_updates_cache_in_place(static_model, compiled):
    tokens = torch.zeros((1, BUCKET), dtype=torch.int64)
    tokens[0, :len(PROMPT)] = torch.tensor(PROMPT)
    last = torch.tensor([len(PROMPT) - 1])
    _, k, v = compiled.prefill(tokens, last)
    ek, ev = static_model.prefill(tokens, last)[1:]
    torch.testing.assert_close(k, ek, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(v, ev, rtol=1e-5, atol=1e-5)
    ptr_k, ptr_v = k.data_ptr(), v.data_ptr()
    before_k, before_v = k.clone(), v.clone()
    pos = len(PROMPT)
    logits = compiled.decode(torch.tensor([[7]]), torch.tensor([pos]), k, v)
    ref = static_model.decode(torch.tensor([[7]]), torch.tensor([pos]), ek, ev)
    torch.testing.assert_close(logits, ref, rtol=1e-4, atol=1e-4)
    # same buffers, new rows at `pos` only, equal to eager's in-place update
    assert k.data_ptr() == ptr_k and v.data_ptr() == ptr_v
    assert compiled.k_cache is k and compiled.v_cache is v
    for new, old, want in ((k, before_k, ek), (v, before_v, ev)):
        changed = (new != old).any(dim=-1)            # [L, KVH, max_len]
        assert changed[:, :, pos].all()
        changed[:, :, pos] = False
        assert not changed.any(), "decode wrote outside position pos"
        torch.testing.assert_close(new, want, rtol=1e-5, atol=1e-5)


def test_second_start_reuses_compiled_artifacts(static_model, compiled, monkeypatch):
    import buddy.frontend

    def no_import(*a, **k):
        raise AssertionError("a cached model must not be imported again")

    monkeypatch.setattr(buddy.frontend, "import_model", no_import)
    again = CompiledLlama(static_model, prefill_lengths=(BUCKET,), cache_dir=compiled.root, progress=False)
    assert again.weights_path == compiled.weights_path
    res = Generator(again, None, prefill_buckets=(BUCKET,)).generate(
        PROMPT, SamplingConfig(max_new_tokens=4, stop_at_eos=False))
    ref = Generator(static_model, None, prefill_buckets=(BUCKET,)).generate(
        PROMPT, SamplingConfig(max_new_tokens=4, stop_at_eos=False))
    assert res.tokens == ref.tokens


def test_errors(compiled):
    with pytest.raises(KVCacheOverflowError, match="KV cache"):
        Generator(compiled, None).generate(list(range(1, MAX_LEN + 2)), SamplingConfig(max_new_tokens=1))
    foreign = torch.zeros_like(compiled.k_cache)
    with pytest.raises(ValueError, match="own cache buffers"):
        compiled.decode(torch.tensor([[1]]), torch.tensor([0]), foreign, compiled.v_cache)
    with pytest.raises(KVCacheOverflowError, match="outside the KV cache"):
        compiled.decode(torch.tensor([[1]]), torch.tensor([MAX_LEN]), compiled.k_cache, compiled.v_cache)


def test_smollm2_gguf_compiled():
    """The real model: decode + one prefill bucket (cold import + compile ~30 s on 2 cores)."""
    from buddy.llm import HFTokenizer, find_smollm2_gguf

    try:
        path = find_smollm2_gguf()
    except FileNotFoundError as e:
        pytest.skip(str(e))
    model = LlamaStatic.from_gguf(str(path), 512)   # the shape `buddy llama` compiles (cache hit)
    tok = HFTokenizer(path)
    runner = CompiledLlama(model, prefill_lengths=(32,), progress=False)
    ids = tok.encode("The capital of France is")
    cfg = SamplingConfig(max_new_tokens=16, stop_at_eos=False)
    got = Generator(runner, tok, prefill_buckets=(32,)).generate(ids, cfg)
    want = Generator(model, tok, prefill_buckets=(32,)).generate(ids, cfg)
    assert tok.decode(got.tokens).startswith(" Paris")
    assert got.tokens == want.tokens


def test_decode_spans_cross_their_boundaries(hf_model, tmp_path):
    """With max_len 300 the compiled decode steps attend to 128, 256 or 300 cache positions
    (`decode_spans`), the smallest span > pos. Decoding greedily from position 5 to the end of
    the cache crosses both boundaries; every step's logits equal the eager model's, which
    always attends to the whole cache, and each step ran the graph of its span."""
    from buddy.llm.compiled import decode_spans

    n = 300
    assert decode_spans(n) == [128, 256, 300]
    assert decode_spans(128) == [128] and decode_spans(64) == [64] and decode_spans(129) == [128, 129]
    eager = LlamaStatic.from_state_dict(hf_model.config, hf_model.state_dict(), n)
    c = CompiledLlama(eager, prefill_lengths=(5,), cache_dir=tmp_path / "cache", progress=False)
    assert sorted(c._decodes) == [128]         # only the shortest span is compiled up front
    c.prepare_decode(120, 130)                 # the Generator readies a generation's spans
    assert sorted(c._decodes) == [128, 256]
    runs = {t: 0 for t in c.spans}
    calls = []
    real_get = c._get_decode

    def counting_get(span):
        calls.append(span)
        return real_get(span)

    c._get_decode = counting_get
    tokens = torch.tensor([PROMPT])
    last = torch.tensor([len(PROMPT) - 1])
    lc, kc, vc = c.prefill(tokens, last)
    with torch.no_grad():
        le, ke, ve = eager.prefill(tokens, last)
        torch.testing.assert_close(lc, le, rtol=1e-4, atol=1e-4)
        for pos in range(len(PROMPT), n):
            t = torch.tensor([[int(le.argmax())]])
            lc = c.decode(t, torch.tensor([pos]), kc, vc)
            le = eager.decode(t, torch.tensor([pos]), ke, ve)
            torch.testing.assert_close(lc, le, rtol=1e-4, atol=1e-4, msg=f"decode at {pos}")
    for span in calls:
        runs[span] += 1
    assert runs == {128: 128 - 5, 256: 128, 300: 44}, runs
    torch.testing.assert_close(kc, ke, rtol=1e-4, atol=1e-4)
    # the eager model attending to a short span is the same step (what the graphs compute)
    k2, v2 = ke.clone(), ve.clone()
    with torch.no_grad():
        a = eager.decode(torch.tensor([[3]]), torch.tensor([100]), ke, ve)
        b = eager.decode(torch.tensor([[3]]), torch.tensor([100]), k2, v2, span=128)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="span 301"):
        eager.decode(torch.tensor([[3]]), torch.tensor([100]), ke, ve, span=301)
    with pytest.raises(KVCacheOverflowError, match="300"):
        c.prepare_decode(10, 300)
