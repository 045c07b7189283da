// buddy/WeightFile.h - the parameter file (`*.bwt`) of a compiled model.
//
// Layout, version 1 (all integers little-endian):
//
//   offset  size  field
//   0       8     magic "BUDDYWT\0"
//   8       4     u32 version (= 1)
//   12      4     u32 flags (= 0; other values are rejected)
//   16      8     u64 count           number of tensors
//   24      8     u64 dataOffset      start of the data region (multiple of 64)
//   32      8     u64 dataSize        bytes of the data region
//   40      8     u64 tableOffset     start of the tensor table (>= dataOffset + dataSize)
//   48      8     u64 tableSize       bytes of the tensor table; the table ends the file
//   56      8     u64 dataChecksum    checksum of bytes [dataOffset, dataOffset + dataSize)
//   64      8     u64 headerChecksum  checksum of bytes [0, 64) followed by the table bytes
//                                     (checksum: weightfile::Checksum, word-wise FNV-1a 64)
//   72..dataOffset  zero padding
//
//   data region: each tensor's bytes, row-major, starting at a multiple of 64
//                (zero padding in between)
//   tensor table: `count` entries, each
//       u32 nameLength, name bytes (UTF-8, 1..4096 bytes, unique),
//       u8 dtype (buddy::DType code), u8 rank (<= 16), u16 reserved (= 0),
//       i64 dims[rank], u64 offset (absolute file offset, multiple of 64),
//       u64 nbytes (= product(dims) * element size)
//
// The table sits after the data so that the writer can stream tensors one at a
// time straight from their memory (a 7B model never needs twice its RAM); the
// fixed header is written last. The writer writes to `<path>.tmp` and renames
// on close(), so an interrupted write never leaves a file that looks valid.
//
// The reader memory-maps the file read-only (no copy) and hands out tensors as
// borrowed, read-only MemRefs that keep the mapping alive. Opening checks the
// fixed header, the header checksum and every table entry against the file
// bounds, so a truncated, corrupt or mismatched file is rejected with a
// WeightFileError naming the problem, and no read ever leaves the mapping.
// The data checksum is NOT checked on open because it touches every page of a
// possibly huge file; call verifyData() (or open with verifyData = true).
#ifndef BUDDY_WEIGHTFILE_H
#define BUDDY_WEIGHTFILE_H

#include "buddy/MemRef.h"

#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>

namespace buddy {

namespace weightfile {
inline constexpr char kMagic[8] = {'B', 'U', 'D', 'D', 'Y', 'W', 'T', '\0'};
inline constexpr uint32_t kVersion = 1;
inline constexpr uint64_t kFixedHeaderSize = 72;
inline constexpr uint64_t kChecksummedFixedBytes = 64; // [0, 64): all but headerChecksum
inline constexpr uint64_t kAlignment = 64;
inline constexpr uint64_t kDataOffset = 128; // first multiple of 64 >= 72
inline constexpr uint32_t kMaxNameLength = 4096;
inline constexpr uint8_t kMaxRank = 16;
// Smallest entry: nameLength + 1 name byte + dtype/rank/reserved + offset + nbytes.
inline constexpr uint64_t kMinEntrySize = 4 + 1 + 4 + 8 + 8;

inline constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
inline constexpr uint64_t kFnvPrime = 0x100000001b3ULL;

/// The checksum of weight files ("FNV-1a-64 over words"): the bytes are read
/// as little-endian 64-bit words (the last one zero-padded), each folded in as
/// h = (h ^ word) * prime from h = FNV offset basis, and finally the byte
/// length: h = (h ^ length) * prime. Word-wise instead of byte-wise FNV-1a
/// because it runs ~8x faster (the data of a 7B model is 14 GB); changing any
/// single word always changes the result (xor and odd multiply are bijective).
class Checksum {
public:
  void update(const void *data, size_t n) {
    if (n == 0)
      return;
    const unsigned char *p = static_cast<const unsigned char *>(data);
    len_ += n;
    if (tailLen_) { // complete a pending partial word first
      size_t k = n < 8 - tailLen_ ? n : 8 - tailLen_;
      std::memcpy(tail_ + tailLen_, p, k);
      tailLen_ += k;
      p += k;
      n -= k;
      if (tailLen_ < 8)
        return;
      mix(getLE(tail_, 8));
      tailLen_ = 0;
    }
    for (; n >= 8; p += 8, n -= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
      w = __builtin_bswap64(w);
#endif
      mix(w);
    }
    tailLen_ = n & 7; // n < 8 here
    std::memcpy(tail_, p, tailLen_);
  }
  uint64_t finish() const {
    uint64_t h = h_;
    if (tailLen_) {
      unsigned char last[8] = {};
      std::memcpy(last, tail_, tailLen_);
      h = (h ^ getLE(last, 8)) * kFnvPrime;
    }
    return (h ^ len_) * kFnvPrime;
  }

private:
  static uint64_t getLE(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i)
      v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
  }
  void mix(uint64_t w) { h_ = (h_ ^ w) * kFnvPrime; }
  uint64_t h_ = kFnvOffset;
  uint64_t len_ = 0;
  unsigned char tail_[8] = {};
  size_t tailLen_ = 0;
};

inline uint64_t checksum(const void *data, size_t n) {
  Checksum c;
  c.update(data, n);
  return c.finish();
}

/// Header checksum: over bytes [0, 64) of the file followed by the table.
inline uint64_t headerChecksum(const unsigned char *fixed64, const void *table, size_t tableSize) {
  Checksum c;
  c.update(fixed64, kChecksummedFixedBytes);
  c.update(table, tableSize);
  return c.finish();
}

inline uint64_t alignUp(uint64_t x) { return (x + kAlignment - 1) / kAlignment * kAlignment; }

inline void putLE(std::string &out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline uint64_t getLE(const unsigned char *p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i)
    v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}
} // namespace weightfile

