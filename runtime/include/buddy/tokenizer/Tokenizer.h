// The interface shared by Buddy's tokenizers (SentencePieceBPE, ByteLevelBPE).
#ifndef BUDDY_TOKENIZER_TOKENIZER_H
#define BUDDY_TOKENIZER_TOKENIZER_H

#include <algorithm>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace buddy {

/// GGUF's `tokenizer.ggml.token_type` values (llama.cpp's llama_token_type,
/// SentencePiece's ModelProto.SentencePiece.Type use the same numbering).
enum class TokenType : int32_t {
  Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6,
};

struct EncodeOptions {
  bool addBos = false;
  bool addEos = false;
  /// Match the text of control / user-defined tokens (e.g. "<|im_start|>")
  /// in the input and emit their ids instead of tokenizing their characters.
  bool parseSpecial = false;
};

class Tokenizer {
public:
  virtual ~Tokenizer() = default;

  virtual std::vector<int32_t> encode(std::string_view text, const EncodeOptions &opt) const = 0;
  std::vector<int32_t> encode(std::string_view text, bool addBos = false) const {
    EncodeOptions o;
    o.addBos = addBos;
    return encode(text, o);
  }

  /// The raw bytes token `id` stands for in decoded text (not necessarily
  /// valid UTF-8 on its own: byte tokens and byte-level pieces can split a
  /// character). Control tokens give their literal text.
  virtual std::string tokenBytes(int32_t id) const = 0;
  /// True when decoding drops one leading space of the first text token
  /// (SentencePiece's dummy prefix).
  virtual bool stripsLeadingSpace() const { return false; }

  /// Decodes ids to bytes. Control tokens (BOS/EOS/...) are skipped unless
  /// `keepSpecial`. Invalid UTF-8 is returned as is.
  std::string decode(const std::vector<int32_t> &ids, bool keepSpecial = false) const {
    std::string out;
    bool first = true;
    for (int32_t id : ids) {
      checkId(id);
      if (!keepSpecial && isControl(id))
        continue;
      std::string piece = tokenBytes(id);
      if (first && stripsLeadingSpace() && !isControl(id) && !piece.empty() && piece[0] == ' ')
        piece.erase(0, 1);
      if (!isControl(id))
        first = false;
      out += piece;
    }
    return out;
  }

  size_t vocabSize() const { return pieces_.size(); }
  int32_t bosId() const { return bos_; }
  int32_t eosId() const { return eos_; }
  int32_t unkId() const { return unk_; }
  const std::string &piece(int32_t id) const {
    checkId(id);
    return pieces_[static_cast<size_t>(id)];
  }
  TokenType tokenType(int32_t id) const {
    checkId(id);
    return types_[static_cast<size_t>(id)];
  }
  bool isControl(int32_t id) const { return tokenType(id) == TokenType::Control; }
  /// Whether the model's metadata asks for BOS / EOS by default.
  bool defaultAddBos() const { return addBosDefault_; }
  bool defaultAddEos() const { return addEosDefault_; }

  void checkId(int32_t id) const {
    if (id < 0 || static_cast<size_t>(id) >= pieces_.size())
      throw std::out_of_range("tokenizer: token id " + std::to_string(id) +
                              " is out of range [0, " + std::to_string(pieces_.size()) + ")");
  }

protected:
  std::vector<std::string> pieces_;
  std::vector<TokenType> types_;
  int32_t bos_ = -1, eos_ = -1, unk_ = -1;
  bool addBosDefault_ = false, addEosDefault_ = false;

  // Texts of the tokens that parseSpecial matches, bucketed by first byte,
  // longest first (leftmost-longest matching).
  std::vector<std::pair<std::string_view, int32_t>> specialsByByte_[256];

  /// Call after pieces_/types_ are final: indexes tokens of the given types.
  void indexSpecials(std::initializer_list<TokenType> kinds) {
    for (auto &b : specialsByByte_)
      b.clear();
    for (size_t i = 0; i < pieces_.size(); ++i) {
      if (pieces_[i].empty())
        continue;
      if (std::find(kinds.begin(), kinds.end(), types_[i]) == kinds.end())
        continue;
      specialsByByte_[static_cast<unsigned char>(pieces_[i][0])].emplace_back(
          pieces_[i], static_cast<int32_t>(i));
    }
    for (auto &b : specialsByByte_)
      std::stable_sort(b.begin(), b.end(), [](const auto &x, const auto &y) {
        return x.first.size() > y.first.size();
      });
  }

  /// Splits `text` at the special tokens it contains (if `parse`), calling
  /// onText(segment) for the plain runs and onSpecial(id) for the tokens.
  void splitSpecial(std::string_view text, bool parse,
                    const std::function<void(std::string_view)> &onText,
                    const std::function<void(int32_t)> &onSpecial) const {
    if (!parse) {
      if (!text.empty())
        onText(text);
      return;
    }
    size_t runStart = 0, i = 0;
    while (i < text.size()) {
      const auto &cands = specialsByByte_[static_cast<unsigned char>(text[i])];
      int32_t hit = -1;
      size_t hitLen = 0;
      for (const auto &c : cands)
        if (text.compare(i, c.first.size(), c.first) == 0) {
          hit = c.second;
          hitLen = c.first.size();
          break;
        }
      if (hit < 0) {
        ++i;
        continue;
      }
      if (i > runStart)
        onText(text.substr(runStart, i - runStart));
      onSpecial(hit);
      i += hitLen;
      runStart = i;
    }
    if (runStart < text.size())
      onText(text.substr(runStart));
  }

  void appendBos(std::vector<int32_t> &ids, const EncodeOptions &o) const {
    if (o.addBos) {
      if (bos_ < 0)
        throw std::runtime_error("tokenizer: add_bos requested but the vocabulary has no BOS token");
      ids.push_back(bos_);
    }
  }
  void appendEos(std::vector<int32_t> &ids, const EncodeOptions &o) const {
    if (o.addEos) {
      if (eos_ < 0)
        throw std::runtime_error("tokenizer: add_eos requested but the vocabulary has no EOS token");
      ids.push_back(eos_);
    }
  }
};

} // namespace buddy

#endif // BUDDY_TOKENIZER_TOKENIZER_H
