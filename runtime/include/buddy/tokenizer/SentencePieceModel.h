// Reads a SentencePiece `.model` file (a serialized sentencepiece.ModelProto)
// into a SentencePieceBPE tokenizer. Only what LLaMA-2 style BPE models use is
// supported; any other setting is rejected with an error naming the file.
//
// Protobuf fields read (sentencepiece_model.proto):
//   ModelProto:     1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec
//   SentencePiece:  1 piece (string), 2 score (float), 3 type (enum, default NORMAL)
//   TrainerSpec:    3 model_type (BPE = 2), 24 treat_whitespace_as_suffix,
//                   35 byte_fallback, 40 unk_id, 41 bos_id, 42 eos_id
//   NormalizerSpec: 2 precompiled_charsmap, 3 add_dummy_prefix,
//                   4 remove_extra_whitespaces, 5 escape_whitespaces
#ifndef BUDDY_TOKENIZER_SENTENCEPIECEMODEL_H
#define BUDDY_TOKENIZER_SENTENCEPIECEMODEL_H

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "buddy/tokenizer/SentencePieceBPE.h"

namespace buddy {
namespace detail {

/// A bounds-checked reader of protobuf wire format.
class ProtoReader {
public:
  ProtoReader(std::string_view data, const std::string &file, size_t base = 0)
      : d_(data), file_(file), base_(base) {}
  bool done() const { return pos_ >= d_.size(); }

  /// Reads a field key; returns false at the end of the message.
  bool next(uint32_t &field, uint32_t &wire) {
    if (done())
      return false;
    uint64_t key = varint();
    field = static_cast<uint32_t>(key >> 3);
    wire = static_cast<uint32_t>(key & 7);
    if (field == 0)
      fail("field number 0");
    return true;
  }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= d_.size())
        fail("truncated varint");
      uint8_t b = static_cast<uint8_t>(d_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80))
        return v;
    }
    fail("varint longer than 10 bytes");
  }
  std::string_view bytes() {
    uint64_t n = varint();
    if (n > d_.size() - pos_)
      fail("length " + std::to_string(n) + " runs past the end");
    std::string_view s = d_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  float fixed32f() {
    if (d_.size() - pos_ < 4)
      fail("truncated fixed32");
    float f;
    std::memcpy(&f, d_.data() + pos_, 4);
    pos_ += 4;
    return f;
  }
  void skip(uint32_t wire) {
    switch (wire) {
    case 0: varint(); break;
    case 1:
      if (d_.size() - pos_ < 8) fail("truncated fixed64");
      pos_ += 8;
      break;
    case 2: bytes(); break;
    case 5:
      if (d_.size() - pos_ < 4) fail("truncated fixed32");
      pos_ += 4;
      break;
    default: fail("unsupported wire type " + std::to_string(wire));
    }
  }
  void expect(uint32_t wire, uint32_t want, const char *what) {
    if (wire != want)
      fail(std::string(what) + " has wire type " + std::to_string(wire));
  }
  size_t offset() const { return base_ + pos_; }
  ProtoReader sub(std::string_view s) const {
    return ProtoReader(s, file_, base_ + static_cast<size_t>(s.data() - d_.data()));
  }
  [[noreturn]] void fail(const std::string &what) const {
    throw std::runtime_error("SentencePiece model '" + file_ + "' at offset " +
                             std::to_string(base_ + pos_) + ": " + what);
  }

private:
  std::string_view d_;
  const std::string &file_;
  size_t base_;
  size_t pos_ = 0;
};

} // namespace detail

