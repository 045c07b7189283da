// A small, bounds-checked reader of GGUF files (versions 2 and 3).
//
// The file is memory-mapped read-only (or a caller's buffer is parsed in
// place). Opening parses the header, every
// metadata key/value pair (scalars, strings and arrays of any element type)
// and every tensor info; string values are views into the mapping. Every read
// is checked against the end of the file: a truncated or corrupt file throws
// std::runtime_error naming the file, the byte offset and what was wrong.
//
// Layout (little-endian): "GGUF" u32 version, u64 tensor_count, u64 kv_count,
// kv_count x {string key, u32 type, value}, tensor_count x {string name,
// u32 n_dims, u64 dims[n_dims], u32 ggml_type, u64 offset}, padding to
// `general.alignment` (default 32), tensor data. A string is u64 length +
// bytes; an array is u32 element type + u64 count + elements.
//
// Tensor data is exposed as pointer + byte size + ggml type; dequantization
// is the model loader's business.
#ifndef BUDDY_GGUF_GGUFREADER_H
#define BUDDY_GGUF_GGUFREADER_H

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace buddy {
namespace gguf {

enum class ValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7,
  String = 8, Array = 9, U64 = 10, I64 = 11, F64 = 12,
};

inline const char *valueTypeName(ValueType t) {
  switch (t) {
  case ValueType::U8: return "u8";
  case ValueType::I8: return "i8";
  case ValueType::U16: return "u16";
  case ValueType::I16: return "i16";
  case ValueType::U32: return "u32";
  case ValueType::I32: return "i32";
  case ValueType::F32: return "f32";
  case ValueType::Bool: return "bool";
  case ValueType::String: return "string";
  case ValueType::Array: return "array";
  case ValueType::U64: return "u64";
  case ValueType::I64: return "i64";
  case ValueType::F64: return "f64";
  }
  return "?";
}

/// Byte size of a scalar value type, 0 for string/array/unknown.
inline size_t scalarSize(ValueType t) {
  switch (t) {
  case ValueType::U8: case ValueType::I8: case ValueType::Bool: return 1;
  case ValueType::U16: case ValueType::I16: return 2;
  case ValueType::U32: case ValueType::I32: case ValueType::F32: return 4;
  case ValueType::U64: case ValueType::I64: case ValueType::F64: return 8;
  default: return 0;
  }
}

/// ggml tensor types: name, elements per block, bytes per block
/// (values as in ggml.h / gguf-py's GGML_QUANT_SIZES).
struct GGMLTypeInfo {
  uint32_t id;
  const char *name;
  uint32_t blockSize;
  uint32_t typeSize;
};

inline const GGMLTypeInfo *ggmlTypeInfo(uint32_t id) {
  static const GGMLTypeInfo table[] = {
      {0, "F32", 1, 4},        {1, "F16", 1, 2},         {2, "Q4_0", 32, 18},
      {3, "Q4_1", 32, 20},     {6, "Q5_0", 32, 22},      {7, "Q5_1", 32, 24},
      {8, "Q8_0", 32, 34},     {9, "Q8_1", 32, 40},      {10, "Q2_K", 256, 84},
      {11, "Q3_K", 256, 110},  {12, "Q4_K", 256, 144},   {13, "Q5_K", 256, 176},
      {14, "Q6_K", 256, 210},  {15, "Q8_K", 256, 292},   {16, "IQ2_XXS", 256, 66},
      {17, "IQ2_XS", 256, 74}, {18, "IQ3_XXS", 256, 98}, {19, "IQ1_S", 256, 50},
      {20, "IQ4_NL", 32, 18},  {21, "IQ3_S", 256, 110},  {22, "IQ2_S", 256, 82},
      {23, "IQ4_XS", 256, 136}, {24, "I8", 1, 1},        {25, "I16", 1, 2},
      {26, "I32", 1, 4},       {27, "I64", 1, 8},        {28, "F64", 1, 8},
      {29, "IQ1_M", 256, 56},  {30, "BF16", 1, 2},       {34, "TQ1_0", 256, 54},
      {35, "TQ2_0", 256, 66},  {39, "MXFP4", 32, 17},
  };
  for (const auto &t : table)
    if (t.id == id)
      return &t;
  return nullptr;
}

/// One metadata value. Strings (and the elements of string arrays) are views
/// into the mapped file; numeric arrays keep a pointer to their raw,
/// possibly unaligned, little-endian elements.
struct Value {
  ValueType type = ValueType::U8;
  ValueType elemType = ValueType::U8; // for arrays
  uint64_t count = 0;                 // for arrays
  const uint8_t *data = nullptr;      // scalar bytes / numeric array elements
  std::string_view str;               // for String
  std::vector<std::string_view> strings; // for arrays of strings

  bool isArray() const { return type == ValueType::Array; }
};

struct TensorInfo {
  std::string_view name;
  std::vector<uint64_t> shape; // GGUF order: shape[0] is the fastest-varying
  uint32_t type = 0;           // ggml type id
  uint64_t offset = 0;         // relative to the start of the data section
  uint64_t numElements = 0;
  uint64_t numBytes = 0;
};

struct TensorData {
  const void *data;
  uint64_t numBytes;
  uint32_t type;
  const TensorInfo *info;
};

class GGUFReader {
public:
  explicit GGUFReader(std::string path) : path_(std::move(path)) {
    int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      throw std::runtime_error("GGUF: cannot open '" + path_ + "': " + std::strerror(errno));
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int e = errno;
      ::close(fd);
      throw std::runtime_error("GGUF: cannot stat '" + path_ + "': " + std::strerror(e));
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void *p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        int e = errno;
        ::close(fd);
        throw std::runtime_error("GGUF: cannot mmap '" + path_ + "': " + std::strerror(e));
      }
      base_ = static_cast<const uint8_t *>(p);
    }
    ::close(fd);
    try {
      parse();
    } catch (...) {
      unmap();
      throw;
    }
  }
  /// Parse a GGUF image held in memory. Nothing is copied: `data` must stay
  /// valid (and unchanged) for the reader's lifetime. `label` stands in for
  /// the path in error messages.
  GGUFReader(const void *data, size_t size, std::string label = "<memory>")
      : path_(std::move(label)), base_(static_cast<const uint8_t *>(data)), size_(size),
        owned_(false) {
    parse();
  }
  ~GGUFReader() { unmap(); }
  GGUFReader(const GGUFReader &) = delete;
  GGUFReader &operator=(const GGUFReader &) = delete;

  const std::string &path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t dataOffset() const { return dataOffset_; }
  size_t fileSize() const { return size_; }

  /// Metadata keys in file order.
  const std::vector<std::string_view> &keys() const { return keyOrder_; }
  bool has(std::string_view key) const { return kv_.count(key) != 0; }
  const Value *find(std::string_view key) const {
    auto it = kv_.find(key);
    return it == kv_.end() ? nullptr : &it->second;
  }
  const Value &get(std::string_view key) const {
    const Value *v = find(key);
    if (!v)
      throw std::runtime_error("GGUF: '" + path_ + "' has no metadata key '" +
                               std::string(key) + "'");
    return *v;
  }

  // --- typed accessors (converting between numeric types when lossless) ---
  std::string_view getString(std::string_view key) const {
    const Value &v = get(key);
    if (v.type != ValueType::String)
      throw typeError(key, "string", v);
    return v.str;
  }
  std::string getString(std::string_view key, std::string_view dflt) const {
    return has(key) ? std::string(getString(key)) : std::string(dflt);
  }
  uint64_t getUInt(std::string_view key) const {
    const Value &v = get(key);
    if (v.isArray() || v.type == ValueType::String || v.type == ValueType::F32 ||
        v.type == ValueType::F64)
      throw typeError(key, "unsigned integer", v);
    int64_t s = readSigned(v.type, v.data);
    if (s < 0 && isSignedType(v.type))
      throw std::runtime_error("GGUF: '" + path_ + "' key '" + std::string(key) +
                               "' is negative (" + std::to_string(s) + ")");
    return readUnsigned(v.type, v.data);
  }
  uint64_t getUInt(std::string_view key, uint64_t dflt) const {
    return has(key) ? getUInt(key) : dflt;
  }
  int64_t getInt(std::string_view key) const {
    const Value &v = get(key);
    if (v.isArray() || v.type == ValueType::String || v.type == ValueType::F32 ||
        v.type == ValueType::F64)
      throw typeError(key, "integer", v);
    return readSigned(v.type, v.data);
  }
  double getFloat(std::string_view key) const {
    const Value &v = get(key);
    if (v.isArray() || v.type == ValueType::String)
      throw typeError(key, "number", v);
    return readDouble(v.type, v.data);
  }
  bool getBool(std::string_view key) const {
    const Value &v = get(key);
    if (v.type != ValueType::Bool)
      throw typeError(key, "bool", v);
    return v.data[0] != 0;
  }
  bool getBool(std::string_view key, bool dflt) const {
    return has(key) ? getBool(key) : dflt;
  }
  const std::vector<std::string_view> &getStringArray(std::string_view key) const {
    const Value &v = get(key);
    if (!v.isArray() || v.elemType != ValueType::String)
      throw typeError(key, "array of strings", v);
    return v.strings;
  }
  std::vector<double> getFloatArray(std::string_view key) const {
    const Value &v = numericArray(key);
    std::vector<double> out(v.count);
    size_t es = scalarSize(v.elemType);
    for (uint64_t i = 0; i < v.count; ++i)
      out[i] = readDouble(v.elemType, v.data + i * es);
    return out;
  }
  std::vector<int64_t> getIntArray(std::string_view key) const {
    const Value &v = numericArray(key);
    if (v.elemType == ValueType::F32 || v.elemType == ValueType::F64)
      throw typeError(key, "array of integers", v);
    std::vector<int64_t> out(v.count);
    size_t es = scalarSize(v.elemType);
    for (uint64_t i = 0; i < v.count; ++i)
      out[i] = readSigned(v.elemType, v.data + i * es);
    return out;
  }

  // --- tensors ---
  const std::vector<TensorInfo> &tensors() const { return tensors_; }
  const TensorInfo *findTensor(std::string_view name) const {
    auto it = tensorIndex_.find(name);
    return it == tensorIndex_.end() ? nullptr : &tensors_[it->second];
  }
  TensorData tensorData(std::string_view name) const {
    const TensorInfo *t = findTensor(name);
    if (!t)
      throw std::runtime_error("GGUF: '" + path_ + "' has no tensor '" + std::string(name) + "'");
    return TensorData{base_ + dataOffset_ + t->offset, t->numBytes, t->type, t};
  }