/// A weight file is unusable. `kind()` says why; the message names the file,
/// the problem and (where there is one) the tensor.
class WeightFileError : public std::runtime_error {
public:
  enum class Kind {
    Io,                 // cannot open / read / write / map
    Truncated,          // shorter than the fixed header
    BadMagic,           // not a Buddy weight file
    UnsupportedVersion, // version or flags this reader does not know
    HeaderOutOfBounds,  // data region or table outside the file, or entries past the table
    TensorOutOfBounds,  // a tensor's bytes outside the data region, or misaligned
    ChecksumMismatch,   // header or data checksum differs
    UnknownDType,       // dtype code not in buddy::DType
    ShapeOverflow,      // negative dimension or the shape product overflows
    InvalidEntry,       // bad name, rank, size or a duplicate name
    UsageError,         // writer misuse (duplicate name, after close, ...)
  };
  WeightFileError(Kind kind, const std::string &file, const std::string &detail)
      : std::runtime_error(file + ": " + kindName(kind) + ": " + detail), kind_(kind) {}
  Kind kind() const { return kind_; }

  static const char *kindName(Kind k) {
    switch (k) {
    case Kind::Io: return "I/O error";
    case Kind::Truncated: return "truncated file";
    case Kind::BadMagic: return "bad magic";
    case Kind::UnsupportedVersion: return "unsupported version";
    case Kind::HeaderOutOfBounds: return "header out of bounds";
    case Kind::TensorOutOfBounds: return "tensor out of bounds";
    case Kind::ChecksumMismatch: return "checksum mismatch";
    case Kind::UnknownDType: return "unknown dtype";
    case Kind::ShapeOverflow: return "overflow in shape product";
    case Kind::InvalidEntry: return "invalid entry";
    case Kind::UsageError: return "usage error";
    }
    return "error";
  }

private:
  Kind kind_;
};

//===----------------------------------------------------------------------===//
// Writer
//===----------------------------------------------------------------------===//

class WeightFileWriter {
public:
  explicit WeightFileWriter(std::string path)
      : path_(std::move(path)), tmpPath_(path_ + ".tmp") {
    file_ = std::fopen(tmpPath_.c_str(), "wb");
    if (!file_)
      fail(WeightFileError::Kind::Io, std::string("cannot create: ") + std::strerror(errno));
    writeZeros(weightfile::kDataOffset, /*hash=*/false);
    pos_ = weightfile::kDataOffset;
  }
  WeightFileWriter(const WeightFileWriter &) = delete;
  WeightFileWriter &operator=(const WeightFileWriter &) = delete;
  /// Without close() the partial file is discarded.
  ~WeightFileWriter() { discard(); }

