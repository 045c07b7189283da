// buddy/MemRef.h - N-d strided buffers that compiled Buddy code reads and writes.
//
// A `MemRef` has a runtime dtype and rank. It either owns a 64-byte aligned
// buffer or borrows memory kept alive by an opaque handle (a weight-file
// mapping, a NumPy array, ...). Copies of a MemRef share the same buffer.
//
// `MemRef::descriptor()` produces the bytes of MLIR's
// `StridedMemRefType<T, N>` for the MemRef's rank, so a caller that only knows
// the rank at runtime can build the `void *args[]` of a `_buddy_<fn>` wrapper
// (see docs/interfaces.md). `StridedMemRef<T, N>` below mirrors MLIR's struct
// for code that knows the rank at compile time.
#ifndef BUDDY_MEMREF_H
#define BUDDY_MEMREF_H

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace buddy {

//===----------------------------------------------------------------------===//
// Element types
//===----------------------------------------------------------------------===//

/// Element type codes. The numeric values are stored in weight files: never
/// renumber, only append.
enum class DType : uint8_t {
  F32 = 0,
  F16 = 1,
  BF16 = 2,
  I8 = 3,
  I32 = 4,
  I64 = 5,
  Bool = 6, // i1 in MLIR, one byte (0 or 1) in memory
  F64 = 7,
  I16 = 8,
};
inline constexpr uint8_t kNumDTypes = 9;

inline bool isValidDType(uint8_t code) { return code < kNumDTypes; }

inline size_t dtypeSize(DType t) {
  switch (t) {
  case DType::F32: return 4;
  case DType::F16: return 2;
  case DType::BF16: return 2;
  case DType::I8: return 1;
  case DType::I32: return 4;
  case DType::I64: return 8;
  case DType::Bool: return 1;
  case DType::F64: return 8;
  case DType::I16: return 2;
  }
  throw std::invalid_argument("buddy: invalid dtype code " +
                              std::to_string(static_cast<int>(t)));
}

/// The dtype names of docs/interfaces.md: f32 f16 bf16 f64 i8 i16 i32 i64 bool.
inline const char *dtypeName(DType t) {
  switch (t) {
  case DType::F32: return "f32";
  case DType::F16: return "f16";
  case DType::BF16: return "bf16";
  case DType::I8: return "i8";
  case DType::I32: return "i32";
  case DType::I64: return "i64";
  case DType::Bool: return "bool";
  case DType::F64: return "f64";
  case DType::I16: return "i16";
  }
  return "<invalid dtype>";
}

inline std::optional<DType> parseDType(std::string_view name) {
  for (uint8_t c = 0; c < kNumDTypes; ++c)
    if (name == dtypeName(static_cast<DType>(c)))
      return static_cast<DType>(c);
  if (name == "i1")
    return DType::Bool;
  return std::nullopt;
}

/// Storage types of f16 / bf16 elements (raw bits; no arithmetic).
struct Half { uint16_t bits; };
struct BFloat16 { uint16_t bits; };

template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::F32; };
template <> struct DTypeOf<Half> { static constexpr DType value = DType::F16; };
template <> struct DTypeOf<BFloat16> { static constexpr DType value = DType::BF16; };
template <> struct DTypeOf<int8_t> { static constexpr DType value = DType::I8; };
template <> struct DTypeOf<int16_t> { static constexpr DType value = DType::I16; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::I32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::I64; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::Bool; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::F64; };
static_assert(sizeof(bool) == 1, "Buddy stores bool as one byte");

//===----------------------------------------------------------------------===//
// Shapes
//===----------------------------------------------------------------------===//

using Shape = std::vector<int64_t>;

/// "4x5" ("scalar" for rank 0).
inline std::string shapeString(const Shape &shape) {
  if (shape.empty())
    return "scalar";
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "x" : "") + std::to_string(shape[i]);
  return s;
}

