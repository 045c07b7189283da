// Tokenizers on small hand-made vocabularies (written to GGUF files and read
// back): SentencePiece BPE score-driven merges and byte fallback, byte-level
// BPE rank-driven merges and pre-tokenizer splits, special tokens, the Text
// container and streaming decode of characters split across tokens.
// Comparisons against the reference libraries on real vocabularies are in
// tests/python/runtime/test_tokenizers.py.
#include "buddy/Text.h"
#include "buddy/tokenizer/ByteLevelBPE.h"
#include "buddy/tokenizer/Load.h"
#include "buddy/tokenizer/SentencePieceBPE.h"
#include "buddy/tokenizer/SentencePieceModel.h"
#include "check.h"
#include "gguf_writer.h"

#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace buddy;
using buddy_test::GGUFWriter;
using Ids = std::vector<int32_t>;

// ---- SentencePiece BPE -----------------------------------------------------------------

struct SpmVocab {
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<int32_t> types;
  int32_t add(const std::string &p, float s, TokenType t = TokenType::Normal) {
    pieces.push_back(p);
    scores.push_back(s);
    types.push_back(static_cast<int32_t>(t));
    return static_cast<int32_t>(pieces.size() - 1);
  }
};

// ids: 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then pieces.
static SpmVocab spmVocab(float abScore, float bcScore) {
  SpmVocab v;
  v.add("<unk>", 0, TokenType::Unknown);
  v.add("<s>", 0, TokenType::Control);
  v.add("</s>", 0, TokenType::Control);
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    v.add(buf, 0, TokenType::Byte);
  }
  for (const char *p : {"\xE2\x96\x81", "a", "b", "c", "h", "e", "l", "o"})
    v.add(p, -10);
  v.add("ab", abScore);
  v.add("bc", bcScore);
  v.add("ll", -1);
  v.add("he", -2);
  v.add("llo", -3);
  v.add("hello", -4);
  v.add("\xE2\x96\x81hello", -5);
  v.add("\xE2\x96\x81\xE2\x96\x81", -6); // "▁▁"
  return v;
}

static std::string writeSpm(const SpmVocab &v, const std::string &name) {
  GGUFWriter w;
  w.str("general.architecture", "llama");
  w.str("tokenizer.ggml.model", "llama");
  w.strings("tokenizer.ggml.tokens", v.pieces);
  w.f32s("tokenizer.ggml.scores", v.scores);
  w.i32s("tokenizer.ggml.token_type", v.types);
  w.u32("tokenizer.ggml.bos_token_id", 1);
  w.u32("tokenizer.ggml.eos_token_id", 2);
  w.u32("tokenizer.ggml.unknown_token_id", 0);
  std::string path = buddy_test::tempPath(name);
  w.write(path);
  return path;
}

static std::vector<std::string> pieces(const Tokenizer &t, const Ids &ids) {
  std::vector<std::string> out;
  for (int32_t id : ids)
    out.push_back(t.piece(id));
  return out;
}
using Strs = std::vector<std::string>;

static void testSpmMergesByScore() {
  std::string path = writeSpm(spmVocab(-1, -2), "spm1.gguf");
  auto tok = loadTokenizer(path);
  CHECK(dynamic_cast<SentencePieceBPE *>(tok.get()) != nullptr);
  CHECK_EQ(tok->vocabSize(), 275u);
  CHECK_EQ(tok->bosId(), 1);
  // "ab" scores higher than "bc": abc -> ab c.
  CHECK(pieces(*tok, tok->encode("abc")) == Strs({"\xE2\x96\x81", "ab", "c"}));
  // Dummy prefix + greedy best merge: "hello" -> "▁hello".
  CHECK(pieces(*tok, tok->encode("hello")) == Strs({"\xE2\x96\x81hello"}));
  CHECK(tok->encode("hello", true) == Ids({1, tok->encode("hello")[0]}));
  EncodeOptions eos;
  eos.addEos = true;
  CHECK(tok->encode("", eos) == Ids({2}));
  CHECK(tok->encode("").empty());
  // Spaces are escaped: "  a" -> "▁▁▁a" -> ▁▁ ▁ a.
  CHECK(pieces(*tok, tok->encode("  a")) ==
        Strs({"\xE2\x96\x81\xE2\x96\x81", "\xE2\x96\x81", "a"}));
  CHECK(tok->decode(tok->encode("  a")) == "  a");
  std::remove(path.c_str());

  path = writeSpm(spmVocab(-2, -1), "spm2.gguf");
  tok = loadTokenizer(path);
  CHECK(pieces(*tok, tok->encode("abc")) == Strs({"\xE2\x96\x81", "a", "bc"}));
  std::remove(path.c_str());
}