  /// Append a row-major tensor of `shape` whose bytes start at `data`.
  void add(const std::string &name, DType dtype, const Shape &shape, const void *data) {
    using K = WeightFileError::Kind;
    if (!file_)
      fail(K::UsageError, "add('" + name + "') after close()");
    if (name.empty() || name.size() > weightfile::kMaxNameLength)
      fail(K::InvalidEntry, "tensor name must have 1.." +
                                std::to_string(weightfile::kMaxNameLength) + " bytes");
    if (index_.count(name))
      fail(K::UsageError, "duplicate tensor name '" + name + "'");
    if (shape.size() > weightfile::kMaxRank)
      fail(K::InvalidEntry, "tensor '" + name + "' has rank " + std::to_string(shape.size()) +
                                " > " + std::to_string(weightfile::kMaxRank));
    auto nbytes = checkedByteSize(dtype, shape);
    if (!nbytes)
      fail(K::ShapeOverflow, "tensor '" + name + "' shape " + shapeString(shape));
    if (*nbytes && !data)
      fail(K::UsageError, "tensor '" + name + "' has no data");
    uint64_t offset = weightfile::alignUp(pos_);
    writeZeros(offset - pos_, /*hash=*/true);
    writeBytes(data, *nbytes, /*hash=*/true);
    pos_ = offset + *nbytes;
    index_.emplace(name, entries_.size());
    entries_.push_back(Entry{TensorSpec{name, dtype, shape}, offset, *nbytes});
  }

  void add(const std::string &name, const MemRef &m) {
    if (m.isContiguous()) {
      add(name, m.dtype(), m.shape(), m.data());
    } else {
      MemRef c = m.contiguousCopy();
      add(name, c.dtype(), c.shape(), c.data());
    }
  }

  size_t count() const { return entries_.size(); }

  /// Write the table and the header, then rename `<path>.tmp` to `path`.
  void close() {
    using K = WeightFileError::Kind;
    if (!file_)
      fail(K::UsageError, "close() called twice");
    uint64_t dataSize = pos_ - weightfile::kDataOffset;
    std::string table;
    for (const Entry &e : entries_) {
      weightfile::putLE(table, e.spec.name.size(), 4);
      table += e.spec.name;
      weightfile::putLE(table, static_cast<uint8_t>(e.spec.dtype), 1);
      weightfile::putLE(table, e.spec.shape.size(), 1);
      weightfile::putLE(table, 0, 2);
      for (int64_t d : e.spec.shape)
        weightfile::putLE(table, static_cast<uint64_t>(d), 8);
      weightfile::putLE(table, e.offset, 8);
      weightfile::putLE(table, e.nbytes, 8);
    }
    writeBytes(table.data(), table.size(), /*hash=*/false);

    std::string head(weightfile::kMagic, 8);
    weightfile::putLE(head, weightfile::kVersion, 4);
    weightfile::putLE(head, 0, 4);
    weightfile::putLE(head, entries_.size(), 8);
    weightfile::putLE(head, weightfile::kDataOffset, 8);
    weightfile::putLE(head, dataSize, 8);
    weightfile::putLE(head, pos_, 8); // tableOffset
    weightfile::putLE(head, table.size(), 8);
    weightfile::putLE(head, dataHash_.finish(), 8);
    weightfile::putLE(head, weightfile::headerChecksum(
                                reinterpret_cast<const unsigned char *>(head.data()),
                                table.data(), table.size()), 8);

    if (std::fseek(file_, 0, SEEK_SET) != 0)
      fail(K::Io, std::string("seek failed: ") + std::strerror(errno));
    writeBytes(head.data(), head.size(), /*hash=*/false);
    if (std::fclose(file_) != 0) {
      file_ = nullptr;
      fail(K::Io, std::string("close failed: ") + std::strerror(errno));
    }
    file_ = nullptr;
    if (std::rename(tmpPath_.c_str(), path_.c_str()) != 0)
      fail(K::Io, std::string("rename from .tmp failed: ") + std::strerror(errno));
  }

private:
  struct Entry {
    TensorSpec spec;
    uint64_t offset;
    uint64_t nbytes;
  };

