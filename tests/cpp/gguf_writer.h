// gguf_writer.h - builds small GGUF v3 files in memory for the C++ tests of
// buddy::gguf::GGUFReader and the tokenizers (test_gguf.cpp, test_tokenizer.cpp).
#ifndef BUDDY_TESTS_GGUF_WRITER_H
#define BUDDY_TESTS_GGUF_WRITER_H

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

namespace buddy_test {

class GGUFWriter {
public:
  explicit GGUFWriter(uint32_t alignment = 32) : alignment_(alignment) {}

  void u8(const std::string &k, uint8_t v) { key(k, 0); put(v); }
  void i8(const std::string &k, int8_t v) { key(k, 1); put(v); }
  void u16(const std::string &k, uint16_t v) { key(k, 2); put(v); }
  void i16(const std::string &k, int16_t v) { key(k, 3); put(v); }
  void u32(const std::string &k, uint32_t v) { key(k, 4); put(v); }
  void i32(const std::string &k, int32_t v) { key(k, 5); put(v); }
  void f32(const std::string &k, float v) { key(k, 6); put(v); }
  void boolean(const std::string &k, bool v) { key(k, 7); put(static_cast<uint8_t>(v)); }
  void str(const std::string &k, const std::string &v) { key(k, 8); putStr(v); }
  void u64(const std::string &k, uint64_t v) { key(k, 10); put(v); }
  void i64(const std::string &k, int64_t v) { key(k, 11); put(v); }
  void f64(const std::string &k, double v) { key(k, 12); put(v); }
  void strings(const std::string &k, const std::vector<std::string> &v) {
    key(k, 9);
    put(uint32_t{8});
    put(static_cast<uint64_t>(v.size()));
    for (const auto &s : v)
      putStr(s);
  }
  /// An array of `count` elements of type `et` whose encoded elements are
  /// `elems` as is (any element type, including nested arrays: et = 9).
  void rawArray(const std::string &k, uint32_t et, uint64_t count, const std::vector<uint8_t> &elems) {
    key(k, 9);
    put(et);
    put(count);
    kv_.insert(kv_.end(), elems.begin(), elems.end());
  }
  void f32s(const std::string &k, const std::vector<float> &v) { array(k, 6, v); }
  void i32s(const std::string &k, const std::vector<int32_t> &v) { array(k, 5, v); }

  /// A tensor with GGUF shape `shape` (fastest-varying first) and raw bytes.
  void tensor(const std::string &name, const std::vector<uint64_t> &shape, uint32_t type,
              const std::vector<uint8_t> &bytes) {
    tensors_.push_back({name, shape, type, bytes});
  }

  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> out;
    auto app = [&](const void *p, size_t n) {
      out.insert(out.end(), static_cast<const uint8_t *>(p), static_cast<const uint8_t *>(p) + n);
    };
    app("GGUF", 4);
    uint32_t version = 3;
    app(&version, 4);
    uint64_t nt = tensors_.size(), nkv = numKV_;
    app(&nt, 8);
    app(&nkv, 8);
    out.insert(out.end(), kv_.begin(), kv_.end());
    uint64_t offset = 0;
    std::vector<uint64_t> offsets;
    for (const auto &t : tensors_) {
      uint64_t n = t.name.size();
      app(&n, 8);
      app(t.name.data(), n);
      uint32_t nd = static_cast<uint32_t>(t.shape.size());
      app(&nd, 4);
      for (uint64_t d : t.shape)
        app(&d, 8);
      app(&t.type, 4);
      app(&offset, 8);
      offsets.push_back(offset);
      offset += t.bytes.size();
      offset = (offset + alignment_ - 1) / alignment_ * alignment_;
    }
    while (out.size() % alignment_)
      out.push_back(0);
    size_t dataStart = out.size();
    for (size_t i = 0; i < tensors_.size(); ++i) {
      out.resize(dataStart + offsets[i]);
      app(tensors_[i].bytes.data(), tensors_[i].bytes.size());
    }
    return out;
  }

  static void writeFile(const std::string &path, const std::vector<uint8_t> &b) {
    FILE *f = std::fopen(path.c_str(), "wb");
    if (!f)
      throw std::runtime_error("cannot write " + path);
    if (!b.empty())
      std::fwrite(b.data(), 1, b.size(), f);
    std::fclose(f);
  }
  void write(const std::string &path) const { writeFile(path, bytes()); }

private:
  struct Tensor {
    std::string name;
    std::vector<uint64_t> shape;
    uint32_t type;
    std::vector<uint8_t> bytes;
  };
  uint32_t alignment_;
  std::vector<uint8_t> kv_;
  uint64_t numKV_ = 0;
  std::vector<Tensor> tensors_;

  template <typename T> void put(T v) {
    uint8_t b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    kv_.insert(kv_.end(), b, b + sizeof(T));
  }
  void putStr(const std::string &s) {
    put(static_cast<uint64_t>(s.size()));
    kv_.insert(kv_.end(), s.begin(), s.end());
  }
  void key(const std::string &k, uint32_t type) {
    ++numKV_;
    putStr(k);
    put(type);
  }
  template <typename T> void array(const std::string &k, uint32_t et, const std::vector<T> &v) {
    key(k, 9);
    put(et);
    put(static_cast<uint64_t>(v.size()));
    for (T x : v)
      put(x);
  }
};

/// A scratch path under $TMPDIR for this test process.
inline std::string tempPath(const std::string &name) {
  const char *dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/buddy_test_" + std::to_string(::getpid()) +
         "_" + name;
}

} // namespace buddy_test

#endif // BUDDY_TESTS_GGUF_WRITER_H
