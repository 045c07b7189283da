// GPT-2 style byte-level BPE (tokenizer.ggml.model == "gpt2"): SmolLM2,
// LLaMA-3, GPT-2.
//
// Encoding, as HF `tokenizers` does with a ByteLevel pre-tokenizer + BPE model:
//   1. (optional) split out special tokens;
//   2. pre-tokenize with the model's split regex (see PreTokenizer below),
//      implemented by hand over the Unicode classes of UnicodeTables.h;
//   3. map every byte of a piece to its GPT-2 "byte-to-unicode" character;
//   4. start from one symbol per byte and repeatedly apply the merge with the
//      lowest rank (ties: leftmost), via a priority queue.
// Decoding maps the characters of each piece back to bytes.
#ifndef BUDDY_TOKENIZER_BYTELEVELBPE_H
#define BUDDY_TOKENIZER_BYTELEVELBPE_H

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "buddy/gguf/GGUFReader.h"
#include "buddy/tokenizer/FlatMap.h"
#include "buddy/tokenizer/Tokenizer.h"
#include "buddy/tokenizer/Unicode.h"

namespace buddy {

/// The pre-tokenizer split regexes (HF tokenizers / llama.cpp names):
///  - GPT2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///  - SmolLM: each \p{N} isolated (Digits(individual_digits)), then GPT2 on the rest
///            (tokenizer.ggml.pre "smollm", also StarCoder)
///  - Llama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
///            ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+   ("llama-bpe")
enum class PreTokenizer { GPT2, SmolLM, Llama3 };

inline PreTokenizer preTokenizerFromName(const std::string &name) {
  if (name == "gpt2" || name == "default")
    return PreTokenizer::GPT2;
  if (name == "smollm" || name == "starcoder")
    return PreTokenizer::SmolLM;
  if (name == "llama-bpe" || name == "llama3" || name == "llama-v3")
    return PreTokenizer::Llama3;
  throw std::runtime_error("ByteLevelBPE: unsupported pre-tokenizer '" + name +
                           "' (supported: gpt2, smollm, starcoder, llama-bpe)");
}

namespace detail {

/// Splits text into pre-tokens; returns [begin, end) byte ranges.
class PreSplitter {
public:
  explicit PreSplitter(PreTokenizer kind) : kind_(kind) {}

  void split(std::string_view text, std::vector<std::pair<size_t, size_t>> &out) {
    cps_.clear();
    cls_.clear();
    off_.clear();
    const auto *u = reinterpret_cast<const unsigned char *>(text.data());
    for (size_t i = 0; i < text.size();) {
      size_t n;
      uint32_t cp = unicode::decodeUtf8(u + i, text.size() - i, n);
      cps_.push_back(cp);
      cls_.push_back(unicode::classify(cp));
      off_.push_back(i);
      i += n;
    }
    off_.push_back(text.size());
    size_t n = cps_.size();
    switch (kind_) {
    case PreTokenizer::GPT2:
      gpt2(0, n, out);
      break;
    case PreTokenizer::SmolLM: {
      size_t start = 0;
      for (size_t i = 0; i < n; ++i)
        if (cls_[i] == unicode::kNumber) {
          gpt2(start, i, out);
          emit(i, i + 1, out);
          start = i + 1;
        }
      gpt2(start, n, out);
      break;
    }
    case PreTokenizer::Llama3:
      llama3(0, n, out);
      break;
    }
  }

private:
  PreTokenizer kind_;
  std::vector<uint32_t> cps_;
  std::vector<uint8_t> cls_;
  std::vector<size_t> off_;

  void emit(size_t b, size_t e, std::vector<std::pair<size_t, size_t>> &out) const {
    if (e > b)
      out.emplace_back(off_[b], off_[e]);
  }
  bool is(size_t i, size_t end, uint8_t c) const { return i < end && cls_[i] == c; }
  bool isOther(size_t i, size_t end) const { return i < end && cls_[i] == unicode::kOther; }
  bool isCRLF(size_t i) const { return cps_[i] == '\r' || cps_[i] == '\n'; }