/// Builds the tokenizer from a serialized ModelProto held in `data`.
inline std::unique_ptr<SentencePieceBPE> sentencePieceFromProto(std::string_view data,
                                                                const std::string &file) {
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<TokenType> types;
  int64_t modelType = 1; // UNIGRAM is the proto default
  bool byteFallback = false, suffix = false;
  int32_t unk = 0, bos = 1, eos = 2;
  bool dummyPrefix = true, removeExtra = true, escape = true;
  std::string charsmap;

  detail::ProtoReader top(data, file);
  uint32_t field, wire;
  while (top.next(field, wire)) {
    if (field == 1) {
      top.expect(wire, 2, "ModelProto.pieces");
      detail::ProtoReader p = top.sub(top.bytes());
      std::string piece;
      float score = 0.0f;
      int64_t type = 1;
      uint32_t f2, w2;
      while (p.next(f2, w2)) {
        if (f2 == 1) {
          p.expect(w2, 2, "SentencePiece.piece");
          piece = std::string(p.bytes());
        } else if (f2 == 2) {
          p.expect(w2, 5, "SentencePiece.score");
          score = p.fixed32f();
        } else if (f2 == 3) {
          p.expect(w2, 0, "SentencePiece.type");
          type = static_cast<int64_t>(p.varint());
          if (type < 1 || type > 6)
            p.fail("piece " + std::to_string(pieces.size()) + " has unknown type " +
                   std::to_string(type));
        } else {
          p.skip(w2);
        }
      }
      pieces.push_back(std::move(piece));
      scores.push_back(score);
      types.push_back(static_cast<TokenType>(type));
    } else if (field == 2) {
      top.expect(wire, 2, "ModelProto.trainer_spec");
      detail::ProtoReader t = top.sub(top.bytes());
      uint32_t f2, w2;
      while (t.next(f2, w2)) {
        if (w2 != 0) {
          t.skip(w2);
          continue;
        }
        uint64_t v = t.varint();
        switch (f2) {
        case 3: modelType = static_cast<int64_t>(v); break;
        case 24: suffix = v != 0; break;
        case 35: byteFallback = v != 0; break;
        case 40: unk = static_cast<int32_t>(v); break;
        case 41: bos = static_cast<int32_t>(v); break;
        case 42: eos = static_cast<int32_t>(v); break;
        default: break;
        }
      }
    } else if (field == 3) {
      top.expect(wire, 2, "ModelProto.normalizer_spec");
      detail::ProtoReader n = top.sub(top.bytes());
      uint32_t f2, w2;
      while (n.next(f2, w2)) {
        if (f2 == 2 && w2 == 2) {
          charsmap = std::string(n.bytes());
        } else if (w2 == 0 && (f2 == 3 || f2 == 4 || f2 == 5)) {
          bool v = n.varint() != 0;
          (f2 == 3 ? dummyPrefix : f2 == 4 ? removeExtra : escape) = v;
        } else {
          n.skip(w2);
        }
      }
    } else {
      top.skip(wire);
    }
  }
  auto unsupported = [&](const std::string &what) {
    return std::runtime_error("SentencePiece model '" + file + "': " + what +
                              " is not supported (Buddy reads LLaMA-2 style BPE models)");
  };
  if (pieces.empty())
    throw std::runtime_error("SentencePiece model '" + file + "' has no pieces");
  if (modelType != 2)
    throw unsupported("model_type " + std::to_string(modelType) + " (only BPE = 2)");
  if (!byteFallback)
    throw unsupported("byte_fallback = false");
  if (suffix)
    throw unsupported("treat_whitespace_as_suffix");
  if (removeExtra)
    throw unsupported("remove_extra_whitespaces = true");
  if (!escape)
    throw unsupported("escape_whitespaces = false");
  if (!charsmap.empty())
    throw unsupported("a precompiled normalization charsmap");
  try {
    return std::make_unique<SentencePieceBPE>(std::move(pieces), std::move(scores),
                                              std::move(types), bos, eos, unk, dummyPrefix);
  } catch (const std::runtime_error &e) {
    throw std::runtime_error(std::string(e.what()) + " (in '" + file + "')");
  }
}

/// Reads a `.model` file.
inline std::unique_ptr<SentencePieceBPE> loadSentencePieceModel(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    throw std::runtime_error("SentencePiece model '" + path + "': cannot open");
  std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return sentencePieceFromProto(data, path);
}

} // namespace buddy

#endif // BUDDY_TOKENIZER_SENTENCEPIECEMODEL_H
