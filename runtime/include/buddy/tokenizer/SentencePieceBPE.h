// LLaMA-2 style SentencePiece BPE tokenizer (tokenizer.ggml.model == "llama").
//
// Encoding follows SentencePiece's BPE model with the LLaMA-2 normalizer
// settings (identity normalization, dummy prefix "▁", spaces escaped as "▁",
// no removal of extra whitespace):
//   1. prepend " " (dummy prefix) to non-empty text, replace ' ' by U+2581;
//      malformed UTF-8 bytes become U+FFFD as in SentencePiece's normalizer;
//   2. split into characters (user-defined pieces are kept whole);
//   3. repeatedly merge the adjacent pair whose concatenation is a normal /
//      user-defined / unused piece with the highest score (ties: leftmost),
//      using a priority queue of candidate pairs;
//   4. pieces of type "unused" are re-split into the pair that built them;
//      symbols missing from the vocabulary fall back to byte tokens <0xNN>
//      (or <unk> when the vocabulary has none).
#ifndef BUDDY_TOKENIZER_SENTENCEPIECEBPE_H
#define BUDDY_TOKENIZER_SENTENCEPIECEBPE_H

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
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

class SentencePieceBPE : public Tokenizer {
public:
  static constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81"; // U+2581 '▁'

  SentencePieceBPE(std::vector<std::string> pieces, std::vector<float> scores,
                   std::vector<TokenType> types, int32_t bos, int32_t eos, int32_t unk,
                   bool addDummyPrefix = true, bool addBos = true, bool addEos = false) {
    if (pieces.size() != scores.size() || pieces.size() != types.size())
      throw std::runtime_error("SentencePieceBPE: " + std::to_string(pieces.size()) +
                               " pieces but " + std::to_string(scores.size()) + " scores and " +
                               std::to_string(types.size()) + " token types");
    if (pieces.empty())
      throw std::runtime_error("SentencePieceBPE: empty vocabulary");
    pieces_ = std::move(pieces);
    scores_ = std::move(scores);
    types_ = std::move(types);
    auto checkOpt = [&](int32_t id, const char *what) {
      if (id >= static_cast<int32_t>(pieces_.size()))
        throw std::runtime_error(std::string("SentencePieceBPE: ") + what + " id " +
                                 std::to_string(id) + " is out of the vocabulary");
      return id;
    };
    bos_ = checkOpt(bos, "BOS");
    eos_ = checkOpt(eos, "EOS");
    unk_ = checkOpt(unk, "unknown-token");
    addDummyPrefix_ = addDummyPrefix;
    addBosDefault_ = addBos;
    addEosDefault_ = addEos;
    build();
  }

  /// Reads the vocabulary from GGUF metadata (tokenizer.ggml.*).
  static std::unique_ptr<SentencePieceBPE> fromGGUF(const gguf::GGUFReader &r) {
    std::string model = r.getString("tokenizer.ggml.model", "");
    if (model != "llama")
      throw std::runtime_error("SentencePieceBPE: '" + r.path() + "' has tokenizer.ggml.model '" +
                               model + "', expected 'llama'");
    const auto &toks = r.getStringArray("tokenizer.ggml.tokens");
    std::vector<std::string> pieces(toks.begin(), toks.end());
    std::vector<float> scores(pieces.size(), 0.0f);
    if (r.has("tokenizer.ggml.scores")) {
      auto s = r.getFloatArray("tokenizer.ggml.scores");
      if (s.size() != pieces.size())
        throw std::runtime_error("SentencePieceBPE: '" + r.path() + "' has " +
                                 std::to_string(s.size()) + " scores for " +
                                 std::to_string(pieces.size()) + " tokens");
      for (size_t i = 0; i < s.size(); ++i)
        scores[i] = static_cast<float>(s[i]);
    }
    std::vector<TokenType> types(pieces.size(), TokenType::Normal);
    if (r.has("tokenizer.ggml.token_type")) {
      auto t = r.getIntArray("tokenizer.ggml.token_type");
      if (t.size() != pieces.size())
        throw std::runtime_error("SentencePieceBPE: '" + r.path() + "' has " +
                                 std::to_string(t.size()) + " token types for " +
                                 std::to_string(pieces.size()) + " tokens");
      for (size_t i = 0; i < t.size(); ++i) {
        if (t[i] < 0 || t[i] > 6)
          throw std::runtime_error("SentencePieceBPE: '" + r.path() + "' token " +
                                   std::to_string(i) + " has unknown type " + std::to_string(t[i]));
        types[i] = static_cast<TokenType>(t[i]);
      }
    }
    auto id = [&](const char *key, int64_t dflt) -> int32_t {
      return r.has(key) ? static_cast<int32_t>(r.getInt(key)) : static_cast<int32_t>(dflt);
    };
    try {
      return std::make_unique<SentencePieceBPE>(
          std::move(pieces), std::move(scores), std::move(types),
          id("tokenizer.ggml.bos_token_id", 1), id("tokenizer.ggml.eos_token_id", 2),
          id("tokenizer.ggml.unknown_token_id", 0),
          r.getBool("tokenizer.ggml.add_space_prefix", true),
          r.getBool("tokenizer.ggml.add_bos_token", true),
          r.getBool("tokenizer.ggml.add_eos_token", false));
    } catch (const std::runtime_error &e) {
      throw std::runtime_error(std::string(e.what()) + " (in '" + r.path() + "')");
    }
  }