  [[noreturn]] void fail(WeightFileError::Kind kind, const std::string &detail) {
    if (kind == WeightFileError::Kind::Io)
      discard();
    throw WeightFileError(kind, path_, detail);
  }

  void discard() {
    if (file_) {
      std::fclose(file_);
      file_ = nullptr;
      std::remove(tmpPath_.c_str());
    }
  }

  void writeBytes(const void *p, uint64_t n, bool hash) {
    const char *c = static_cast<const char *>(p);
    constexpr uint64_t kChunk = 1 << 22;
    while (n) {
      size_t k = static_cast<size_t>(n < kChunk ? n : kChunk);
      if (hash)
        dataHash_.update(c, k);
      if (std::fwrite(c, 1, k, file_) != k)
        fail(WeightFileError::Kind::Io, std::string("write failed: ") + std::strerror(errno));
      c += k;
      n -= k;
    }
  }
  void writeZeros(uint64_t n, bool hash) {
    static const char zeros[weightfile::kDataOffset] = {};
    while (n) {
      uint64_t k = n < sizeof(zeros) ? n : sizeof(zeros);
      writeBytes(zeros, k, hash);
      n -= k;
    }
  }

  std::string path_, tmpPath_;
  std::FILE *file_ = nullptr;
  uint64_t pos_ = 0;
  weightfile::Checksum dataHash_;
  std::vector<Entry> entries_;
  std::unordered_map<std::string, size_t> index_;
};

//===----------------------------------------------------------------------===//
// Reader
//===----------------------------------------------------------------------===//

class WeightFile {
public:
  struct Entry {
    TensorSpec spec;
    uint64_t offset; // absolute byte offset in the file
    uint64_t nbytes;
  };

  /// Memory-map `path` and validate its header and table.
  static WeightFile open(const std::string &path, bool verifyData = false) {
    using K = WeightFileError::Kind;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      throw WeightFileError(K::Io, path, std::string("cannot open: ") + std::strerror(errno));
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int e = errno;
      ::close(fd);
      throw WeightFileError(K::Io, path, std::string("cannot stat: ") + std::strerror(e));
    }
    size_t size = static_cast<size_t>(st.st_size);
    if (size < weightfile::kFixedHeaderSize) {
      ::close(fd);
      throw WeightFileError(K::Truncated, path,
                            "file has " + std::to_string(size) + " bytes, the header needs " +
                                std::to_string(weightfile::kFixedHeaderSize));
    }
    void *addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    ::close(fd);
    if (addr == MAP_FAILED)
      throw WeightFileError(K::Io, path, std::string("mmap failed: ") + std::strerror(e));
    auto mapping = std::shared_ptr<void>(addr, [size](void *p) { ::munmap(p, size); });
    return fromBuffer(std::move(mapping), static_cast<const unsigned char *>(addr), size, path,
                      verifyData);
  }

  /// Parse a weight file held in memory; `keepAlive` owns `data`.
  static WeightFile fromBuffer(std::shared_ptr<void> keepAlive, const unsigned char *data,
                               size_t size, const std::string &label = "<memory>",
                               bool verifyData = false) {
    WeightFile wf;
    wf.keepAlive_ = std::move(keepAlive);
    wf.base_ = data;
    wf.size_ = size;
    wf.label_ = label;
    wf.parse();
    if (verifyData)
      wf.verifyData();
    return wf;
  }

  const std::string &path() const { return label_; }
  uint64_t fileSize() const { return size_; }
  size_t size() const { return entries_.size(); }
  const std::vector<Entry> &entries() const { return entries_; }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const Entry &e : entries_)
      out.push_back(e.spec.name);
    return out;
  }
  std::vector<TensorSpec> specs() const {
    std::vector<TensorSpec> out;
    for (const Entry &e : entries_)
      out.push_back(e.spec);
    return out;
  }
  bool contains(const std::string &name) const { return index_.count(name) != 0; }

  const Entry &entry(const std::string &name) const {
    auto it = index_.find(name);
    if (it == index_.end())
      throw std::out_of_range(label_ + ": no tensor named '" + name + "'");
    return entries_[it->second];
  }

  /// Zero-copy, read-only view of a tensor; keeps the mapping alive.
  MemRef tensor(const std::string &name) const { return view(entry(name)); }
  MemRef tensor(size_t i) const {
    if (i >= entries_.size())
      throw std::out_of_range(label_ + ": tensor index " + std::to_string(i) + " >= " +
                              std::to_string(entries_.size()));
    return view(entries_[i]);
  }

  /// Recompute the data checksum (reads every byte of the data region).
  void verifyData() const {
    uint64_t h = weightfile::checksum(base_ + dataOffset_, dataSize_);
    if (h != dataChecksum_)
      throw WeightFileError(WeightFileError::Kind::ChecksumMismatch, label_,
                            "data checksum " + hex(h) + " != stored " + hex(dataChecksum_));
  }

