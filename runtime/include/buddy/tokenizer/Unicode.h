// UTF-8 decoding/encoding and the Unicode classes the pre-tokenizers need.
#ifndef BUDDY_TOKENIZER_UNICODE_H
#define BUDDY_TOKENIZER_UNICODE_H

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "buddy/tokenizer/UnicodeTables.h"

namespace buddy {
namespace unicode {

/// Returned by decodeUtf8 for a malformed sequence (which is then 1 byte long).
inline constexpr uint32_t kInvalid = 0xFFFFFFFFu;

/// Length of the well-formed UTF-8 sequence at s[pos] (1..4), or 0 if the
/// bytes there do not start a well-formed sequence (including a truncated one).
inline size_t utf8SequenceLength(const unsigned char *s, size_t n) {
  if (n == 0)
    return 0;
  unsigned char b = s[0];
  if (b < 0x80)
    return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF; // allowed range of the second byte
  if (b >= 0xC2 && b <= 0xDF) {
    len = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    len = 3;
    if (b == 0xE0) lo = 0xA0;       // no overlongs
    else if (b == 0xED) hi = 0x9F;  // no surrogates
  } else if (b >= 0xF0 && b <= 0xF4) {
    len = 4;
    if (b == 0xF0) lo = 0x90;
    else if (b == 0xF4) hi = 0x8F;  // <= U+10FFFF
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  if (s[1] < lo || s[1] > hi)
    return 0;
  for (size_t i = 2; i < len; ++i)
    if ((s[i] & 0xC0) != 0x80)
      return 0;
  return len;
}

/// How many bytes at s[0..n) form a valid but incomplete prefix of a UTF-8
/// sequence (0 if they are not such a prefix). Used by the stream decoder.
inline size_t utf8IncompletePrefix(const unsigned char *s, size_t n) {
  if (n == 0)
    return 0;
  unsigned char b = s[0];
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) len = 2;
  else if (b >= 0xE0 && b <= 0xEF) {
    len = 3;
    if (b == 0xE0) lo = 0xA0;
    else if (b == 0xED) hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    len = 4;
    if (b == 0xF0) lo = 0x90;
    else if (b == 0xF4) hi = 0x8F;
  } else
    return 0;
  if (n >= len)
    return 0;
  if (n >= 2 && (s[1] < lo || s[1] > hi))
    return 0;
  for (size_t i = 2; i < n; ++i)
    if ((s[i] & 0xC0) != 0x80)
      return 0;
  return n;
}

/// Decodes the code point at s[0..n); sets `len` to the bytes consumed.
/// Malformed input yields kInvalid with len 1.
inline uint32_t decodeUtf8(const unsigned char *s, size_t n, size_t &len) {
  len = utf8SequenceLength(s, n);
  switch (len) {
  case 1: return s[0];
  case 2: return ((s[0] & 0x1Fu) << 6) | (s[1] & 0x3Fu);
  case 3: return ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
  case 4:
    return ((s[0] & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) |
           (s[3] & 0x3Fu);
  default:
    len = 1;
    return kInvalid;
  }
}

inline void appendUtf8(std::string &out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

template <size_t N> inline bool inRanges(const CodepointRange (&rs)[N], uint32_t cp) {
  const CodepointRange *end = rs + N;
  const CodepointRange *it =
      std::upper_bound(rs, end, cp, [](uint32_t c, const CodepointRange &r) { return c < r.first; });
  return it != rs && cp <= (it - 1)->last;
}

/// Character classes of the pre-tokenizer regexes.
enum CharClass : uint8_t { kOther = 0, kLetter = 1, kNumber = 2, kSpace = 3 };

/// Classification by the range tables (binary search).
inline CharClass classifySlow(uint32_t cp) {
  if (cp == kInvalid) return kOther;
  if (inRanges(kLetterRanges, cp)) return kLetter;
  if (inRanges(kNumberRanges, cp)) return kNumber;
  if (inRanges(kWhiteSpaceRanges, cp)) return kSpace;
  return kOther;
}

/// Classification with a 64 KiB table for the Basic Multilingual Plane.
inline CharClass classify(uint32_t cp) {
  static const std::vector<uint8_t> bmp = [] {
    std::vector<uint8_t> t(0x10000);
    for (uint32_t c = 0; c < 0x10000; ++c)
      t[c] = classifySlow(c);
    return t;
  }();
  if (cp < 0x10000)
    return static_cast<CharClass>(bmp[cp]);
  return classifySlow(cp);
}

} // namespace unicode
} // namespace buddy

#endif // BUDDY_TOKENIZER_UNICODE_H
