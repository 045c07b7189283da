// Fuzz target for the GGUF reader (buddy/gguf/GGUFReader.h).
//
// Built two ways by scripts/fuzz.sh gguf (and by ctest as fuzz.gguf):
//  - with clang's libFuzzer (-fsanitize=fuzzer): LLVMFuzzerTestOneInput below;
//  - otherwise with -DBUDDY_STANDALONE_FUZZ: a structure-aware mutation loop
//    over valid seed files (main() at the end), under ASan + UBSan.
// Each input is parsed twice with the in-memory constructor:
//  - from an exact-size heap copy, so ASan flags any read past its end;
//  - followed by a 64 MiB tail of 0xff bytes ("a big file"): nothing can be
//    parsed out of the tail (every length read there is ~2^64), so whatever
//    the reader allocates must be paid for by bytes of the input, not by a
//    count or length it was merely told. A global operator new enforces that:
//    no single allocation while parsing may exceed 64 x input size + 1 MiB.
// Oracle: no sanitizer report, no exception but std::runtime_error (the
// reader's error type; std::bad_alloc, std::length_error etc. are failures),
// no allocation above the cap, no input taking more than 5 s (standalone),
// and for every accepted file: every tensor's data lies inside the file and
// matches its shape and ggml type, every key, string and array lies inside
// the file and every byte of them is read, and the typed accessors agree.
#include "buddy/gguf/GGUFReader.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <new>
#include <random>
#include <string>
#include <typeinfo>
#include <vector>

using buddy::gguf::GGUFReader;
using buddy::gguf::ValueType;

// --- allocation cap ------------------------------------------------------------
extern "C" __attribute__((weak)) void __sanitizer_set_death_callback(void (*)(void));
extern "C" __attribute__((weak)) void __sanitizer_print_stack_trace();

namespace {
size_t gAllocCap = 0; // 0: not armed
void dumpInput();
void *cappedAlloc(size_t n) {
  if (gAllocCap && n > gAllocCap) {
    gAllocCap = 0;
    std::fprintf(stderr, "UNBOUNDED ALLOCATION: the reader asked for %zu bytes while parsing\n", n);
    if (__sanitizer_print_stack_trace)
      __sanitizer_print_stack_trace();
    dumpInput();
    std::abort();
  }
  if (void *p = std::malloc(n ? n : 1))
    return p;
  throw std::bad_alloc();
}
} // namespace
void *operator new(size_t n) { return cappedAlloc(n); }
void *operator new[](size_t n) { return cappedAlloc(n); }
void *operator new(size_t n, const std::nothrow_t &) noexcept {
  try { return cappedAlloc(n); } catch (...) { return nullptr; }
}
void *operator new[](size_t n, const std::nothrow_t &) noexcept {
  try { return cappedAlloc(n); } catch (...) { return nullptr; }
}
void operator delete(void *p) noexcept { std::free(p); }
void operator delete[](void *p) noexcept { std::free(p); }
void operator delete(void *p, size_t) noexcept { std::free(p); }
void operator delete[](void *p, size_t) noexcept { std::free(p); }
void operator delete(void *p, const std::nothrow_t &) noexcept { std::free(p); }
void operator delete[](void *p, const std::nothrow_t &) noexcept { std::free(p); }