  /// Length (in code points) of a contraction 's 't 're 've 'm 'll 'd at i, or 0.
  size_t contraction(size_t i, size_t end, bool ignoreCase) const {
    if (cps_[i] != '\'' || i + 1 >= end)
      return 0;
    auto lower = [&](size_t k) -> uint32_t {
      uint32_t c = cps_[k];
      if (!ignoreCase)
        return c;
      if (c >= 'A' && c <= 'Z')
        return c + 32;
      if (c == 0x17F) // LATIN SMALL LETTER LONG S case-folds to 's'
        return 's';
      if (c == 0x212A) // KELVIN SIGN folds to 'k' (not used by the list)
        return 'k';
      return c;
    };
    uint32_t a = lower(i + 1);
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
      return 2;
    if (i + 2 < end) {
      uint32_t b = lower(i + 2);
      if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return 3;
    }
    return 0;
  }

  /// \s+(?!\S) then \s+, at a whitespace code point i.
  size_t whitespaceRun(size_t i, size_t end) const {
    size_t j = i;
    while (j < end && cls_[j] == unicode::kSpace)
      ++j;
    if (j == end || j - i == 1)
      return j - i;
    return j - 1 - i;
  }

  void gpt2(size_t b, size_t end, std::vector<std::pair<size_t, size_t>> &out) const {
    size_t i = b;
    while (i < end) {
      size_t j;
      if (size_t c = contraction(i, end, false)) {
        j = i + c;
      } else {
        size_t k = i + (cps_[i] == ' ' && i + 1 < end && cls_[i + 1] != unicode::kSpace ? 1 : 0);
        uint8_t c0 = cls_[k];
        if (c0 == unicode::kLetter || c0 == unicode::kNumber || c0 == unicode::kOther) {
          j = k + 1;
          while (j < end && cls_[j] == c0)
            ++j;
        } else {
          j = i + whitespaceRun(i, end);
        }
      }
      emit(i, j, out);
      i = j;
    }
  }

  void llama3(size_t b, size_t end, std::vector<std::pair<size_t, size_t>> &out) const {
    using namespace unicode;
    size_t i = b;
    while (i < end) {
      size_t j = i;
      uint8_t c = cls_[i];
      if (size_t n = contraction(i, end, true)) {
        j = i + n;
      } else if (c == kLetter) {
        j = i + 1;
        while (j < end && cls_[j] == kLetter)
          ++j;
      } else if (c != kNumber && !isCRLF(i) && is(i + 1, end, kLetter)) {
        j = i + 2;
        while (j < end && cls_[j] == kLetter)
          ++j;
      } else if (c == kNumber) {
        j = i + 1;
        while (j < end && j < i + 3 && cls_[j] == kNumber)
          ++j;
      } else if (c == kOther || (cps_[i] == ' ' && isOther(i + 1, end))) {
        j = (c == kOther) ? i : i + 1;
        while (j < end && cls_[j] == kOther)
          ++j;
        while (j < end && isCRLF(j))
          ++j;
      } else {
        // whitespace: \s*[\r\n]+ | \s+(?!\S) | \s+
        size_t k = i;
        size_t lastNL = end;
        while (k < end && cls_[k] == kSpace) {
          if (isCRLF(k))
            lastNL = k;
          ++k;
        }
        if (lastNL != end)
          j = lastNL + 1;
        else
          j = i + whitespaceRun(i, end);
      }
      emit(i, j, out);
      i = j;
    }
  }
};

} // namespace detail

class ByteLevelBPE : public Tokenizer {
public:
  ByteLevelBPE(std::vector<std::string> pieces, std::vector<TokenType> types,
               const std::vector<std::string_view> &merges, PreTokenizer pre, int32_t bos,
               int32_t eos, int32_t unk = -1, bool addBos = false, bool addEos = false,
               bool ignoreMerges = false)
      : pre_(pre), ignoreMerges_(ignoreMerges) {
    if (pieces.size() != types.size())
      throw std::runtime_error("ByteLevelBPE: " + std::to_string(pieces.size()) +
                               " tokens but " + std::to_string(types.size()) + " token types");
    if (pieces.empty())
      throw std::runtime_error("ByteLevelBPE: empty vocabulary");
    pieces_ = std::move(pieces);
    types_ = std::move(types);
    auto checkOpt = [&](int32_t id, const char *what) {
      if (id >= static_cast<int32_t>(pieces_.size()))
        throw std::runtime_error(std::string("ByteLevelBPE: ") + what + " id " +
                                 std::to_string(id) + " is out of the vocabulary");
      return id;
    };
    bos_ = checkOpt(bos, "BOS");
    eos_ = checkOpt(eos, "EOS");
    unk_ = checkOpt(unk, "unknown-token");
    addBosDefault_ = addBos;
    addEosDefault_ = addEos;
    build(merges);
  }

