// Text: a string together with its token ids, and a streaming decoder that
// only ever emits complete UTF-8.
#ifndef BUDDY_TEXT_H
#define BUDDY_TEXT_H

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "buddy/tokenizer/Load.h"
#include "buddy/tokenizer/Tokenizer.h"
#include "buddy/tokenizer/Unicode.h"

namespace buddy {

class Text {
public:
  Text() = default;
  explicit Text(std::string str) : str_(std::move(str)) {}
  explicit Text(std::vector<int32_t> ids) : ids_(std::move(ids)) {}

  const std::string &str() const { return str_; }
  const std::vector<int32_t> &tokens() const { return ids_; }
  size_t numTokens() const { return ids_.size(); }
  void setString(std::string s) { str_ = std::move(s); }
  void setTokens(std::vector<int32_t> ids) { ids_ = std::move(ids); }
  void appendToken(int32_t id) { ids_.push_back(id); }

  /// tokens() = tokenizer.encode(str()).
  const std::vector<int32_t> &tokenize(const Tokenizer &tok, const EncodeOptions &opt) {
    ids_ = tok.encode(str_, opt);
    return ids_;
  }
  const std::vector<int32_t> &tokenize(const Tokenizer &tok, bool addBos = true) {
    EncodeOptions o;
    o.addBos = addBos;
    return tokenize(tok, o);
  }
  /// str() = tokenizer.decode(tokens()), special tokens dropped.
  const std::string &detokenize(const Tokenizer &tok) {
    str_ = tok.decode(ids_);
    return str_;
  }

private:
  std::string str_;
  std::vector<int32_t> ids_;
};

/// Turns a stream of token ids into text pieces that are always complete,
/// valid UTF-8: bytes of a character split across tokens are held back until
/// the character is complete. Malformed bytes become U+FFFD. Special
/// (control) tokens are skipped unless `keepSpecial`.
class StreamDecoder {
public:
  explicit StreamDecoder(const Tokenizer &tok, bool keepSpecial = false)
      : tok_(tok), keepSpecial_(keepSpecial) {}

  /// Feeds one token; returns the text that became complete (may be empty).
  std::string push(int32_t id) {
    tok_.checkId(id);
    bool control = tok_.isControl(id);
    if (control && !keepSpecial_)
      return {};
    std::string piece = tok_.tokenBytes(id);
    if (first_ && !control && tok_.stripsLeadingSpace() && !piece.empty() && piece[0] == ' ')
      piece.erase(0, 1);
    if (!control)
      first_ = false;
    pending_ += piece;
    return drain(false);
  }
  /// Emits what is left (an incomplete character becomes U+FFFD).
  std::string flush() { return drain(true); }
  /// Bytes held back waiting for the rest of a character.
  size_t pendingBytes() const { return pending_.size(); }
  void reset() {
    pending_.clear();
    first_ = true;
  }

private:
  const Tokenizer &tok_;
  bool keepSpecial_;
  bool first_ = true;
  std::string pending_;

  std::string drain(bool final) {
    std::string out;
    const auto *u = reinterpret_cast<const unsigned char *>(pending_.data());
    size_t n = pending_.size(), i = 0;
    while (i < n) {
      size_t len = unicode::utf8SequenceLength(u + i, n - i);
      if (len > 0) {
        out.append(pending_, i, len);
        i += len;
        continue;
      }
      size_t inc = unicode::utf8IncompletePrefix(u + i, n - i);
      if (inc > 0 && i + inc == n && !final)
        break; // wait for the rest of this character
      out.append("\xEF\xBF\xBD");
      i += inc > 0 ? inc : 1;
    }
    pending_.erase(0, i);
    return out;
  }
};

} // namespace buddy

#endif // BUDDY_TEXT_H