namespace {

constexpr size_t kTail = 64u << 20;
constexpr size_t kMaxTailInput = 4u << 20;
std::map<std::string, uint64_t> gOutcomes;
const uint8_t *gInput = nullptr;
size_t gInputSize = 0;

void dumpInput() {
  if (!gInput)
    return;
  const char *dir = std::getenv("BUDDY_FUZZ_DIR");
  std::string path = std::string(dir && *dir ? dir : ".") + "/gguf-crash.gguf";
  if (std::FILE *f = std::fopen(path.c_str(), "wb")) {
    std::fwrite(gInput, 1, gInputSize, f);
    std::fclose(f);
    std::fprintf(stderr, "input (%zu bytes) written to %s\n", gInputSize, path.c_str());
  }
  gInput = nullptr;
}

[[noreturn]] void violated(const std::string &what) {
  gAllocCap = 0;
  std::fprintf(stderr, "INVARIANT VIOLATED: %s\n", what.c_str());
  dumpInput();
  std::abort();
}

/// "GGUF: '<fuzz>' at offset 123: key 'abc' has unknown value type 99" ->
/// "key '' has unknown value type N": one bucket per kind of error.
std::string bucket(const std::string &msg) {
  std::string m = msg;
  size_t at = m.find("at offset ");
  if (at != std::string::npos && m.find(": ", at) != std::string::npos)
    m = m.substr(m.find(": ", at) + 2);
  size_t q0 = m.find('\''), q1 = m.rfind('\''); // names may contain quotes
  if (q0 != std::string::npos && q1 > q0)
    m = m.substr(0, q0 + 1) + m.substr(q1);
  std::string out;
  bool inNum = false;
  for (char c : m) {
    bool digit = c >= '0' && c <= '9';
    if (digit && !inNum)
      out += 'N';
    else if (!digit)
      out += c;
    inNum = digit;
  }
  return out.size() > 70 ? out.substr(0, 70) : out;
}

volatile unsigned gSink;

/// [p, p + n) lies inside [base, base + size); read it (all of it when
/// `full`, else its ends: the tail is 64 MiB of 0xff).
void touch(const void *p, uint64_t n, const uint8_t *base, size_t size, bool full,
           const std::string &what) {
  uintptr_t a = reinterpret_cast<uintptr_t>(p), b = reinterpret_cast<uintptr_t>(base);
  if (n == 0)
    return;
  if (a < b || a - b > size || n > size - (a - b))
    violated(what + " (" + std::to_string(n) + " bytes) lies outside the file");
  const uint8_t *q = static_cast<const uint8_t *>(p);
  unsigned s = 0;
  if (full || n <= 4096) {
    for (uint64_t i = 0; i < n; ++i)
      s += q[i];
  } else {
    s = q[0] + q[n - 1];
  }
  gSink = gSink + s;
}

bool isPow2(uint64_t v) { return v && (v & (v - 1)) == 0; }

void checkAccepted(const GGUFReader &r, const uint8_t *base, size_t size, bool full) {
  if (r.fileSize() != size)
    violated("fileSize() differs from the buffer size");
  if (!isPow2(r.alignment()))
    violated("alignment " + std::to_string(r.alignment()) + " is not a power of two");
  // Metadata: every key, every value inside the file and readable.
  for (std::string_view k : r.keys()) {
    std::string ks(k.substr(0, 64));
    touch(k.data(), k.size(), base, size, full, "key '" + ks + "'");
    const buddy::gguf::Value *v = r.find(k);
    if (!v)
      violated("key '" + ks + "' listed but not found");
    if (v->type == ValueType::String) {
      touch(v->str.data(), v->str.size(), base, size, full, "string '" + ks + "'");
      if (r.getString(k).data() != v->str.data())
        violated("getString('" + ks + "') differs");
    } else if (v->isArray()) {
      if (v->elemType == ValueType::String) {
        if (v->strings.size() != v->count)
          violated("array '" + ks + "' holds " + std::to_string(v->strings.size()) +
                   " strings, claims " + std::to_string(v->count));
        for (std::string_view s : v->strings)
          touch(s.data(), s.size(), base, size, full, "element of array '" + ks + "'");
        if (&r.getStringArray(k) != &v->strings)
          violated("getStringArray('" + ks + "') differs");
      } else {
        size_t es = buddy::gguf::scalarSize(v->elemType);
        if (es == 0)
          violated("array '" + ks + "' of " + buddy::gguf::valueTypeName(v->elemType) + " accepted");
        if (v->count > size / es)
          violated("array '" + ks + "' count " + std::to_string(v->count) + " exceeds the file");
        touch(v->data, v->count * es, base, size, full, "array '" + ks + "'");
        if (full || v->count <= 4096) {
          if (r.getFloatArray(k).size() != v->count)
            violated("getFloatArray('" + ks + "') size");
          if (v->elemType != ValueType::F32 && v->elemType != ValueType::F64 &&
              r.getIntArray(k).size() != v->count)
            violated("getIntArray('" + ks + "') size");
        }
      }
    } else {
      size_t es = buddy::gguf::scalarSize(v->type);
      if (es == 0)
        violated("scalar '" + ks + "' of unknown type accepted");
      touch(v->data, es, base, size, full, "value of '" + ks + "'");
      (void)r.getFloat(k);
      if (v->type == ValueType::Bool)
        (void)r.getBool(k);
      if (v->type != ValueType::F32 && v->type != ValueType::F64) {
        (void)r.getInt(k);
        try {
          (void)r.getUInt(k);
        } catch (const std::runtime_error &) { // negative: a named error is fine
        }
      }
    }
  }
  // Tensors: shape, type and byte size agree; data inside the file.
  const uint64_t dataOff = r.dataOffset();
  if (!r.tensors().empty() && (dataOff > size || dataOff % r.alignment()))
    violated("data section at " + std::to_string(dataOff) + " in a file of " + std::to_string(size));
  for (const auto &t : r.tensors()) {
    std::string name(t.name.substr(0, 64));
    touch(t.name.data(), t.name.size(), base, size, full, "tensor name '" + name + "'");
    if (r.findTensor(t.name) != &t)
      violated("findTensor('" + name + "') is another tensor");
    const buddy::gguf::GGMLTypeInfo *ti = buddy::gguf::ggmlTypeInfo(t.type);
    if (!ti)
      violated("tensor '" + name + "' of unknown ggml type accepted");
    uint64_t n = 1;
    bool overflow = false;
    for (uint64_t d : t.shape) {
      if (d != 0 && n > UINT64_MAX / d)
        overflow = true;
      n *= d;
    }
    if (overflow || n != t.numElements)
      violated("tensor '" + name + "' numElements " + std::to_string(t.numElements) +
               " is not the product of its shape");
    if (n % ti->blockSize != 0)
      violated("tensor '" + name + "' of " + std::to_string(n) + " elements is not whole " +
               ti->name + " blocks");
    if (t.numBytes != n / ti->blockSize * ti->typeSize)
      violated("tensor '" + name + "' numBytes " + std::to_string(t.numBytes) + " for " +
               std::to_string(n) + " " + ti->name + " elements");
    if (t.offset % r.alignment())
      violated("tensor '" + name + "' offset not aligned");
    if (t.offset > size - dataOff || t.numBytes > size - dataOff - t.offset)
      violated("tensor '" + name + "' data [" + std::to_string(dataOff + t.offset) + ", +" +
               std::to_string(t.numBytes) + ") runs past the end of a file of " +
               std::to_string(size));
    buddy::gguf::TensorData d = r.tensorData(t.name);
    if (d.info != &t || d.numBytes != t.numBytes ||
        static_cast<const uint8_t *>(d.data) != base + dataOff + t.offset)
      violated("tensorData('" + name + "') disagrees with its info");
    touch(d.data, d.numBytes, base, size, full, "data of tensor '" + name + "'");
  }
}

void parseOne(const uint8_t *data, size_t size, size_t inputSize, bool full, const char *mode) {
  try {
    std::unique_ptr<GGUFReader> r;
    gAllocCap = 64 * inputSize + (1u << 20);
    try {
      r = std::make_unique<GGUFReader>(data, size, "<fuzz>");
    } catch (...) {
      gAllocCap = 0;
      throw;
    }
    gAllocCap = 0;
    checkAccepted(*r, data, size, full);
    ++gOutcomes[std::string(mode) + "accepted"];
  } catch (const std::runtime_error &e) {
    if (typeid(e) != typeid(std::runtime_error))
      violated(std::string("exception of type ") + typeid(e).name() + ": " + e.what());
    ++gOutcomes[std::string(mode) + bucket(e.what())];
  } catch (const std::exception &e) {
    violated(std::string("exception of type ") + typeid(e).name() + ": " + e.what());
  } catch (...) {
    violated("exception of unknown type");
  }
}

std::vector<uint8_t> &tailBuffer() {
  static std::vector<uint8_t> buf(kMaxTailInput + kTail, 0xff);
  return buf;
}
size_t gTailDirty = 0;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gInput = data;
  gInputSize = size;
  {
    // An exact-size heap copy: ASan flags any read past its end.
    std::unique_ptr<uint8_t[]> copy(new uint8_t[size ? size : 1]);
    if (size)
      std::memcpy(copy.get(), data, size);
    parseOne(copy.get(), size, size, true, "");
  }
  if (size <= kMaxTailInput) {
    std::vector<uint8_t> &buf = tailBuffer();
    std::memset(buf.data(), 0xff, gTailDirty);
    if (size)
      std::memcpy(buf.data(), data, size);
    gTailDirty = size;
    parseOne(buf.data(), size + kTail, size, false, "tail: ");
  }
  gInput = nullptr;
  return 0;
}