static void testSpmByteFallback() {
  std::string path = writeSpm(spmVocab(-1, -2), "spm3.gguf");
  auto tok = loadTokenizer(path);
  // 'é' (C3 A9) and '!' are not in the vocabulary: byte tokens.
  Ids ids = tok->encode("h\xC3\xA9!");
  CHECK(pieces(*tok, ids) == Strs({"\xE2\x96\x81", "h", "<0xC3>", "<0xA9>", "<0x21>"}));
  CHECK(tok->decode(ids) == "h\xC3\xA9!");
  CHECK(tok->decode({1, ids[0], ids[1], 2}) == "h"); // BOS/EOS skipped, leading space dropped
  CHECK(tok->decode({1, ids[1], 2}, /*keepSpecial=*/true) == "<s>h</s>");
  // Malformed UTF-8 input is normalized to U+FFFD (EF BF BD) as SentencePiece does.
  Ids bad = tok->encode(std::string("a\xFF"));
  CHECK(pieces(*tok, bad) == Strs({"\xE2\x96\x81", "a", "<0xEF>", "<0xBF>", "<0xBD>"}));
  // Special tokens only when asked for.
  EncodeOptions sp;
  sp.parseSpecial = true;
  CHECK(tok->encode("<s>a", sp) == Ids({1, tok->encode("a")[0], tok->encode("a")[1]}));
  // Without parseSpecial "<s>" is text: "▁" and byte tokens for '<', 's', '>'.
  CHECK(pieces(*tok, tok->encode("<s>", EncodeOptions{})) ==
        Strs({"\xE2\x96\x81", "<0x3C>", "<0x73>", "<0x3E>"}));
  std::remove(path.c_str());
}

// ---- byte-level BPE -------------------------------------------------------------------

static std::string byteChar(unsigned char b) {
  std::string s;
  unicode::appendUtf8(s, ByteLevelBPE::byteToCodepoint(b));
  return s;
}

static std::unique_ptr<ByteLevelBPE> byteLevel(const std::vector<std::string> &merges,
                                               PreTokenizer pre = PreTokenizer::GPT2) {
  std::vector<std::string> toks = {"<|endoftext|>", "<|im_start|>"};
  std::vector<TokenType> types = {TokenType::Control, TokenType::Control};
  for (int b = 0; b < 256; ++b) {
    toks.push_back(byteChar(static_cast<unsigned char>(b)));
    types.push_back(TokenType::Normal);
  }
  for (const auto &m : merges) {
    std::string joined = m;
    joined.erase(joined.find(' '), 1);
    toks.push_back(joined);
    types.push_back(TokenType::Normal);
  }
  std::vector<std::string_view> mv(merges.begin(), merges.end());
  return std::make_unique<ByteLevelBPE>(toks, types, mv, pre, -1, 0);
}