  static std::unique_ptr<ByteLevelBPE> fromGGUF(const gguf::GGUFReader &r) {
    std::string model = r.getString("tokenizer.ggml.model", "");
    if (model != "gpt2")
      throw std::runtime_error("ByteLevelBPE: '" + r.path() + "' has tokenizer.ggml.model '" +
                               model + "', expected 'gpt2'");
    const auto &toks = r.getStringArray("tokenizer.ggml.tokens");
    std::vector<std::string> pieces(toks.begin(), toks.end());
    std::vector<TokenType> types(pieces.size(), TokenType::Normal);
    if (r.has("tokenizer.ggml.token_type")) {
      auto t = r.getIntArray("tokenizer.ggml.token_type");
      if (t.size() != pieces.size())
        throw std::runtime_error("ByteLevelBPE: '" + r.path() + "' has " +
                                 std::to_string(t.size()) + " token types for " +
                                 std::to_string(pieces.size()) + " tokens");
      for (size_t i = 0; i < t.size(); ++i) {
        if (t[i] < 0 || t[i] > 6)
          throw std::runtime_error("ByteLevelBPE: '" + r.path() + "' token " + std::to_string(i) +
                                   " has unknown type " + std::to_string(t[i]));
        types[i] = static_cast<TokenType>(t[i]);
      }
    }
    std::string preName = r.getString("tokenizer.ggml.pre", "default");
    PreTokenizer pre;
    try {
      pre = preTokenizerFromName(preName);
    } catch (const std::exception &e) {
      throw std::runtime_error(std::string(e.what()) + " in '" + r.path() + "'");
    }
    auto id = [&](const char *key) -> int32_t {
      return r.has(key) ? static_cast<int32_t>(r.getInt(key)) : -1;
    };
    try {
      return std::make_unique<ByteLevelBPE>(
          std::move(pieces), std::move(types), r.getStringArray("tokenizer.ggml.merges"), pre,
          id("tokenizer.ggml.bos_token_id"), id("tokenizer.ggml.eos_token_id"),
          id("tokenizer.ggml.unknown_token_id"), r.getBool("tokenizer.ggml.add_bos_token", false),
          r.getBool("tokenizer.ggml.add_eos_token", false),
          /*ignoreMerges=*/pre == PreTokenizer::Llama3);
    } catch (const std::runtime_error &e) {
      throw std::runtime_error(std::string(e.what()) + " (in '" + r.path() + "')");
    }
  }

  using Tokenizer::encode;
  std::vector<int32_t> encode(std::string_view text, const EncodeOptions &opt) const override {
    std::vector<int32_t> ids;
    ids.reserve(text.size() / 3 + 4);
    appendBos(ids, opt);
    detail::PreSplitter splitter(pre_);
    std::vector<std::pair<size_t, size_t>> words;
    Scratch scratch;
    splitSpecial(
        text, opt.parseSpecial,
        [&](std::string_view seg) {
          words.clear();
          splitter.split(seg, words);
          for (const auto &w : words)
            encodeWordCached(seg.substr(w.first, w.second - w.first), ids, scratch);
        },
        [&](int32_t id) { ids.push_back(id); });
    appendEos(ids, opt);
    return ids;
  }