#ifdef BUDDY_STANDALONE_FUZZ

#include "gguf_writer.h"

namespace {

std::vector<uint8_t> readFile(const std::string &path) {
  std::vector<uint8_t> out;
  if (std::FILE *f = std::fopen(path.c_str(), "rb")) {
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
      out.insert(out.end(), buf, buf + n);
    std::fclose(f);
  }
  return out;
}

/// A field of a seed file that structure-aware mutations rewrite.
enum class Kind { Version, TensorCount, KVCount, StrLen, ValueType, ElemType, ArrayCount,
                  NDims, Dim, GGMLType, Offset };
struct Field {
  Kind kind;
  size_t at;
  unsigned width;
  uint64_t strLen = 0; // StrLen: the string's length (its bytes follow the field)
};

/// Walks a valid seed (independently of the reader) and lists its fields.
struct Locator {
  const std::vector<uint8_t> &b;
  size_t pos = 0;
  std::vector<Field> out;
  uint64_t get(size_t at, unsigned w) const {
    uint64_t v = 0;
    for (unsigned i = 0; i < w; ++i)
      v |= uint64_t(b.at(at + i)) << (8 * i);
    return v;
  }
  uint64_t field(Kind k, unsigned w) {
    uint64_t v = get(pos, w);
    out.push_back({k, pos, w});
    pos += w;
    return v;
  }
  void str() {
    uint64_t n = field(Kind::StrLen, 8);
    out.back().strLen = n;
    pos += n;
  }
  void value(uint32_t t) {
    if (t == 8) {
      str();
    } else if (t == 9) {
      uint32_t et = static_cast<uint32_t>(field(Kind::ElemType, 4));
      uint64_t n = field(Kind::ArrayCount, 8);
      for (uint64_t i = 0; i < n; ++i)
        value(et);
    } else {
      pos += buddy::gguf::scalarSize(static_cast<ValueType>(t));
    }
  }
  std::vector<Field> run() {
    pos = 4;
    field(Kind::Version, 4);
    uint64_t nt = field(Kind::TensorCount, 8);
    uint64_t nkv = field(Kind::KVCount, 8);
    for (uint64_t i = 0; i < nkv; ++i) {
      str();
      value(static_cast<uint32_t>(field(Kind::ValueType, 4)));
    }
    for (uint64_t i = 0; i < nt; ++i) {
      str();
      uint32_t nd = static_cast<uint32_t>(field(Kind::NDims, 4));
      for (uint32_t d = 0; d < nd; ++d)
        field(Kind::Dim, 8);
      field(Kind::GGMLType, 4);
      field(Kind::Offset, 8);
    }
    return out;
  }
};

void put(std::vector<uint8_t> &b, size_t at, unsigned width, uint64_t v) {
  for (unsigned i = 0; i < width && at + i < b.size(); ++i)
    b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

std::vector<uint8_t> bytesOf(size_t n, unsigned mul) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = static_cast<uint8_t>(i * mul + 1);
  return v;
}

template <typename T> std::vector<uint8_t> le(std::initializer_list<T> xs) {
  std::vector<uint8_t> out;
  for (T x : xs) {
    uint8_t b[sizeof(T)];
    std::memcpy(b, &x, sizeof(T));
    out.insert(out.end(), b, b + sizeof(T));
  }
  return out;
}

std::vector<uint8_t> encStrings(std::initializer_list<std::string> xs) {
  std::vector<uint8_t> out;
  for (const std::string &s : xs) {
    auto n = le<uint64_t>({s.size()});
    out.insert(out.end(), n.begin(), n.end());
    out.insert(out.end(), s.begin(), s.end());
  }
  return out;
}

std::vector<std::vector<uint8_t>> makeSeeds(std::string *vocabNote, bool *hasVocab) {
  using buddy_test::GGUFWriter;
  std::vector<std::vector<uint8_t>> seeds;
  seeds.push_back(GGUFWriter().bytes()); // header only
  {
    // Every value type, scalar and array.
    GGUFWriter w;
    w.str("general.architecture", "llama");
    w.u8("t.u8", 200);
    w.i8("t.i8", -100);
    w.u16("t.u16", 60000);
    w.i16("t.i16", -30000);
    w.u32("t.u32", 4000000000u);
    w.i32("t.i32", -2000000000);
    w.f32("t.f32", 1.5f);
    w.boolean("t.bool", true);
    w.u64("t.u64", 1ull << 40);
    w.i64("t.i64", -(1ll << 40));
    w.f64("t.f64", 0.25);
    w.str("t.empty", "");
    w.strings("t.strs", {"a", "", "\xe2\x96\x81hello", "<0x0A>"});
    w.strings("t.nostrs", {});
    w.rawArray("t.u8s", 0, 3, le<uint8_t>({1, 2, 255}));
    w.rawArray("t.i8s", 1, 2, le<int8_t>({-1, 127}));
    w.rawArray("t.u16s", 2, 2, le<uint16_t>({1, 65535}));
    w.rawArray("t.i16s", 3, 2, le<int16_t>({-32768, 5}));
    w.rawArray("t.u32s", 4, 2, le<uint32_t>({7, 0xffffffffu}));
    w.i32s("t.i32s", {1, -2, 3});
    w.f32s("t.f32s", {0.5f, -2.0f, 3.25f});
    w.rawArray("t.bools", 7, 3, le<uint8_t>({0, 1, 1}));
    w.rawArray("t.u64s", 10, 1, le<uint64_t>({~0ull}));
    w.rawArray("t.i64s", 11, 2, le<int64_t>({-1, 1}));
    w.rawArray("t.f64s", 12, 2, le<double>({1e300, -0.0}));
    w.rawArray("t.none", 6, 0, {});
    seeds.push_back(w.bytes());
  }
  {
    // Nested arrays (valid GGUF; the reader rejects arrays of arrays).
    GGUFWriter w;
    std::vector<uint8_t> inner = le<uint32_t>({0});
    auto n = le<uint64_t>({2});
    inner.insert(inner.end(), n.begin(), n.end());
    inner.push_back(4);
    inner.push_back(5);
    std::vector<uint8_t> two = inner;
    two.insert(two.end(), inner.begin(), inner.end());
    w.rawArray("t.nested", 9, 2, two);
    std::vector<uint8_t> sinner = le<uint32_t>({8});
    auto n1 = le<uint64_t>({2});
    sinner.insert(sinner.end(), n1.begin(), n1.end());
    auto ss = encStrings({"x", "yz"});
    sinner.insert(sinner.end(), ss.begin(), ss.end());
    w.rawArray("t.nested_strs", 9, 1, sinner);
    seeds.push_back(w.bytes());
  }
  {
    // Tensors of several ggml types and ranks, 64-byte alignment.
    GGUFWriter w(64);
    w.u32("general.alignment", 64);
    w.str("general.name", "fuzz");
    w.tensor("w.f32", {2, 3}, 0, bytesOf(24, 3));
    w.tensor("w.f16", {4, 1, 2}, 1, bytesOf(16, 5));
    w.tensor("w.q4_0", {32, 2}, 2, bytesOf(36, 7));
    w.tensor("w.q8_0", {64}, 8, bytesOf(68, 11));
    w.tensor("w.q4_k", {256}, 12, bytesOf(144, 13));
    w.tensor("w.i8", {5}, 24, bytesOf(5, 17));
    w.tensor("w.bf16", {1, 1, 1, 3}, 30, bytesOf(6, 19));
    w.tensor("w.scalar", {}, 26, bytesOf(4, 23));
    w.tensor("w.empty", {0, 7}, 0, {});
    seeds.push_back(w.bytes());
  }
  {
    // Version 2, alignment as u64 (16) and as u8 (1); a tensor at the very end.
    GGUFWriter w(16);
    w.u64("general.alignment", 16);
    w.strings("tokenizer.ggml.tokens", {"<s>", "</s>", "a", "b"});
    w.f32s("tokenizer.ggml.scores", {0, 0, -1, -2});
    w.tensor("t", {3}, 0, bytesOf(12, 29));
    std::vector<uint8_t> b = w.bytes();
    put(b, 4, 4, 2);
    seeds.push_back(b);
    GGUFWriter w1(1);
    w1.u8("general.alignment", 1);
    w1.tensor("a", {3}, 24, bytesOf(3, 31));
    w1.tensor("b", {1}, 25, bytesOf(2, 37));
    seeds.push_back(w1.bytes());
  }
  const char *env = std::getenv("BUDDY_FUZZ_GGUF_VOCAB");
  const char *home = std::getenv("HOME");
  std::string vocab = env ? env
                          : std::string(home ? home : "") +
                                "/.cache/buddy/data/llama.cpp-vocab/ggml-vocab-llama-spm.gguf";
  std::vector<uint8_t> v = vocab.empty() ? std::vector<uint8_t>() : readFile(vocab);
  if (!v.empty() && v.size() <= kMaxTailInput) {
    seeds.push_back(v);
    *hasVocab = true;
    *vocabNote = vocab + " (" + std::to_string(v.size()) + " bytes)";
  } else {
    *vocabNote = "none (" + (vocab.empty() ? std::string("disabled") : vocab + " absent") + ")";
  }
  return seeds;
}

} // namespace

