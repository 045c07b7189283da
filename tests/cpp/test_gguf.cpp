// GGUFReader: every metadata value type, tensor infos and data, and named,
// bounds-checked errors for truncated and corrupt files.
#include "buddy/gguf/GGUFReader.h"
#include "check.h"
#include "gguf_writer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

using buddy::gguf::GGUFReader;
using buddy_test::GGUFWriter;

static std::vector<uint8_t> sampleFile() {
  GGUFWriter w(64);
  w.u32("general.alignment", 64);
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
  w.strings("t.strs", {"a", "", "▁hello", "<0x0A>"});
  w.f32s("t.f32s", {0.5f, -2.0f, 3.25f});
  w.i32s("t.i32s", {1, -2, 3});
  std::vector<uint8_t> f32data(4 * 2 * 3);
  for (size_t i = 0; i < f32data.size(); ++i)
    f32data[i] = static_cast<uint8_t>(i);
  w.tensor("w.f32", {2, 3}, 0, f32data);
  std::vector<uint8_t> q8(34 * 2, 7); // Q8_0: 32 elements per 34-byte block
  w.tensor("w.q8", {64}, 8, q8);
  return w.bytes();
}

static void testReadsEverything() {
  std::string path = buddy_test::tempPath("sample.gguf");
  GGUFWriter::writeFile(path, sampleFile());
  GGUFReader r(path);
  CHECK_EQ(r.version(), 3u);
  CHECK_EQ(r.alignment(), 64u);
  CHECK_EQ(r.keys().size(), 16u);
  CHECK(r.keys()[1] == "general.architecture");
  CHECK(r.getString("general.architecture") == "llama");
  CHECK_EQ(r.getUInt("t.u8"), 200u);
  CHECK_EQ(r.getInt("t.i8"), -100);
  CHECK_EQ(r.getUInt("t.u16"), 60000u);
  CHECK_EQ(r.getInt("t.i16"), -30000);
  CHECK_EQ(r.getUInt("t.u32"), 4000000000u);
  CHECK_EQ(r.getInt("t.i32"), -2000000000);
  CHECK_EQ(r.getFloat("t.f32"), 1.5);
  CHECK(r.getBool("t.bool"));
  CHECK_EQ(r.getUInt("t.u64"), 1ull << 40);
  CHECK_EQ(r.getInt("t.i64"), -(1ll << 40));
  CHECK_EQ(r.getFloat("t.f64"), 0.25);
  const auto &s = r.getStringArray("t.strs");
  CHECK_EQ(s.size(), 4u);
  CHECK(s[0] == "a" && s[1].empty() && s[2] == "▁hello" && s[3] == "<0x0A>");
  CHECK(r.getFloatArray("t.f32s") == std::vector<double>({0.5, -2.0, 3.25}));
  CHECK(r.getIntArray("t.i32s") == std::vector<int64_t>({1, -2, 3}));
  CHECK(r.getBool("missing.key", false) == false);
  CHECK_EQ(r.getUInt("missing.key", 7), 7u);
  CHECK_THROWS(r.get("missing.key"), std::runtime_error, "no metadata key 'missing.key'");
  CHECK_THROWS(r.getString("t.u32"), std::runtime_error, "'t.u32' is u32, expected string");
  CHECK_THROWS(r.getUInt("t.i8"), std::runtime_error, "negative");
  CHECK_THROWS(r.getIntArray("t.f32s"), std::runtime_error, "array of f32");

  CHECK_EQ(r.tensors().size(), 2u);
  auto t = r.tensorData("w.f32");
  CHECK_EQ(t.numBytes, 24u);
  CHECK_EQ(t.type, 0u);
  CHECK_EQ(t.info->shape.size(), 2u);
  CHECK_EQ(t.info->numElements, 6u);
  CHECK_EQ((reinterpret_cast<uintptr_t>(t.data) - reinterpret_cast<uintptr_t>(t.data)) , 0u);
  CHECK_EQ(r.dataOffset() % 64, 0u);
  const auto *bytes = static_cast<const uint8_t *>(t.data);
  bool same = true;
  for (int i = 0; i < 24; ++i)
    same = same && bytes[i] == i;
  CHECK(same);
  auto q = r.tensorData("w.q8");
  CHECK_EQ(q.numBytes, 68u);
  CHECK_EQ(q.info->offset, 64u);
  CHECK_EQ(static_cast<const uint8_t *>(q.data)[67], 7);
  CHECK_THROWS(r.tensorData("nope"), std::runtime_error, "no tensor 'nope'");
  std::remove(path.c_str());
}