/// Product of the dimensions with 0 counted as 1: the largest row-major
/// stride times the first dimension. nullopt if a dimension is negative or the
/// product overflows int64 (then strides would not be representable either).
inline std::optional<int64_t> checkedStrideSpan(const Shape &shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0)
      return std::nullopt;
    int64_t f = d == 0 ? 1 : d;
    if (n > INT64_MAX / f)
      return std::nullopt;
    n *= f;
  }
  return n;
}

/// Number of elements of `shape`; nullopt if a dimension is negative or the
/// product of the nonzero dimensions overflows int64 (even for an empty shape
/// like 0 x 2^62 x 4, whose strides would overflow).
inline std::optional<int64_t> checkedNumElements(const Shape &shape) {
  auto span = checkedStrideSpan(shape);
  if (!span)
    return std::nullopt;
  for (int64_t d : shape)
    if (d == 0)
      return 0;
  return span;
}

/// Byte size of a dense tensor; nullopt on negative dims or if it (or the
/// byte span of its strides) exceeds INT64_MAX bytes.
inline std::optional<uint64_t> checkedByteSize(DType t, const Shape &shape) {
  auto span = checkedStrideSpan(shape);
  auto n = checkedNumElements(shape);
  if (!span || !n)
    return std::nullopt;
  uint64_t es = dtypeSize(t);
  if (static_cast<uint64_t>(*span) > static_cast<uint64_t>(INT64_MAX) / es)
    return std::nullopt;
  return static_cast<uint64_t>(*n) * es;
}

/// Row-major strides (in elements) of `shape`.
inline Shape contiguousStrides(const Shape &shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= shape[i] > 0 ? shape[i] : 1;
  }
  return strides;
}

/// A named, typed, shaped slot: an argument of a compiled function or a
/// tensor of a weight file.
struct TensorSpec {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;

  /// "f32[4x5]"
  std::string typeString() const {
    return std::string(dtypeName(dtype)) + "[" + shapeString(shape) + "]";
  }
};

//===----------------------------------------------------------------------===//
// Descriptors (ABI of MLIR's StridedMemRefType)
//===----------------------------------------------------------------------===//

/// Same layout as MLIR's `StridedMemRefType<T, N>` (mlir/ExecutionEngine/CRunnerUtils.h).
template <typename T, int N> struct StridedMemRef {
  T *allocated;
  T *aligned;
  int64_t offset;
  int64_t sizes[N];
  int64_t strides[N];
};
template <typename T> struct StridedMemRef<T, 0> {
  T *allocated;
  T *aligned;
  int64_t offset;
};

/// The bytes of a `StridedMemRef<T, rank>` for a rank known at runtime.
/// `data()` is what goes into `args[i]` of a packed call.
class MemRefDescriptor {
public:
  MemRefDescriptor(void *allocated, void *aligned, int64_t offset,
                   const Shape &sizes, const Shape &strides)
      : rank_(sizes.size()) {
    if (strides.size() != sizes.size())
      throw std::invalid_argument("buddy: descriptor sizes/strides rank differ");
    words_.assign(kHeadWords + 2 * rank_, 0);
    Head head{allocated, aligned, offset};
    std::memcpy(words_.data(), &head, sizeof(Head));
    for (size_t i = 0; i < rank_; ++i) {
      words_[kHeadWords + i] = sizes[i];
      words_[kHeadWords + rank_ + i] = strides[i];
    }
  }
  void *data() { return words_.data(); }
  const void *data() const { return words_.data(); }
  size_t size() const { return words_.size() * sizeof(int64_t); }
  size_t rank() const { return rank_; }

private:
  // The three leading fields; the sizes/strides arrays follow without padding
  // because sizeof(Head) is a multiple of alignof(int64_t).
  struct Head {
    void *allocated;
    void *aligned;
    int64_t offset;
  };
  static_assert(sizeof(Head) % sizeof(int64_t) == 0, "unexpected padding");
  static constexpr size_t kHeadWords = sizeof(Head) / sizeof(int64_t);
  size_t rank_;
  std::vector<int64_t> words_;
};