static void testByteLevelMergesByRank() {
  auto t1 = byteLevel({"a b", "b c"});
  CHECK(pieces(*t1, t1->encode("abc")) == Strs({"ab", "c"}));
  auto t2 = byteLevel({"b c", "a b"});
  CHECK(pieces(*t2, t2->encode("abc")) == Strs({"a", "bc"}));
  // Overlapping pairs merge leftmost first; merges compose.
  auto t3 = byteLevel({"a a", "aa aa"});
  CHECK(pieces(*t3, t3->encode("aaaaa")) == Strs({"aaaa", "a"}));
  // Space is the byte char U+0120 'Ġ'.
  auto t4 = byteLevel({"\xC4\xA0 w", "\xC4\xA0w o"});
  CHECK(pieces(*t4, t4->encode("a wo")) == Strs({"a", "\xC4\xA0wo"}));
  CHECK(t4->decode(t4->encode("a wo\xF0\x9F\xA6\x99")) == "a wo\xF0\x9F\xA6\x99");
  EncodeOptions sp;
  sp.parseSpecial = true;
  CHECK(t4->encode("<|im_start|>a", sp) == Ids({1, t4->encode("a")[0]}));
  CHECK(t4->encode("<|im_start|>a").size() == 13u);
  CHECK_THROWS(t4->encode("a", true), std::runtime_error, "no BOS token");
}

static void testPreTokenizers() {
  auto gpt2 = byteLevel({}, PreTokenizer::GPT2);
  auto smol = byteLevel({}, PreTokenizer::SmolLM);
  auto l3 = byteLevel({}, PreTokenizer::Llama3);
  std::string s = "Hello world's  1234";
  CHECK(gpt2->preTokenize(s) == Strs({"Hello", " world", "'s", " ", " 1234"}));
  CHECK(smol->preTokenize(s) == Strs({"Hello", " world", "'s", "  ", "1", "2", "3", "4"}));
  CHECK(l3->preTokenize(s) == Strs({"Hello", " world", "'s", " ", " ", "123", "4"}));
  // LLaMA-3: case-insensitive contractions, punctuation glued to a word,
  // newlines kept with the punctuation run, \s*[\r\n]+.
  CHECK(l3->preTokenize("I'M (ok)\n\n  x") == Strs({"I", "'M", " (", "ok", ")\n\n", " ", " x"}));
  CHECK(gpt2->preTokenize("I'M x") == Strs({"I", "'", "M", " x"}));
  // Non-ASCII classes: Cyrillic letters, Arabic-Indic digits, NBSP is \s.
  CHECK(gpt2->preTokenize("\xD0\xBC\xD0\xB8\xD1\x80 \xD9\xA3\xD9\xA4\xC2\xA0!") ==
        Strs({"\xD0\xBC\xD0\xB8\xD1\x80", " \xD9\xA3\xD9\xA4", "\xC2\xA0", "!"}));
  CHECK_THROWS(preTokenizerFromName("qwen2"), std::runtime_error, "unsupported pre-tokenizer 'qwen2'");
}

// ---- streaming decode and Text ------------------------------------------------------------

static void testStreamDecoderSplitCharacter() {
  std::string path = writeSpm(spmVocab(-1, -2), "spm4.gguf");
  auto tok = loadTokenizer(path);
  // U+1F999 (F0 9F A6 99) becomes four byte tokens.
  Ids ids = tok->encode("a\xF0\x9F\xA6\x99" "b");
  CHECK_EQ(ids.size(), 7u); // ▁ a F0 9F A6 99 b
  StreamDecoder dec(*tok);
  std::vector<std::string> out;
  for (int32_t id : ids)
    out.push_back(dec.push(id));
  CHECK(out == Strs({"", "a", "", "", "", "\xF0\x9F\xA6\x99", "b"}));
  CHECK(dec.flush().empty());
  // A truncated character is held back, then replaced by U+FFFD on flush.
  StreamDecoder d2(*tok);
  d2.push(ids[1]);
  CHECK(d2.push(ids[2]).empty() && d2.push(ids[3]).empty());
  CHECK_EQ(d2.pendingBytes(), 2u);
  CHECK(d2.flush() == "\xEF\xBF\xBD");
  // A byte that can never start a character is replaced at once.
  StreamDecoder d3(*tok);
  CHECK(d3.push(3 + 0x80) == "\xEF\xBF\xBD");
  CHECK(d3.push(3 + 0x41) == "A");
  // Control tokens produce nothing, and BOS does not count as the first token.
  StreamDecoder d4(*tok);
  CHECK(d4.push(1).empty());
  CHECK(d4.push(tok->encode("hello")[0]) == "hello");
  CHECK_THROWS(d4.push(100000), std::out_of_range, "token id 100000 is out of range");

  // Byte-level: "é" is two byte pieces without a merge.
  auto bl = byteLevel({});
  Ids e = bl->encode("\xC3\xA9");
  CHECK_EQ(e.size(), 2u);
  StreamDecoder d5(*bl);
  CHECK(d5.push(e[0]).empty());
  CHECK(d5.push(e[1]) == "\xC3\xA9");

  Text text("hello \xC3\xA9");
  CHECK(text.tokenize(*tok, true).front() == 1);
  Text back(text.tokens());
  CHECK(back.detokenize(*tok) == "hello \xC3\xA9");
  std::remove(path.c_str());
}