// The in-memory constructor parses the same image without a file.
static void testParsesABuffer() {
  std::vector<uint8_t> b = sampleFile();
  GGUFReader r(b.data(), b.size(), "<sample>");
  CHECK_EQ(r.keys().size(), 16u);
  CHECK_EQ(r.fileSize(), b.size());
  CHECK(r.getString("general.architecture") == "llama");
  CHECK(static_cast<const uint8_t *>(r.tensorData("w.q8").data) == b.data() + r.dataOffset() + 64);
  b[0] = 'X';
  CHECK_THROWS((GGUFReader{b.data(), b.size(), "<sample>"}), std::runtime_error,
               "'<sample>' at offset 0: bad magic");
}

// Every proper prefix of a valid file must be rejected with an error naming
// the file, an offset and "truncated" - never a crash or an out-of-bounds read.
static void testEveryTruncationIsANamedError() {
  std::vector<uint8_t> full = sampleFile();
  std::string path = buddy_test::tempPath("trunc.gguf");
  int named = 0;
  for (size_t n = 0; n < full.size(); ++n) {
    std::remove(path.c_str()); // a fresh file each time: rewriting in place waits on writeback
    GGUFWriter::writeFile(path, std::vector<uint8_t>(full.begin(), full.begin() + n));
    try {
      GGUFReader r(path);
      if (buddy_test::failures() < 10)
        buddy_test::fail(__FILE__, __LINE__, "prefix of " + std::to_string(n) + " bytes opened");
    } catch (const std::runtime_error &e) {
      std::string m = e.what();
      if (m.find(path) != std::string::npos && m.find("at offset ") != std::string::npos &&
          (m.find("truncated") != std::string::npos || m.find("past the end") != std::string::npos))
        ++named;
      else if (buddy_test::failures() < 10)
        buddy_test::fail(__FILE__, __LINE__, "prefix " + std::to_string(n) + ": " + m);
    }
  }
  CHECK_EQ(static_cast<size_t>(named), full.size());
  std::remove(path.c_str());
}

static void expectError(std::vector<uint8_t> bytes, const std::string &what) {
  std::string path = buddy_test::tempPath("corrupt.gguf");
  GGUFWriter::writeFile(path, bytes);
  CHECK_THROWS(GGUFReader{path}, std::runtime_error, what);
  CHECK_THROWS(GGUFReader{path}, std::runtime_error, path);
  std::remove(path.c_str());
}

template <typename T> static void poke(std::vector<uint8_t> &b, size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof(T));
}