//===----------------------------------------------------------------------===//
// MemRef
//===----------------------------------------------------------------------===//

inline constexpr size_t kBufferAlignment = 64;

/// A MemRef handed to a compiled function does not match its slot.
class ArgumentError : public std::invalid_argument {
public:
  enum class Kind { Count, DType, Shape, ReadOnly, Layout };
  ArgumentError(Kind kind, const std::string &msg)
      : std::invalid_argument(msg), kind_(kind) {}
  Kind kind() const { return kind_; }

private:
  Kind kind_;
};

class MemRef {
public:
  MemRef() = default;

  /// A new zero-filled, 64-byte aligned, row-major buffer.
  static MemRef allocate(DType dtype, const Shape &shape) {
    auto nbytes = checkedByteSize(dtype, shape);
    if (!nbytes)
      throw std::invalid_argument("buddy: invalid or overflowing shape " +
                                  shapeString(shape));
    uint64_t rounded = (*nbytes + kBufferAlignment - 1) / kBufferAlignment *
                       kBufferAlignment;
    if (rounded == 0)
      rounded = kBufferAlignment;
    void *p = std::aligned_alloc(kBufferAlignment, rounded);
    if (!p)
      throw std::bad_alloc();
    std::memset(p, 0, rounded);
    MemRef m;
    m.storage_ = std::shared_ptr<void>(p, [](void *q) { std::free(q); });
    m.data_ = p;
    m.dtype_ = dtype;
    m.shape_ = shape;
    m.strides_ = contiguousStrides(shape);
    return m;
  }

  /// Borrow `data` (not copied, not freed). `keepAlive` is held as long as any
  /// copy of this MemRef lives. Empty `strides` means row-major.
  static MemRef borrow(DType dtype, void *data, const Shape &shape,
                       Shape strides = {},
                       std::shared_ptr<void> keepAlive = nullptr,
                       bool readOnly = false) {
    if (!checkedByteSize(dtype, shape))
      throw std::invalid_argument("buddy: invalid or overflowing shape " +
                                  shapeString(shape));
    if (strides.empty())
      strides = contiguousStrides(shape);
    if (strides.size() != shape.size())
      throw std::invalid_argument("buddy: strides rank " +
                                  std::to_string(strides.size()) +
                                  " != shape rank " + std::to_string(shape.size()));
    MemRef m;
    m.storage_ = std::move(keepAlive);
    m.data_ = data;
    m.dtype_ = dtype;
    m.shape_ = shape;
    m.strides_ = std::move(strides);
    m.readOnly_ = readOnly;
    return m;
  }

  DType dtype() const { return dtype_; }
  const Shape &shape() const { return shape_; }
  const Shape &strides() const { return strides_; }
  size_t rank() const { return shape_.size(); }
  int64_t numElements() const { return *checkedNumElements(shape_); }
  size_t elementSize() const { return dtypeSize(dtype_); }
  /// Bytes of the elements (not of the strided span).
  size_t nbytes() const { return static_cast<size_t>(numElements()) * elementSize(); }
  void *data() const { return data_; }
  bool readOnly() const { return readOnly_; }
  bool isAligned() const {
    return reinterpret_cast<uintptr_t>(data_) % kBufferAlignment == 0;
  }
  /// The keep-alive / ownership handle (shared by all copies).
  const std::shared_ptr<void> &storage() const { return storage_; }
  TensorSpec spec(std::string name = {}) const {
    return TensorSpec{std::move(name), dtype_, shape_};
  }

  bool isContiguous() const {
    if (numElements() <= 1)
      return true;
    Shape expect = contiguousStrides(shape_);
    for (size_t i = 0; i < shape_.size(); ++i)
      if (shape_[i] != 1 && strides_[i] != expect[i])
        return false;
    return true;
  }