// ---- SentencePiece .model (protobuf) ----------------------------------------------------

static void pbVarint(std::string &o, uint64_t v) {
  while (v >= 0x80) {
    o.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  o.push_back(static_cast<char>(v));
}
static void pbKey(std::string &o, uint32_t field, uint32_t wire) { pbVarint(o, (field << 3) | wire); }
static void pbBytes(std::string &o, uint32_t field, const std::string &b) {
  pbKey(o, field, 2);
  pbVarint(o, b.size());
  o += b;
}

static std::string spmProto(const SpmVocab &v, int modelType = 2) {
  std::string m;
  for (size_t i = 0; i < v.pieces.size(); ++i) {
    std::string p;
    pbBytes(p, 1, v.pieces[i]);
    pbKey(p, 2, 5);
    char f[4];
    std::memcpy(f, &v.scores[i], 4);
    p.append(f, 4);
    if (v.types[i] != 1) {
      pbKey(p, 3, 0);
      pbVarint(p, static_cast<uint64_t>(v.types[i]));
    }
    pbBytes(m, 1, p);
  }
  std::string t;
  pbKey(t, 3, 0);
  pbVarint(t, static_cast<uint64_t>(modelType));
  pbKey(t, 35, 0);
  pbVarint(t, 1); // byte_fallback
  pbKey(t, 43, 0);
  pbVarint(t, static_cast<uint64_t>(int64_t{-1})); // pad_id = -1: a 10-byte varint
  pbBytes(m, 2, t);
  std::string n;
  pbBytes(n, 1, "identity");
  pbKey(n, 4, 0);
  pbVarint(n, 0); // remove_extra_whitespaces = false
  pbBytes(m, 3, n);
  return m;
}

static void testSentencePieceModelProto() {
  SpmVocab v = spmVocab(-1, -2);
  std::string proto = spmProto(v);
  auto tok = sentencePieceFromProto(proto, "tiny.model");
  CHECK_EQ(tok->vocabSize(), v.pieces.size());
  CHECK_EQ(tok->bosId(), 1);
  CHECK_EQ(tok->eosId(), 2);
  std::string path = writeSpm(v, "spm5.gguf");
  auto ref = loadTokenizer(path);
  for (const char *s : {"hello", "abc", "  aÃ©!", "hello hello", ""})
    CHECK(tok->encode(s) == ref->encode(s));
  std::remove(path.c_str());
  CHECK_THROWS(sentencePieceFromProto(spmProto(v, 1), "uni.model"), std::runtime_error,
               "'uni.model': model_type 1 (only BPE = 2) is not supported");
  // Truncations: a clean cut between fields parses (protobuf has no length
  // header), any other cut is an error naming the file and offset; never a crash.
  int errors = 0, other = 0;
  for (size_t n = 0; n < proto.size(); ++n) {
    try {
      (void)sentencePieceFromProto(std::string_view(proto.data(), n), "cut.model");
    } catch (const std::runtime_error &e) {
      std::string m = e.what();
      if (m.find("'cut.model'") == std::string::npos)
        ++other;
      ++errors;
    } catch (...) {
      ++other;
    }
  }
  CHECK(errors > static_cast<int>(proto.size()) / 2);
  CHECK_EQ(other, 0);
  CHECK_THROWS(loadSentencePieceModel("/nonexistent/x.model"), std::runtime_error,
               "'/nonexistent/x.model': cannot open");
}

// Arbitrary bytes (mostly invalid UTF-8): byte-level BPE round-trips them
// exactly; SentencePiece encodes them (malformed bytes as U+FFFD) without
// failing, and every streamed piece is valid UTF-8.
static void testArbitraryBytes() {
  std::mt19937 rng(42);
  auto bl = byteLevel({"a b", "\xC4\xA0 a", "ab c"}, PreTokenizer::Llama3);
  std::string path = writeSpm(spmVocab(-1, -2), "spm6.gguf");
  auto spm = loadTokenizer(path);
  int roundTrips = 0, validStreams = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    std::string s(rng() % 24, '\0');
    for (char &c : s)
      c = static_cast<char>(rng() % 4 == 0 ? 'a' + rng() % 3 : rng());
    roundTrips += bl->decode(bl->encode(s)) == s;
    Ids ids = spm->encode(s, true);
    StreamDecoder dec(*spm);
    std::string streamed;
    for (int32_t id : ids)
      streamed += dec.push(id);
    streamed += dec.flush();
    bool valid = true;
    const auto *u = reinterpret_cast<const unsigned char *>(streamed.data());
    for (size_t i = 0; i < streamed.size();) {
      size_t n = unicode::utf8SequenceLength(u + i, streamed.size() - i);
      if (n == 0) {
        valid = false;
        break;
      }
      i += n;
    }
    validStreams += valid && streamed == spm->decode(ids);
  }
  CHECK_EQ(roundTrips, 2000);
  CHECK_EQ(validStreams, 2000);
  std::remove(path.c_str());
}