private:
  MemRef view(const Entry &e) const {
    // The mapping is PROT_READ: the MemRef is marked read-only so that it is
    // refused as an output of a compiled call.
    return MemRef::borrow(e.spec.dtype, const_cast<unsigned char *>(base_ + e.offset),
                          e.spec.shape, {}, keepAlive_, /*readOnly=*/true);
  }

  static std::string hex(uint64_t v) {
    char buf[19];
    std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
    return buf;
  }

  [[noreturn]] void fail(WeightFileError::Kind kind, const std::string &detail) const {
    throw WeightFileError(kind, label_, detail);
  }

  void parse() {
    using K = WeightFileError::Kind;
    namespace wf = weightfile;
    if (size_ < wf::kFixedHeaderSize)
      fail(K::Truncated, "file has " + std::to_string(size_) + " bytes, the header needs " +
                             std::to_string(wf::kFixedHeaderSize));
    if (std::memcmp(base_, wf::kMagic, sizeof wf::kMagic) != 0)
      fail(K::BadMagic, "not a Buddy weight file (expected \"BUDDYWT\\0\")");
    uint32_t version = static_cast<uint32_t>(wf::getLE(base_ + 8, 4));
    uint32_t flags = static_cast<uint32_t>(wf::getLE(base_ + 12, 4));
    if (version != wf::kVersion)
      fail(K::UnsupportedVersion, "version " + std::to_string(version) +
                                      ", this runtime reads version " + std::to_string(wf::kVersion));
    if (flags != 0)
      fail(K::UnsupportedVersion, "unknown flags " + std::to_string(flags));
    uint64_t count = wf::getLE(base_ + 16, 8);
    dataOffset_ = wf::getLE(base_ + 24, 8);
    dataSize_ = wf::getLE(base_ + 32, 8);
    uint64_t tableOffset = wf::getLE(base_ + 40, 8);
    uint64_t tableSize = wf::getLE(base_ + 48, 8);
    dataChecksum_ = wf::getLE(base_ + 56, 8);
    uint64_t headerChecksum = wf::getLE(base_ + 64, 8);
    const uint64_t size = size_;

    if (dataOffset_ < wf::kFixedHeaderSize || dataOffset_ % wf::kAlignment != 0 ||
        dataOffset_ > size || dataSize_ > size - dataOffset_)
      fail(K::HeaderOutOfBounds, "data region [" + std::to_string(dataOffset_) + ", +" +
                                     std::to_string(dataSize_) + ") does not fit in " +
                                     std::to_string(size) + " bytes");
    if (tableOffset < dataOffset_ + dataSize_ || tableOffset > size || tableSize > size - tableOffset)
      fail(K::HeaderOutOfBounds, "tensor table [" + std::to_string(tableOffset) + ", +" +
                                     std::to_string(tableSize) + ") does not fit in " +
                                     std::to_string(size) + " bytes after the data");
    if (tableOffset + tableSize != size)
      fail(K::HeaderOutOfBounds, "file has " + std::to_string(size - tableOffset - tableSize) +
                                     " bytes after the tensor table");
    const unsigned char *table = base_ + tableOffset;
    uint64_t h = wf::headerChecksum(base_, table, tableSize);
    if (h != headerChecksum)
      fail(K::ChecksumMismatch, "header checksum " + hex(h) + " != stored " + hex(headerChecksum));
    if (count > tableSize / wf::kMinEntrySize)
      fail(K::HeaderOutOfBounds, "count " + std::to_string(count) + " cannot fit in a " +
                                     std::to_string(tableSize) + "-byte tensor table");

    uint64_t pos = 0;
    auto need = [&](uint64_t n, uint64_t i, const char *what) {
      if (n > tableSize - pos)
        fail(K::HeaderOutOfBounds, "entry " + std::to_string(i) + " (" + what +
                                       ") runs past the end of the tensor table");
    };
    entries_.reserve(static_cast<size_t>(count));
    const uint64_t dataEnd = dataOffset_ + dataSize_;
    for (uint64_t i = 0; i < count; ++i) {
      need(4, i, "name length");
      uint64_t nameLen = wf::getLE(table + pos, 4);
      pos += 4;
      if (nameLen == 0 || nameLen > wf::kMaxNameLength)
        fail(K::InvalidEntry, "entry " + std::to_string(i) + " has a name of " +
                                  std::to_string(nameLen) + " bytes (allowed 1.." +
                                  std::to_string(wf::kMaxNameLength) + ")");
      need(nameLen, i, "name");
      std::string name(reinterpret_cast<const char *>(table + pos), static_cast<size_t>(nameLen));
      pos += nameLen;
      need(4, i, "dtype and rank");
      uint8_t dtypeCode = table[pos], rank = table[pos + 1];
      uint16_t reserved = static_cast<uint16_t>(wf::getLE(table + pos + 2, 2));
      pos += 4;
      const std::string who = "tensor '" + name + "'";
      if (!isValidDType(dtypeCode))
        fail(K::UnknownDType, who + " has dtype code " + std::to_string(dtypeCode));
      if (rank > wf::kMaxRank)
        fail(K::InvalidEntry, who + " has rank " + std::to_string(rank) + " > " +
                                  std::to_string(wf::kMaxRank));
      if (reserved != 0)
        fail(K::InvalidEntry, who + " has nonzero reserved bits");
      need(8ull * rank + 16, i, "shape, offset and size");
      Shape shape(rank);
      for (uint8_t d = 0; d < rank; ++d, pos += 8)
        shape[d] = static_cast<int64_t>(wf::getLE(table + pos, 8));
      uint64_t offset = wf::getLE(table + pos, 8);
      uint64_t nbytes = wf::getLE(table + pos + 8, 8);
      pos += 16;
      DType dtype = static_cast<DType>(dtypeCode);
      auto expect = checkedByteSize(dtype, shape);
      if (!expect)
        fail(K::ShapeOverflow, who + " has shape " + shapeString(shape));
      if (*expect != nbytes)
        fail(K::InvalidEntry, who + " " + dtypeName(dtype) + "[" + shapeString(shape) +
                                  "] needs " + std::to_string(*expect) + " bytes, entry says " +
                                  std::to_string(nbytes));
      if (offset % wf::kAlignment != 0)
        fail(K::TensorOutOfBounds, who + " starts at offset " + std::to_string(offset) +
                                       ", not a multiple of 64");
      if (offset < dataOffset_ || offset > dataEnd || nbytes > dataEnd - offset)
        fail(K::TensorOutOfBounds, who + " bytes [" + std::to_string(offset) + ", +" +
                                       std::to_string(nbytes) + ") lie outside the data region [" +
                                       std::to_string(dataOffset_) + ", " +
                                       std::to_string(dataEnd) + ")");
      if (!index_.emplace(name, entries_.size()).second)
        fail(K::InvalidEntry, "duplicate " + who);
      entries_.push_back(Entry{TensorSpec{std::move(name), dtype, std::move(shape)}, offset, nbytes});
    }
    if (pos != tableSize)
      fail(K::HeaderOutOfBounds, "tensor table has " + std::to_string(tableSize - pos) +
                                     " bytes after its " + std::to_string(count) + " entries");
  }

  std::shared_ptr<void> keepAlive_;
  const unsigned char *base_ = nullptr;
  uint64_t size_ = 0;
  std::string label_;
  uint64_t dataOffset_ = 0, dataSize_ = 0, dataChecksum_ = 0;
  std::vector<Entry> entries_;
  std::unordered_map<std::string, size_t> index_;
};

} // namespace buddy

#endif // BUDDY_WEIGHTFILE_H