  /// The pre-tokenizer's pieces of `text` (for tests and debugging).
  std::vector<std::string> preTokenize(std::string_view text) const {
    detail::PreSplitter splitter(pre_);
    std::vector<std::pair<size_t, size_t>> words;
    splitter.split(text, words);
    std::vector<std::string> out;
    for (const auto &w : words)
      out.emplace_back(text.substr(w.first, w.second - w.first));
    return out;
  }

  std::string tokenBytes(int32_t id) const override {
    checkId(id);
    const std::string &p = pieces_[static_cast<size_t>(id)];
    if (types_[static_cast<size_t>(id)] == TokenType::Control)
      return p;
    std::string out;
    out.reserve(p.size());
    const auto *u = reinterpret_cast<const unsigned char *>(p.data());
    for (size_t i = 0; i < p.size();) {
      size_t n;
      uint32_t cp = unicode::decodeUtf8(u + i, p.size() - i, n);
      int b = cp < unicodeToByte_.size() ? unicodeToByte_[cp] : -1;
      if (b >= 0)
        out.push_back(static_cast<char>(b));
      else
        out.append(p, i, n);
      i += n;
    }
    return out;
  }

  PreTokenizer preTokenizer() const { return pre_; }
  size_t numMerges() const { return merges_.size(); }

  /// The GPT-2 byte -> code point map: printable Latin-1 bytes map to
  /// themselves, the other bytes to U+0100, U+0101, ... in byte order.
  static uint32_t byteToCodepoint(uint8_t b) {
    static const std::vector<uint32_t> table = [] {
      std::vector<uint32_t> t(256);
      uint32_t next = 256;
      for (int c = 0; c < 256; ++c) {
        bool keep = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
        t[c] = keep ? static_cast<uint32_t>(c) : next++;
      }
      return t;
    }();
    return table[b];
  }

private:
  PreTokenizer pre_;
  bool ignoreMerges_;
  std::unordered_map<std::string_view, int32_t> pieceToId_;
  // (left id, right id) -> (rank, merged id)
  FlatMap64 merges_; // value: rank << 32 | merged id
  int32_t byteId_[256];
  std::vector<int16_t> unicodeToByte_;

  int32_t lookup(std::string_view s) const {
    auto it = pieceToId_.find(s);
    return it == pieceToId_.end() ? -1 : it->second;
  }

  void build(const std::vector<std::string_view> &merges) {
    pieceToId_.reserve(pieces_.size() * 2);
    for (size_t i = 0; i < pieces_.size(); ++i)
      pieceToId_.emplace(pieces_[i], static_cast<int32_t>(i));
    unicodeToByte_.assign(512, -1);
    for (int b = 0; b < 256; ++b) {
      uint32_t cp = byteToCodepoint(static_cast<uint8_t>(b));
      unicodeToByte_[cp] = static_cast<int16_t>(b);
      std::string s;
      unicode::appendUtf8(s, cp);
      byteId_[b] = lookup(s);
    }
    merges_.reserve(merges.size() * 2);
    for (size_t r = 0; r < merges.size(); ++r) {
      std::string_view m = merges[r];
      size_t sp = m.find(' ', 1);
      if (sp == std::string_view::npos)
        throw std::runtime_error("ByteLevelBPE: merge " + std::to_string(r) + " ('" +
                                 std::string(m) + "') is not 'left right'");
      std::string_view a = m.substr(0, sp), b = m.substr(sp + 1);
      int32_t ia = lookup(a), ib = lookup(b);
      std::string ab(a);
      ab += b;
      int32_t iab = lookup(ab);
      if (ia < 0 || ib < 0 || iab < 0)
        continue; // HF would reject the vocabulary; llama.cpp ignores such merges
      merges_.insert(packPair(ia, ib), (static_cast<uint64_t>(r) << 32) | static_cast<uint32_t>(iab));
    }
    indexSpecials({TokenType::Control, TokenType::UserDefined});
  }

