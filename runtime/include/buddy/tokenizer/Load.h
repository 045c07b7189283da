// Picks and builds the tokenizer a GGUF file describes.
#ifndef BUDDY_TOKENIZER_LOAD_H
#define BUDDY_TOKENIZER_LOAD_H

#include <memory>
#include <stdexcept>
#include <string>

#include "buddy/gguf/GGUFReader.h"
#include "buddy/tokenizer/ByteLevelBPE.h"
#include "buddy/tokenizer/SentencePieceBPE.h"

namespace buddy {

/// tokenizer.ggml.model "llama" -> SentencePieceBPE, "gpt2" -> ByteLevelBPE.
inline std::unique_ptr<Tokenizer> loadTokenizer(const gguf::GGUFReader &r) {
  std::string model = r.getString("tokenizer.ggml.model", "");
  if (model == "llama")
    return SentencePieceBPE::fromGGUF(r);
  if (model == "gpt2")
    return ByteLevelBPE::fromGGUF(r);
  if (model.empty())
    throw std::runtime_error("tokenizer: '" + r.path() + "' has no tokenizer.ggml.model");
  throw std::runtime_error("tokenizer: '" + r.path() + "' uses tokenizer model '" + model +
                           "'; supported: llama (SentencePiece BPE), gpt2 (byte-level BPE)");
}

inline std::unique_ptr<Tokenizer> loadTokenizer(const std::string &ggufPath) {
  gguf::GGUFReader r(ggufPath);
  return loadTokenizer(r);
}

} // namespace buddy

#endif // BUDDY_TOKENIZER_LOAD_H