  using Tokenizer::encode;
  std::vector<int32_t> encode(std::string_view text, const EncodeOptions &opt) const override {
    std::vector<int32_t> ids;
    appendBos(ids, opt);
    bool prevSpecial = true; // the dummy prefix goes at the start and after specials
    Scratch scratch;
    splitSpecial(
        text, opt.parseSpecial,
        [&](std::string_view seg) {
          encodeSegment(seg, addDummyPrefix_ && prevSpecial, ids, scratch);
          prevSpecial = false;
        },
        [&](int32_t id) {
          ids.push_back(id);
          prevSpecial = true;
        });
    appendEos(ids, opt);
    return ids;
  }

  std::string tokenBytes(int32_t id) const override {
    checkId(id);
    size_t i = static_cast<size_t>(id);
    switch (types_[i]) {
    case TokenType::Byte:
      if (byteValue_[i] >= 0)
        return std::string(1, static_cast<char>(byteValue_[i]));
      return pieces_[i];
    case TokenType::Control:
      return pieces_[i];
    case TokenType::Unknown:
      return " \xE2\x81\x87 "; // SentencePiece's unk surface " ⁇ "
    default:
      return unescape(pieces_[i]);
    }
  }
  bool stripsLeadingSpace() const override { return addDummyPrefix_; }

  float score(int32_t id) const {
    checkId(id);
    return scores_[static_cast<size_t>(id)];
  }
  bool addDummyPrefix() const { return addDummyPrefix_; }

private:
  std::vector<float> scores_;
  std::unordered_map<std::string_view, int32_t> pieceToId_;
  std::vector<int16_t> byteValue_; // per id: the byte of a <0xNN> token, else -1
  int32_t byteToId_[256];
  bool addDummyPrefix_ = true;
  bool hasUserDefined_ = false;
  bool hasUnused_ = false;
  bool isolated_[256];

  static bool mergeable(TokenType t) {
    return t == TokenType::Normal || t == TokenType::UserDefined || t == TokenType::Unused;
  }

  static std::string unescape(const std::string &p) {
    std::string out;
    out.reserve(p.size());
    for (size_t i = 0; i < p.size();) {
      if (p.compare(i, kSpaceSymbol.size(), kSpaceSymbol) == 0) {
        out.push_back(' ');
        i += kSpaceSymbol.size();
      } else {
        out.push_back(p[i++]);
      }
    }
    return out;
  }