  /// Typed pointer to the first element; throws if T is not the dtype.
  template <typename T> T *dataAs() const {
    if (DTypeOf<std::remove_const_t<T>>::value != dtype_)
      throw std::invalid_argument(std::string("buddy: MemRef holds ") +
                                  dtypeName(dtype_) + ", accessed as " +
                                  dtypeName(DTypeOf<std::remove_const_t<T>>::value));
    return static_cast<T *>(data_);
  }

  /// Element at `index` (bounds-checked, honours strides).
  template <typename T> T &at(const Shape &index) const {
    T *base = dataAs<T>();
    if (index.size() != shape_.size())
      throw std::out_of_range("buddy: index rank " + std::to_string(index.size()) +
                              " != MemRef rank " + std::to_string(shape_.size()));
    int64_t off = 0;
    for (size_t i = 0; i < index.size(); ++i) {
      if (index[i] < 0 || index[i] >= shape_[i])
        throw std::out_of_range("buddy: index " + std::to_string(index[i]) +
                                " out of range for dim " + std::to_string(i) +
                                " of size " + std::to_string(shape_[i]));
      off += index[i] * strides_[i];
    }
    return base[off];
  }

  /// A row-major owned copy (shares nothing with this MemRef).
  MemRef contiguousCopy() const {
    MemRef out = allocate(dtype_, shape_);
    if (numElements() == 0)
      return out;
    const size_t es = elementSize();
    const char *src = static_cast<const char *>(data_);
    char *dst = static_cast<char *>(out.data_);
    Shape idx(shape_.size(), 0);
    for (int64_t n = 0, total = numElements(); n < total; ++n) {
      int64_t off = 0;
      for (size_t i = 0; i < idx.size(); ++i)
        off += idx[i] * strides_[i];
      std::memcpy(dst + n * es, src + off * static_cast<int64_t>(es), es);
      for (size_t i = idx.size(); i-- > 0;) {
        if (++idx[i] < shape_[i])
          break;
        idx[i] = 0;
      }
    }
    return out;
  }

  /// The MLIR descriptor (allocated = aligned = data, offset 0).
  MemRefDescriptor descriptor() const {
    return MemRefDescriptor(data_, data_, 0, shape_, strides_);
  }

  /// Throws ArgumentError unless this MemRef fits `spec`, a compiled
  /// function's `index`-th argument (identity layout: row-major required).
  void checkMatches(const TensorSpec &expected, size_t index, bool isOutput = false) const {
    std::string who = "argument " + std::to_string(index) +
                      (expected.name.empty() ? "" : " ('" + expected.name + "')");
    if (dtype_ != expected.dtype)
      throw ArgumentError(ArgumentError::Kind::DType,
                          who + ": expected dtype " + dtypeName(expected.dtype) +
                              ", got " + dtypeName(dtype_) + " (expected " +
                              expected.typeString() + ", got " + spec().typeString() + ")");
    if (shape_ != expected.shape)
      throw ArgumentError(ArgumentError::Kind::Shape,
                          who + ": expected shape " + shapeString(expected.shape) +
                              ", got " + shapeString(shape_) + " (expected " +
                              expected.typeString() + ", got " + spec().typeString() + ")");
    if (!isContiguous())
      throw ArgumentError(ArgumentError::Kind::Layout,
                          who + ": must be row-major contiguous");
    if (isOutput && readOnly_)
      throw ArgumentError(ArgumentError::Kind::ReadOnly,
                          who + ": is an output but its buffer is read-only");
  }

private:
  std::shared_ptr<void> storage_;
  void *data_ = nullptr;
  DType dtype_ = DType::F32;
  Shape shape_;
  Shape strides_;
  bool readOnly_ = false;
};

} // namespace buddy

#endif // BUDDY_MEMREF_H