static void testBadVocabularies() {
  CHECK_THROWS(SentencePieceBPE({"a", "b"}, {0.f}, {TokenType::Normal, TokenType::Normal}, -1, -1, -1),
               std::runtime_error, "2 pieces but 1 scores");
  CHECK_THROWS(SentencePieceBPE({"a"}, {0.f}, {TokenType::Normal}, 5, -1, -1), std::runtime_error,
               "BOS id 5 is out of the vocabulary");
  GGUFWriter w;
  w.str("general.architecture", "llama");
  std::string path = buddy_test::tempPath("notok.gguf");
  w.write(path);
  CHECK_THROWS(loadTokenizer(path), std::runtime_error, "has no tokenizer.ggml.model");
  GGUFWriter w2;
  w2.str("tokenizer.ggml.model", "bert");
  w2.write(path);
  CHECK_THROWS(loadTokenizer(path), std::runtime_error, "uses tokenizer model 'bert'");
  SpmVocab v = spmVocab(-1, -2);
  v.types.pop_back();
  GGUFWriter w3;
  w3.str("tokenizer.ggml.model", "llama");
  w3.strings("tokenizer.ggml.tokens", v.pieces);
  w3.i32s("tokenizer.ggml.token_type", v.types);
  w3.write(path);
  CHECK_THROWS(loadTokenizer(path), std::runtime_error, "274 token types for 275 tokens");
  GGUFWriter w4;
  w4.str("tokenizer.ggml.model", "llama");
  w4.strings("tokenizer.ggml.tokens", {"a", "b"});
  w4.u32("tokenizer.ggml.bos_token_id", 7);
  w4.write(path);
  CHECK_THROWS(loadTokenizer(path), std::runtime_error, "BOS id 7 is out of the vocabulary (in '" + path);
  std::remove(path.c_str());
}

int main() {
  testSpmMergesByScore();
  testSpmByteFallback();
  testByteLevelMergesByRank();
  testPreTokenizers();
  testStreamDecoderSplitCharacter();
  testSentencePieceModelProto();
  testArbitraryBytes();
  testBadVocabularies();
  return buddy_test::report();
}