private:
  std::string path_;
  const uint8_t *base_ = nullptr;
  size_t size_ = 0;
  bool owned_ = true; // base_ is our mmap (false: a caller's buffer)
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t dataOffset_ = 0;
  std::vector<std::string_view> keyOrder_;
  std::unordered_map<std::string_view, Value> kv_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string_view, size_t> tensorIndex_;

  void unmap() {
    if (base_ && owned_)
      ::munmap(const_cast<uint8_t *>(base_), size_);
    base_ = nullptr;
  }

  [[noreturn]] void fail(uint64_t offset, const std::string &what) const {
    throw std::runtime_error("GGUF: '" + path_ + "' at offset " + std::to_string(offset) +
                             ": " + what);
  }
  /// A key or tensor name for an error message: quoted, control bytes as
  /// \xNN (a NUL would end what()), clipped to 80 bytes (a corrupt length can
  /// make a "name" as long as the file; it must not be copied whole).
  static std::string quote(std::string_view s) {
    static const char hex[] = "0123456789abcdef";
    std::string out = "'";
    for (unsigned char ch : s.substr(0, 80)) {
      if (ch < 0x20 || ch == 0x7f) {
        out += "\\x";
        out += hex[ch >> 4];
        out += hex[ch & 15];
      } else {
        out += static_cast<char>(ch);
      }
    }
    return out + (s.size() > 80 ? "...'" : "'");
  }
  std::runtime_error typeError(std::string_view key, const char *want, const Value &v) const {
    std::string got = valueTypeName(v.type);
    if (v.isArray())
      got += std::string(" of ") + valueTypeName(v.elemType);
    return std::runtime_error("GGUF: '" + path_ + "' key '" + std::string(key) + "' is " +
                              got + ", expected " + want);
  }
  const Value &numericArray(std::string_view key) const {
    const Value &v = get(key);
    if (!v.isArray() || scalarSize(v.elemType) == 0)
      throw typeError(key, "numeric array", v);
    return v;
  }

  static bool isSignedType(ValueType t) {
    return t == ValueType::I8 || t == ValueType::I16 || t == ValueType::I32 || t == ValueType::I64;
  }
  template <typename T> static T load(const uint8_t *p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
  }
  static int64_t readSigned(ValueType t, const uint8_t *p) {
    switch (t) {
    case ValueType::U8: case ValueType::Bool: return load<uint8_t>(p);
    case ValueType::I8: return load<int8_t>(p);
    case ValueType::U16: return load<uint16_t>(p);
    case ValueType::I16: return load<int16_t>(p);
    case ValueType::U32: return load<uint32_t>(p);
    case ValueType::I32: return load<int32_t>(p);
    case ValueType::U64: return static_cast<int64_t>(load<uint64_t>(p));
    case ValueType::I64: return load<int64_t>(p);
    case ValueType::F32: return static_cast<int64_t>(load<float>(p));
    case ValueType::F64: return static_cast<int64_t>(load<double>(p));
    default: return 0;
    }
  }
  static uint64_t readUnsigned(ValueType t, const uint8_t *p) {
    if (t == ValueType::U64)
      return load<uint64_t>(p);
    return static_cast<uint64_t>(readSigned(t, p));
  }
  static double readDouble(ValueType t, const uint8_t *p) {
    switch (t) {
    case ValueType::F32: return load<float>(p);
    case ValueType::F64: return load<double>(p);
    case ValueType::U64: return static_cast<double>(load<uint64_t>(p));
    default: return static_cast<double>(readSigned(t, p));
    }
  }

  // --- bounds-checked cursor ---
  struct Cursor {
    const GGUFReader &r;
    uint64_t pos = 0;
    void need(uint64_t n, const char *what) const {
      if (n > r.size_ || pos > r.size_ - n)
        r.fail(pos, std::string("truncated file: need ") + std::to_string(n) +
                        " bytes for " + what + ", only " + std::to_string(r.size_ - pos) +
                        " left");
    }
    const uint8_t *take(uint64_t n, const char *what) {
      need(n, what);
      const uint8_t *p = r.base_ + pos;
      pos += n;
      return p;
    }
    uint32_t u32(const char *what) { return load<uint32_t>(take(4, what)); }
    uint64_t u64(const char *what) { return load<uint64_t>(take(8, what)); }
    std::string_view str(const char *what) {
      uint64_t at = pos;
      uint64_t n = u64(what);
      if (n > r.size_ - pos)
        r.fail(at, std::string("string length ") + std::to_string(n) + " of " + what +
                       " runs past the end of the file");
      const uint8_t *p = take(n, what);
      return std::string_view(reinterpret_cast<const char *>(p), n);
    }
  };

  static bool validType(uint32_t t) { return t <= 12; }

  /// Reserve for a count read from the file, but at most 4096 elements: the
  /// checks above bound a count by the file size only, and in a multi-GB
  /// model file that is still far more memory than a corrupt count deserves.
  /// Past 4096 the vector grows as entries are actually parsed.
  template <typename V> static void reserveClaimed(V &v, uint64_t count) {
    v.reserve(static_cast<size_t>(count < 4096 ? count : 4096));
  }

  void parseValue(Cursor &c, ValueType type, Value &v, std::string_view key) {
    const std::string q = quote(key);
    v.type = type;
    if (type == ValueType::String) {
      v.str = c.str(("value of " + q).c_str());
      return;
    }
    if (type == ValueType::Array) {
      uint64_t at = c.pos;
      uint32_t et = c.u32("array element type");
      if (!validType(et))
        fail(at, "array " + q + " has unknown element type " + std::to_string(et));
      v.elemType = static_cast<ValueType>(et);
      if (v.elemType == ValueType::Array)
        fail(at, "array " + q + " of arrays is not supported");
      uint64_t countAt = c.pos;
      v.count = c.u64("array length");
      if (v.elemType == ValueType::String) {
        // Every string takes at least 8 bytes: reject absurd counts up front.
        if (v.count > (size_ - c.pos) / 8)
          fail(countAt, "truncated or corrupt file: array " + q + " claims " + std::to_string(v.count) +
                            " strings, more than the file can hold");
        reserveClaimed(v.strings, v.count);
        const std::string what = "element of array " + q; // once, not once per element
        for (uint64_t i = 0; i < v.count; ++i)
          v.strings.push_back(c.str(what.c_str()));
      } else {
        size_t es = scalarSize(v.elemType);
        if (v.count > (size_ - c.pos) / es)
          fail(countAt, "array " + q + " of " + std::to_string(v.count) + " " +
                            valueTypeName(v.elemType) + " runs past the end of the file");
        v.data = c.take(v.count * es, "array elements");
      }
      return;
    }
    size_t n = scalarSize(type);
    v.data = c.take(n, "scalar value");
    if (type == ValueType::Bool && v.data[0] > 1)
      fail(c.pos - 1, "bool " + q + " has value " + std::to_string(v.data[0]));
  }

  void parse() {
    Cursor c{*this};
    const uint8_t *magic = c.take(4, "magic");
    if (std::memcmp(magic, "GGUF", 4) != 0)
      fail(0, "bad magic (not a GGUF file)");
    version_ = c.u32("version");
    if (version_ != 2 && version_ != 3) {
      if ((version_ & 0xffff) == 0 && version_ != 0)
        fail(4, "big-endian GGUF is not supported");
      fail(4, "unsupported GGUF version " + std::to_string(version_) + " (need 2 or 3)");
    }
    uint64_t nTensors = c.u64("tensor count");
    uint64_t nKV = c.u64("metadata count");
    // A KV takes >= 8+4+1 bytes, a tensor info >= 8+4+4+8 bytes.
    if (nKV > size_ / 13)
      fail(16, "truncated or corrupt file: metadata count " + std::to_string(nKV) +
               " is larger than the file can hold");
    if (nTensors > size_ / 24)
      fail(8, "truncated or corrupt file: tensor count " + std::to_string(nTensors) +
               " is larger than the file can hold");
    reserveClaimed(keyOrder_, nKV);
    for (uint64_t i = 0; i < nKV; ++i) {
      uint64_t at = c.pos;
      std::string_view key = c.str("metadata key");
      uint64_t typeAt = c.pos;
      uint32_t t = c.u32("metadata value type");
      if (!validType(t))
        fail(typeAt, "key " + quote(key) + " has unknown value type " + std::to_string(t));
      if (kv_.count(key))
        fail(at, "duplicate metadata key " + quote(key));
      Value v;
      parseValue(c, static_cast<ValueType>(t), v, key);
      keyOrder_.push_back(key);
      kv_.emplace(key, std::move(v));
    }
    if (const Value *a = find("general.alignment")) {
      if (a->isArray() || scalarSize(a->type) == 0 || a->type == ValueType::F32 ||
          a->type == ValueType::F64)
        fail(0, "general.alignment is not an integer");
      uint64_t al = readUnsigned(a->type, a->data);
      if (al == 0 || (al & (al - 1)) != 0)
        fail(0, "general.alignment " + std::to_string(al) + " is not a power of two");
      alignment_ = al;
    }
    reserveClaimed(tensors_, nTensors);
    for (uint64_t i = 0; i < nTensors; ++i) {
      TensorInfo t;
      uint64_t at = c.pos;
      t.name = c.str("tensor name");
      uint64_t dimsAt = c.pos;
      uint32_t nd = c.u32("tensor rank");
      if (nd > 8)
        fail(dimsAt, "tensor " + quote(t.name) + " has rank " + std::to_string(nd) + " (max 8)");
      t.numElements = 1;
      for (uint32_t d = 0; d < nd; ++d) {
        uint64_t dim = c.u64("tensor dimension");
        if (dim != 0 && t.numElements > UINT64_MAX / dim)
          fail(dimsAt, "tensor " + quote(t.name) + " element count overflows");
        t.shape.push_back(dim);
        t.numElements *= dim;
      }
      uint64_t typeAt = c.pos;
      t.type = c.u32("tensor type");
      const GGMLTypeInfo *ti = ggmlTypeInfo(t.type);
      if (!ti)
        fail(typeAt, "tensor " + quote(t.name) + " has unknown ggml type " + std::to_string(t.type));
      if (!t.shape.empty() && t.shape[0] % ti->blockSize != 0)
        fail(dimsAt, "tensor " + quote(t.name) + " row of " + std::to_string(t.shape[0]) +
                         " elements is not a multiple of the " + ti->name + " block size " +
                         std::to_string(ti->blockSize));
      if (t.numElements % ti->blockSize != 0) // a rank-0 tensor: one element, no row
        fail(dimsAt, "tensor " + quote(t.name) + " of " + std::to_string(t.numElements) +
                         " element(s) is not a whole number of " + ti->name + " blocks");
      uint64_t blocks = t.numElements / ti->blockSize;
      if (blocks > UINT64_MAX / ti->typeSize)
        fail(dimsAt, "tensor " + quote(t.name) + " byte size overflows");
      t.numBytes = blocks * ti->typeSize;
      uint64_t offAt = c.pos;
      t.offset = c.u64("tensor offset");
      if (t.offset % alignment_ != 0)
        fail(offAt, "tensor " + quote(t.name) + " offset " + std::to_string(t.offset) +
                        " is not aligned to " + std::to_string(alignment_));
      if (tensorIndex_.count(t.name))
        fail(at, "duplicate tensor " + quote(t.name));
      tensorIndex_.emplace(t.name, tensors_.size());
      tensors_.push_back(std::move(t));
    }
    uint64_t pad = (alignment_ - c.pos % alignment_) % alignment_;
    dataOffset_ = c.pos + pad;
    if (!tensors_.empty() && dataOffset_ > size_)
      fail(c.pos, "truncated file: tensor data section starts past the end");
    for (const TensorInfo &t : tensors_) {
      uint64_t avail = size_ - dataOffset_;
      if (t.offset > avail || t.numBytes > avail - t.offset)
        fail(dataOffset_ + t.offset,
             "truncated file: data of tensor " + quote(t.name) + " (" +
                 std::to_string(t.numBytes) + " bytes) runs past the end of the file");
    }
  }
};

} // namespace gguf
} // namespace buddy

#endif // BUDDY_GGUF_GGUFREADER_H