static void testCorruptFiles() {
  std::vector<uint8_t> good = sampleFile();
  {
    auto b = good;
    b[0] = 'X';
    expectError(b, "at offset 0: bad magic");
  }
  {
    auto b = good;
    poke<uint32_t>(b, 4, 1);
    expectError(b, "unsupported GGUF version 1");
  }
  {
    auto b = good;
    poke<uint32_t>(b, 4, 0x03000000); // big-endian v3
    expectError(b, "big-endian");
  }
  {
    auto b = good;
    poke<uint64_t>(b, 16, 1ull << 60); // kv count
    expectError(b, "metadata count");
  }
  {
    auto b = good;
    poke<uint64_t>(b, 8, 1ull << 60); // tensor count
    expectError(b, "tensor count");
  }
  {
    auto b = good;
    poke<uint64_t>(b, 24, 1ull << 62); // length of the first key
    expectError(b, "at offset 24: string length");
  }
  // First key is "general.alignment" (17 bytes): its type sits at 24+8+17.
  {
    auto b = good;
    poke<uint32_t>(b, 49, 99);
    expectError(b, "at offset 49: key 'general.alignment' has unknown value type 99");
  }
  {
    auto b = good;
    poke<uint32_t>(b, 53, 48); // alignment not a power of two
    expectError(b, "not a power of two");
  }
  {
    GGUFWriter w;
    w.u32("a", 1);
    w.u32("a", 2);
    expectError(w.bytes(), "duplicate metadata key 'a'");
  }
  {
    GGUFWriter w;
    w.strings("arr", {"x", "y"});
    auto b = w.bytes();
    // key "arr": 24 + 8 + 3 -> type at 35, elem type at 39, count at 43.
    poke<uint64_t>(b, 43, 1ull << 40);
    expectError(b, "array 'arr' claims");
  }
  {
    GGUFWriter w;
    w.i32s("nums", {1, 2, 3});
    auto b = w.bytes();
    poke<uint64_t>(b, 44, 1ull << 40); // key "nums": count at 24+8+4+4+4
    expectError(b, "array 'nums' of 1099511627776 i32 runs past the end");
  }
  {
    GGUFWriter w;
    w.tensor("t", {4}, 77, std::vector<uint8_t>(16));
    expectError(w.bytes(), "tensor 't' has unknown ggml type 77");
  }
  {
    GGUFWriter w;
    w.tensor("t", {31}, 8, std::vector<uint8_t>(34)); // Q8_0 rows must be multiples of 32
    expectError(w.bytes(), "not a multiple of the Q8_0 block size");
  }
  {
    GGUFWriter w;
    w.tensor("t", {1024}, 0, std::vector<uint8_t>(16)); // claims 4 KiB, has 16 bytes
    expectError(w.bytes(), "data of tensor 't' (4096 bytes) runs past the end");
  }
  {
    GGUFWriter w;
    w.tensor("t", {4}, 0, std::vector<uint8_t>(16));
    auto b = w.bytes();
    // tensor info: name at 24 (8+1), rank at 33, dim at 37, type at 45, offset at 49.
    poke<uint64_t>(b, 49, 3);
    expectError(b, "offset 3 is not aligned to 32");
  }
  {
    GGUFWriter w;
    w.tensor("t", {4}, 0, std::vector<uint8_t>(16));
    auto b = w.bytes();
    poke<uint32_t>(b, 33, 100);
    expectError(b, "tensor 't' has rank 100");
  }
  {
    GGUFWriter w;
    w.boolean("flag", true);
    auto b = w.bytes();
    b[24 + 8 + 4 + 4] = 5;
    expectError(b, "bool 'flag' has value 5");
  }
}

// Regressions found by tests/fuzz/gguf_fuzzer.cpp (see docs/fuzzing.md).

// A quantized tensor of rank 0 is one element, not a whole block: it used to
// be accepted with numElements 1 and numBytes 0.
static void testRankZeroQuantizedTensor() {
  GGUFWriter w;
  w.tensor("s", {}, 2, std::vector<uint8_t>(18)); // Q4_0
  expectError(w.bytes(), "tensor 's' of 1 element(s) is not a whole number of Q4_0 blocks");
  GGUFWriter ok;
  ok.tensor("s", {}, 0, std::vector<uint8_t>(4)); // an F32 scalar is fine
  std::vector<uint8_t> b = ok.bytes();
  GGUFReader r(b.data(), b.size());
  CHECK_EQ(r.tensorData("s").numBytes, 4u);
}