int main(int argc, char **argv) {
  if (__sanitizer_set_death_callback)
    __sanitizer_set_death_callback(dumpInput);
  if (argc > 1 && std::string(argv[1]) == "--run") { // replay files
    for (int i = 2; i < argc; ++i) {
      std::vector<uint8_t> b = readFile(argv[i]);
      LLVMFuzzerTestOneInput(b.data(), b.size());
    }
    for (const auto &[k, v] : gOutcomes)
      std::printf("  %-60s %llu\n", k.c_str(), static_cast<unsigned long long>(v));
    return 0;
  }
  // fuzz_gguf [seconds=60] [seed=1] [max_execs=0]: stops at whichever limit
  // comes first; seconds <= 0 or max_execs = 0 means no such limit.
  double seconds = argc > 1 ? std::atof(argv[1]) : 60;
  unsigned seed = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) : 1;
  uint64_t maxExecs = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 0;
  std::string vocabNote;
  bool hasVocab = false;
  auto seeds = makeSeeds(&vocabNote, &hasVocab);
  std::vector<std::vector<Field>> fields;
  for (const auto &sd : seeds) {
    fields.push_back(Locator{sd}.run());
    LLVMFuzzerTestOneInput(sd.data(), sd.size()); // seeds must not crash either
  }
  std::printf("seeds: %zu (vocab: %s)\n", seeds.size(), vocabNote.c_str());
  std::mt19937_64 rng(seed);
  auto pick = [&](uint64_t n) { return n ? rng() % n : 0; };
  uint64_t execs = 0;
  double slowest = 0;
  auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  for (;; ++execs) {
    if (maxExecs && execs >= maxExecs)
      break;
    if (seconds > 0 && (execs & 255) == 0 && elapsed() >= seconds)
      break;
    // The vocab (~700 KB, 32k strings) is slow to copy and parse: 1 in 16.
    size_t which = pick(seeds.size());
    if (hasVocab && which == seeds.size() - 1 && pick(16))
      which = pick(seeds.size() - 1);
    std::vector<uint8_t> b = seeds[which];
    const std::vector<Field> &fs = fields[which];
    const uint64_t size = b.size();
    const uint64_t interesting[] = {0, 1, 2, 3, 4, 7, 8, 9, 12, 13, 16, 24, 31, 32, 33, 63, 64,
                                    255, 256, 4096, 65535, 65536, 0x7fffffff, 0x80000000ull,
                                    0xffffffffull, 1ull << 32, (1ull << 32) + 1, 1ull << 62,
                                    0x7fffffffffffffffull, 0x8000000000000000ull, ~0ull,
                                    ~0ull - 7, ~0ull - 31, size, size - 1, size + 1, size / 8,
                                    size / 13, size / 24};
    const size_t nInteresting = sizeof interesting / sizeof *interesting;
    if (!fs.empty() && pick(4) != 0) {
      // Structure-aware: rewrite one field of the seed, or grow a string.
      const Field &f = fs[pick(fs.size())];
      uint64_t v = interesting[pick(nInteresting)];
      switch (pick(4)) {
      case 0: v = rng() >> pick(64); break;
      case 1: // small perturbation of the current value
        v = Locator{b}.get(f.at, f.width) + static_cast<uint64_t>(static_cast<int64_t>(pick(9)) - 4);
        break;
      default: break;
      }
      switch (f.kind) {
      case Kind::ValueType:
      case Kind::ElemType:
        if (pick(2)) v = pick(14);
        break;
      case Kind::GGMLType:
        if (pick(2)) v = pick(41);
        break;
      case Kind::NDims:
        if (pick(2)) v = pick(10);
        break;
      case Kind::Offset:
        if (pick(2)) v &= ~uint64_t(63);
        break;
      default: break;
      }
      if (f.kind == Kind::StrLen && pick(3) == 0) {
        // Grow the string in place: a long key / value / name that still parses.
        static const uint64_t grow[] = {1, 31, 200, 4096, 65536, 300000};
        uint64_t g = grow[pick(6)];
        b.insert(b.begin() + f.at + 8 + f.strLen, g, static_cast<uint8_t>('a' + pick(26)));
        put(b, f.at, 8, f.strLen + g);
      } else {
        put(b, f.at, f.width, v);
      }
    }
    int nmut = static_cast<int>(pick(4));
    for (int k = 0; k < nmut; ++k) {
      // Aim most byte edits at the header + metadata + tensor infos.
      uint64_t region = b.size();
      uint64_t head = std::min<uint64_t>(region, fs.empty() ? region : fs.back().at + 16);
      uint64_t at = pick(4) == 0 ? pick(region) : pick(head);
      if (b.empty())
        at = 0;
      switch (pick(8)) {
      case 0: // bit flip
        if (!b.empty()) b[at] ^= static_cast<uint8_t>(1u << pick(8));
        break;
      case 1: // random byte
        if (!b.empty()) b[at] = static_cast<uint8_t>(rng());
        break;
      case 2: // boundary value, 1/2/4/8 bytes little-endian
      case 3: {
        unsigned width = 1u << pick(4);
        uint64_t v = interesting[pick(nInteresting)];
        if (pick(3) == 0) v = b.size() + pick(3) - 1;
        put(b, at, width, v);
        break;
      }
      case 4: // truncate
        b.resize(pick(b.size() + 1));
        break;
      case 5: // append random bytes
        for (uint64_t n = pick(64); n--;) b.push_back(static_cast<uint8_t>(rng()));
        break;
      case 6: // erase a range
        if (!b.empty()) b.erase(b.begin() + at, b.begin() + std::min<uint64_t>(b.size(), at + 1 + pick(16)));
        break;
      case 7: // insert a range
        b.insert(b.begin() + std::min<uint64_t>(at, b.size()), pick(16) + 1, static_cast<uint8_t>(rng()));
        break;
      }
    }
    auto t0 = std::chrono::steady_clock::now();
    LLVMFuzzerTestOneInput(b.data(), b.size());
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    slowest = std::max(slowest, dt);
    if (dt > 5.0) {
      gInput = b.data();
      gInputSize = b.size();
      violated("input of " + std::to_string(b.size()) + " bytes took " + std::to_string(dt) +
               " s to parse (hang?)");
    }
  }
  double t = elapsed();
  std::printf("execs: %llu (x2 parses) in %.1f s, %.0f execs/s, slowest %.3f s, crashes: 0\n",
              static_cast<unsigned long long>(execs), t, execs / t, slowest);
  std::printf("outcomes (parses):\n");
  for (const auto &[k, v] : gOutcomes)
    std::printf("  %-64s %llu\n", k.c_str(), static_cast<unsigned long long>(v));
  return 0;
}

#endif // BUDDY_STANDALONE_FUZZ