  static int parseHex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  }

  void build() {
    pieceToId_.reserve(pieces_.size() * 2);
    byteValue_.assign(pieces_.size(), -1);
    for (int &b : byteToId_)
      b = -1;
    for (size_t i = 0; i < pieces_.size(); ++i) {
      const std::string &p = pieces_[i];
      // First occurrence wins, as in SentencePiece.
      pieceToId_.emplace(p, static_cast<int32_t>(i));
      if (types_[i] == TokenType::UserDefined)
        hasUserDefined_ = true;
      if (types_[i] == TokenType::Unused)
        hasUnused_ = true;
      if (types_[i] == TokenType::Byte && p.size() == 6 && p.compare(0, 3, "<0x") == 0 &&
          p[5] == '>') {
        int hi = parseHex(p[3]), lo = parseHex(p[4]);
        if (hi >= 0 && lo >= 0) {
          byteValue_[i] = static_cast<int16_t>(hi * 16 + lo);
          if (byteToId_[hi * 16 + lo] < 0)
            byteToId_[hi * 16 + lo] = static_cast<int32_t>(i);
        }
      }
    }
    indexSpecials({TokenType::Control});
    buildPairs();
    for (int c = 0; c < 128; ++c)
      isolated_[c] = true;
    for (int c = 128; c < 256; ++c)
      isolated_[c] = false; // bytes of multi-byte characters
    isolated_[static_cast<unsigned char>(kSpaceSymbol[0])] = false;
    for (size_t i = 0; i < pieces_.size(); ++i)
      if (mergeable(types_[i]) && pieces_[i].size() > 1)
        for (unsigned char c : pieces_[i])
          if (c < 128)
            isolated_[c] = false;
    if (hasUserDefined_) {
      for (size_t i = 0; i < pieces_.size(); ++i)
        if (types_[i] == TokenType::UserDefined && !pieces_[i].empty())
          userDefined_[static_cast<unsigned char>(pieces_[i][0])].push_back(pieces_[i]);
      for (auto &b : userDefined_)
        std::stable_sort(b.begin(), b.end(),
                         [](std::string_view x, std::string_view y) { return x.size() > y.size(); });
    }
  }
  std::vector<std::string_view> userDefined_[256];
  FlatMap64 pairs_;    // (left id, right id) -> merged mergeable piece id
  int32_t asciiId_[128];

  /// Every way to split each mergeable piece into two vocabulary pieces
  /// (at character boundaries) gives one entry of the pair table.
  void buildPairs() {
    for (int c = 0; c < 128; ++c) {
      char ch = static_cast<char>(c);
      asciiId_[c] = lookup(std::string_view(&ch, 1));
    }
    for (size_t i = 0; i < pieces_.size(); ++i) {
      const std::string &p = pieces_[i];
      if (lookup(p) != static_cast<int32_t>(i) || !mergeable(types_[i]))
        continue; // a later duplicate, or not a merge target
      const auto *u = reinterpret_cast<const unsigned char *>(p.data());
      for (size_t k = 0; k < p.size();) {
        size_t n = unicode::utf8SequenceLength(u + k, p.size() - k);
        k += n ? n : 1;
        if (k >= p.size())
          break;
        int32_t l = lookup(std::string_view(p.data(), k));
        int32_t r = lookup(std::string_view(p.data() + k, p.size() - k));
        if (l >= 0 && r >= 0)
          pairs_.insert(packPair(l, r), static_cast<uint64_t>(i));
      }
    }
  }

  struct Symbol {
    int32_t prev, next;
    uint32_t start, len;
    int32_t id; // vocabulary id of the symbol's text, -1 if none
  };
  struct Bigram {
    int32_t left, right;
    float score;
    uint32_t size;
    int32_t id; // the merged piece
  };
  struct Scratch { // buffers reused across the chunks of one encode() call
    std::string norm;
    std::vector<Symbol> sym;
    std::vector<Bigram> agenda;
  };
  struct BigramLess {
    bool operator()(const Bigram &a, const Bigram &b) const {
      return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
  };

  int32_t lookup(std::string_view s) const {
    auto it = pieceToId_.find(s);
    return it == pieceToId_.end() ? -1 : it->second;
  }

  void encodeSegment(std::string_view text, bool dummyPrefix, std::vector<int32_t> &out,
                     Scratch &scratch) const {
    if (text.empty())
      return;
    // 1. Normalize.
    std::string &norm = scratch.norm;
    norm.clear();
    norm.reserve(text.size() + text.size() / 2 + 3);
    if (dummyPrefix)
      norm.append(kSpaceSymbol);
    const auto *u = reinterpret_cast<const unsigned char *>(text.data());
    for (size_t i = 0; i < text.size();) {
      if (u[i] == ' ') {
        norm.append(kSpaceSymbol);
        ++i;
        continue;
      }
      size_t n = unicode::utf8SequenceLength(u + i, text.size() - i);
      if (n == 0) {
        norm.append("\xEF\xBF\xBD");
        ++i;
      } else {
        norm.append(text.data() + i, n);
        i += n;
      }
    }
    // ASCII characters that occur in no multi-character mergeable piece
    // (e.g. '\n' for LLaMA-2) can never merge: BPE on the runs between them
    // gives exactly the same result as on the whole string, with far smaller
    // queues.
    size_t begin = 0;
    for (size_t i = 0; i < norm.size(); ++i) {
      if (!isolated_[static_cast<unsigned char>(norm[i])])
        continue;
      bpeChunk(norm, begin, i, out, scratch);
      bpeChunk(norm, i, i + 1, out, scratch);
      begin = i + 1;
    }
    bpeChunk(norm, begin, norm.size(), out, scratch);
  }

  void bpeChunk(const std::string &norm, size_t begin, size_t end, std::vector<int32_t> &out,
                Scratch &scratch) const {
    if (begin >= end)
      return;
    // 2. Characters (user-defined pieces whole), with their ids (-1 if not
    //    in the vocabulary).
    std::vector<Symbol> &sym = scratch.sym;
    sym.clear();
    const auto *nu = reinterpret_cast<const unsigned char *>(norm.data());
    for (size_t i = begin; i < end;) {
      size_t n = 0;
      if (hasUserDefined_) {
        for (std::string_view p : userDefined_[nu[i]])
          if (p.size() <= end - i && norm.compare(i, p.size(), p) == 0) {
            n = p.size();
            break;
          }
      }
      if (n == 0) {
        n = unicode::utf8SequenceLength(nu + i, end - i);
        if (n == 0)
          n = 1; // cannot happen after normalization
      }
      int32_t id = (n == 1 && nu[i] < 128) ? asciiId_[nu[i]]
                                           : lookup(std::string_view(norm.data() + i, n));
      int32_t idx = static_cast<int32_t>(sym.size());
      sym.push_back(
          Symbol{idx - 1, idx + 1, static_cast<uint32_t>(i), static_cast<uint32_t>(n), id});
      i += n;
    }
    sym.back().next = -1;
    // 3. Score-driven merges. A pair of known pieces is looked up in the
    //    precomputed pair table; pairs involving an unknown character fall
    //    back to looking up the concatenated string.
    std::vector<Bigram> &agenda = scratch.agenda;
    agenda.clear();
    BigramLess less;
    std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> revMerge;
    auto tryAdd = [&](int32_t l, int32_t r) {
      if (l < 0 || r < 0)
        return;
      int32_t id;
      if (sym[l].id >= 0 && sym[r].id >= 0) {
        const uint64_t *v = pairs_.find(packPair(sym[l].id, sym[r].id));
        if (!v)
          return;
        id = static_cast<int32_t>(*v);
      } else {
        id = lookup(std::string_view(norm.data() + sym[l].start, sym[l].len + sym[r].len));
        if (id < 0 || !mergeable(types_[id]))
          return;
      }
      agenda.push_back(Bigram{l, r, scores_[id], sym[l].len + sym[r].len, id});
      std::push_heap(agenda.begin(), agenda.end(), less);
      if (hasUnused_ && types_[id] == TokenType::Unused)
        revMerge[std::string_view(norm.data() + sym[l].start, sym[l].len + sym[r].len)] = {
            std::string_view(norm.data() + sym[l].start, sym[l].len),
            std::string_view(norm.data() + sym[r].start, sym[r].len)};
    };
    for (size_t i = 1; i < sym.size(); ++i)
      tryAdd(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));
    while (!agenda.empty()) {
      std::pop_heap(agenda.begin(), agenda.end(), less);
      Bigram b = agenda.back();
      agenda.pop_back();
      Symbol &l = sym[b.left];
      Symbol &r = sym[b.right];
      if (l.len == 0 || r.len == 0 || l.len + r.len != b.size)
        continue;
      l.len += r.len;
      l.id = b.id;
      r.len = 0;
      l.next = r.next;
      if (r.next >= 0)
        sym[r.next].prev = b.left;
      tryAdd(l.prev, b.left);
      tryAdd(b.left, l.next);
    }
    // 4. Output: unused pieces are re-split, unknown symbols fall back to bytes.
    for (int32_t i = 0; i >= 0; i = sym[i].next) {
      if (sym[i].id >= 0 && types_[sym[i].id] != TokenType::Unused)
        out.push_back(sym[i].id);
      else
        emitSlow(std::string_view(norm.data() + sym[i].start, sym[i].len), revMerge, out);
    }
  }

  void emitSlow(std::string_view w,
                const std::unordered_map<std::string_view,
                                         std::pair<std::string_view, std::string_view>> &revMerge,
                std::vector<int32_t> &out) const {
    int32_t id = lookup(w);
    if (id >= 0 && types_[id] == TokenType::Unused) {
      auto it = revMerge.find(w);
      if (it != revMerge.end()) {
        emitSlow(it->second.first, revMerge, out);
        emitSlow(it->second.second, revMerge, out);
        return;
      }
    }
    if (id >= 0) {
      out.push_back(id);
      return;
    }
    bool haveBytes = true;
    for (unsigned char c : w)
      haveBytes = haveBytes && byteToId_[c] >= 0;
    if (!haveBytes) {
      if (unk_ < 0)
        throw std::runtime_error("SentencePieceBPE: '" + std::string(w) +
                                 "' is not in the vocabulary, which has neither byte "
                                 "tokens nor an unknown token");
      out.push_back(unk_);
      return;
    }
    for (unsigned char c : w)
      out.push_back(byteToId_[c]);
  }
};

} // namespace buddy

#endif // BUDDY_TOKENIZER_SENTENCEPIECEBPE_H