  struct Cand {
    int32_t rank, pos, newId;
    bool operator<(const Cand &o) const { // the heap's top is the largest
      return rank > o.rank || (rank == o.rank && pos > o.pos);
    }
  };
  struct Scratch {
    std::vector<int32_t> id, prev, next;
    std::vector<Cand> heap;
    std::string mapped;
  };
  // Cache of short pre-tokens -> ids (natural text repeats words a lot).
  // Bounded; cleared when full. Guarded for concurrent encode() calls.
  static constexpr size_t kCacheMaxWord = 32;
  static constexpr size_t kCacheMaxEntries = size_t(1) << 17;
  mutable std::mutex cacheMutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;

  void encodeWordCached(std::string_view w, std::vector<int32_t> &out, Scratch &s) const {
    if (w.size() > kCacheMaxWord) {
      encodeWord(w, out, s);
      return;
    }
    std::string key(w);
    {
      std::lock_guard<std::mutex> lock(cacheMutex_);
      auto it = cache_.find(key);
      if (it != cache_.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    size_t before = out.size();
    encodeWord(w, out, s);
    std::vector<int32_t> ids(out.begin() + static_cast<std::ptrdiff_t>(before), out.end());
    std::lock_guard<std::mutex> lock(cacheMutex_);
    if (cache_.size() >= kCacheMaxEntries)
      cache_.clear();
    cache_.emplace(std::move(key), std::move(ids));
  }

  void encodeWord(std::string_view w, std::vector<int32_t> &out, Scratch &s) const {
    if (w.empty())
      return;
    if (ignoreMerges_ || w.size() == 1) {
      s.mapped.clear();
      for (unsigned char c : w)
        unicode::appendUtf8(s.mapped, byteToCodepoint(c));
      int32_t whole = lookup(s.mapped);
      if (whole >= 0) {
        out.push_back(whole);
        return;
      }
    }
    size_t n = w.size();
    s.id.resize(n);
    s.prev.resize(n);
    s.next.resize(n);
    size_t m = 0;
    for (size_t i = 0; i < n; ++i) {
      int32_t id = byteId_[static_cast<unsigned char>(w[i])];
      if (id < 0)
        continue; // a byte without a token is dropped, as by HF's BPE with no unk_token
                  // (GPT-2 style models: SmolLM2 lacks a few control bytes)
      s.id[m] = id;
      s.prev[m] = static_cast<int32_t>(m) - 1;
      s.next[m] = static_cast<int32_t>(m) + 1;
      ++m;
    }
    if (m == 0)
      return;
    s.next[m - 1] = -1;
    std::vector<Cand> &q = s.heap;
    q.clear();
    auto push = [&](int32_t p) {
      if (p < 0 || s.next[p] < 0)
        return;
      if (const uint64_t *v = merges_.find(packPair(s.id[p], s.id[s.next[p]]))) {
        q.push_back(Cand{static_cast<int32_t>(*v >> 32), p, static_cast<int32_t>(*v & 0xffffffffu)});
        std::push_heap(q.begin(), q.end());
      }
    };
    for (size_t i = 0; i + 1 < m; ++i)
      push(static_cast<int32_t>(i));
    while (!q.empty()) {
      std::pop_heap(q.begin(), q.end());
      Cand c = q.back();
      q.pop_back();
      int32_t p = c.pos;
      if (s.id[p] < 0 || s.next[p] < 0)
        continue;
      int32_t r = s.next[p];
      const uint64_t *v = merges_.find(packPair(s.id[p], s.id[r]));
      if (!v || static_cast<int32_t>(*v & 0xffffffffu) != c.newId)
        continue;
      s.id[p] = c.newId;
      s.id[r] = -1;
      s.next[p] = s.next[r];
      if (s.next[r] >= 0)
        s.prev[s.next[r]] = p;
      push(s.prev[p]);
      push(p);
    }
    for (int32_t i = 0; i >= 0; i = s.next[i])
      out.push_back(s.id[i]);
  }
};

} // namespace buddy

#endif // BUDDY_TOKENIZER_BYTELEVELBPE_H