// A corrupt count or length in a big file. Counts were bounded by the file
// size only, so a 1 TiB file could claim billions of keys / tensors / strings,
// and the reader reserved memory for all of them up front; every key and
// tensor name was also copied into a std::string before it was checked. All
// of these threw std::bad_alloc instead of a named error (or ran out of
// memory). The file is sparse: a header, then a hole of zeros.
static void testCorruptCountsInABigFile() {
  const uint64_t big = 1ull << 40;
  std::string path = buddy_test::tempPath("big.gguf");
  auto sparse = [&](const std::vector<uint8_t> &head) {
    std::remove(path.c_str());
    GGUFWriter::writeFile(path, head);
    return ::truncate(path.c_str(), static_cast<off_t>(big)) == 0;
  };
  auto header = [](uint64_t nTensors, uint64_t nKV) {
    std::vector<uint8_t> b = {'G', 'G', 'U', 'F', 3, 0, 0, 0};
    for (uint64_t v : {nTensors, nKV})
      for (int i = 0; i < 8; ++i)
        b.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return b;
  };
  auto appendU64 = [](std::vector<uint8_t> &b, uint64_t v) {
    for (int i = 0; i < 8; ++i)
      b.push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  if (!sparse(header(0, 0))) {
    std::fprintf(stderr, "skipped: cannot make a sparse 1 TiB file in $TMPDIR\n");
    std::remove(path.c_str());
    return;
  }
  // 2^36 keys claimed; the zeros parse as key "" (u8), then "" again.
  sparse(header(0, 1ull << 36));
  CHECK_THROWS(GGUFReader{path}, std::runtime_error, "duplicate metadata key ''");
  // 2^35 tensors claimed; the zeros parse as tensor "" (F32 scalar), then "" again.
  sparse(header(1ull << 35, 0));
  CHECK_THROWS(GGUFReader{path}, std::runtime_error, "duplicate tensor ''");
  {
    // An array claiming 2^36 strings whose first element is corrupt.
    std::vector<uint8_t> b = header(0, 1);
    appendU64(b, 1);
    b.push_back('a');
    for (uint8_t x : {9, 0, 0, 0, 8, 0, 0, 0}) // array of strings
      b.push_back(x);
    appendU64(b, 1ull << 36);
    appendU64(b, ~0ull);
    sparse(b);
    CHECK_THROWS(GGUFReader{path}, std::runtime_error, "of element of array 'a' runs past the end");
  }
  {
    // A key of 2^39 bytes (zeros) followed by a bad value type: the error must
    // not need a copy of the key.
    std::vector<uint8_t> b = header(0, 1);
    appendU64(b, 1ull << 39);
    sparse(b);
    if (FILE *f = std::fopen(path.c_str(), "r+b")) {
      const uint32_t badType = 99;
      std::fseek(f, static_cast<long>(32 + (1ull << 39)), SEEK_SET);
      std::fwrite(&badType, 4, 1, f);
      std::fclose(f);
    }
    CHECK_THROWS(GGUFReader{path}, std::runtime_error, "key '\\x00\\x00");
    CHECK_THROWS(GGUFReader{path}, std::runtime_error, "\\x00\\x00...' has unknown value type 99");
  }
  std::remove(path.c_str());
}

// A long key in front of a string array: the error context of every element
// used to be built as a std::string holding the key, so parsing took
// O(array length x key length) time (here 600 GB of copying: minutes).
static void testLongKeyBeforeAStringArray() {
  GGUFWriter w;
  w.strings(std::string(2 << 20, 'k'), std::vector<std::string>(300000));
  std::vector<uint8_t> b = w.bytes();
  auto t0 = std::chrono::steady_clock::now();
  GGUFReader r(b.data(), b.size());
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK_EQ(r.getStringArray(r.keys()[0]).size(), 300000u);
  CHECK(s < 2.0);
  b.resize(b.size() - 40); // truncated: the error quotes the key, clipped
  CHECK_THROWS((GGUFReader{b.data(), b.size()}), std::runtime_error,
               "array 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...'");
}

// Random corruption of the header region: the reader may accept the file or
// throw std::runtime_error, but nothing else (no crash, no other exception).
static void testRandomCorruptionNeverCrashes() {
  std::vector<uint8_t> good = sampleFile();
  std::mt19937 rng(1234);
  std::string path = buddy_test::tempPath("fuzz.gguf");
  int rejected = 0, other = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    auto b = good;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k)
      b[rng() % 400] = static_cast<uint8_t>(rng());
    std::remove(path.c_str());
    GGUFWriter::writeFile(path, b);
    try {
      GGUFReader r(path);
      for (const auto &t : r.tensors())
        (void)r.tensorData(t.name);
    } catch (const std::runtime_error &) {
      ++rejected;
    } catch (...) {
      ++other;
    }
  }
  CHECK_EQ(other, 0);
  CHECK(rejected > 100);
  std::remove(path.c_str());
}

int main() {
  testReadsEverything();
  testParsesABuffer();
  testEveryTruncationIsANamedError();
  testCorruptFiles();
  testRandomCorruptionNeverCrashes();
  testRankZeroQuantizedTensor();
  testCorruptCountsInABigFile();
  testLongKeyBeforeAStringArray();
  CHECK_THROWS(GGUFReader{"/nonexistent/x.gguf"}, std::runtime_error,
               "cannot open '/nonexistent/x.gguf'");
  return buddy_test::report();
}
