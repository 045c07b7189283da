// Weight files: streaming writer, mmap reader, and rejection of truncated,
// corrupt or mismatched files with an error naming the problem.
#include "buddy/Model.h"
#include "buddy/WeightFile.h"
#include "check.h"

#include <fstream>
#include <iterator>

using namespace buddy;
using K = WeightFileError::Kind;
using Bytes = std::vector<unsigned char>;

static std::string tmpDir() {
  const char *t = std::getenv("TMPDIR");
  std::string dir = std::string(t ? t : "/tmp") + "/buddy_test_weightfile_" + std::to_string(::getpid());
  ::mkdir(dir.c_str(), 0700);
  return dir;
}
static const std::string kDir = tmpDir();

static Bytes readAll(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), {});
}
static void writeAll(const std::string &path, const Bytes &b) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char *>(b.data()), static_cast<std::streamsize>(b.size()));
}
static uint64_t get64(const Bytes &b, size_t at) { return weightfile::getLE(b.data() + at, 8); }
static void put64(Bytes &b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    b[at + i] = static_cast<unsigned char>(v >> (8 * i));
}
/// Recompute the header checksum, as a buggy writer that made a wrong table would.
static void rehash(Bytes &b) {
  uint64_t tableOffset = get64(b, 40), tableSize = get64(b, 48);
  uint64_t h = weightfile::headerChecksum(b.data(), b.data() + tableOffset, tableSize);
  put64(b, 64, h);
}

/// Expect opening `bytes` (from a real file, through mmap) to fail with `kind`.
static void expectRejected(const Bytes &bytes, K kind, const std::string &substr, int line) {
  std::string path = kDir + "/corrupt.bwt";
  writeAll(path, bytes);
  ++buddy_test::checks();
  try {
    WeightFile::open(path);
    buddy_test::fail(__FILE__, line, "corrupt file was accepted (expected " +
                                         std::string(WeightFileError::kindName(kind)) + ")");
  } catch (const WeightFileError &e) {
    std::string what = e.what();
    if (e.kind() != kind || what.find(substr) == std::string::npos ||
        what.find(WeightFileError::kindName(kind)) == std::string::npos ||
        what.find(path) == std::string::npos)
      buddy_test::fail(__FILE__, line, "wrong error: " + what);
  }
}
#define EXPECT_REJECTED(bytes, kind, substr) expectRejected(bytes, kind, substr, __LINE__)

static std::string writeSample() {
  std::string path = kDir + "/sample.bwt";
  WeightFileWriter w(path);
  std::vector<float> f(15);
  for (size_t i = 0; i < f.size(); ++i)
    f[i] = 0.5f * static_cast<float>(i) - 3.0f;
  w.add("layer.weight", DType::F32, {3, 5}, f.data());
  int8_t i8[3] = {-128, 0, 127};
  w.add("q", DType::I8, {3}, i8);
  int64_t scalar = -42;
  w.add("step", DType::I64, {}, &scalar);
  bool flags[4] = {true, false, false, true};
  w.add("mask", DType::Bool, {2, 2}, flags);
  uint16_t bf[2] = {0x3f80, 0xc000}; // bf16 1.0, -2.0
  w.add("bf", DType::BF16, {2}, bf);
  w.add("empty", DType::F16, {0, 7}, nullptr);
  CHECK_EQ(w.count(), 6u);
  w.close();
  return path;
}

static void testRoundTrip() {
  std::string path = writeSample();
  CHECK(::access((path + ".tmp").c_str(), F_OK) != 0); // renamed away
  MemRef weight;
  {
    WeightFile wf = WeightFile::open(path, /*verifyData=*/true);
    CHECK_EQ(wf.size(), 6u);
    CHECK((wf.names() == std::vector<std::string>{"layer.weight", "q", "step", "mask", "bf", "empty"}));
    CHECK(wf.contains("q") && !wf.contains("nope"));
    for (const auto &e : wf.entries())
      CHECK(e.offset % 64 == 0);
    weight = wf.tensor("layer.weight");
    CHECK(weight.readOnly());
    CHECK(weight.isAligned());
    CHECK((weight.shape() == Shape{3, 5}));
    CHECK_EQ(wf.tensor("q").at<int8_t>({0}), -128);
    CHECK_EQ(wf.tensor("q").at<int8_t>({2}), 127);
    CHECK_EQ(wf.tensor("step").at<int64_t>({}), -42);
    CHECK_EQ(wf.tensor("mask").at<bool>({1, 1}), true);
    CHECK_EQ(wf.tensor("mask").at<bool>({0, 1}), false);
    CHECK_EQ(wf.tensor("bf").dataAs<BFloat16>()[1].bits, 0xc000);
    CHECK_EQ(wf.tensor("empty").nbytes(), 0u);
    CHECK(wf.tensor("empty").dtype() == DType::F16);
    CHECK_THROWS(wf.tensor("nope"), std::out_of_range, "no tensor named 'nope'");
  }
  // The tensor keeps the mapping alive after the WeightFile is gone.
  CHECK_EQ(weight.at<float>({2, 4}), 4.0f);
  CHECK_EQ(weight.at<float>({0, 0}), -3.0f);
}

static void testWriterErrors() {
  std::string path = kDir + "/writer.bwt";
  {
    WeightFileWriter w(path);
    float x = 1;
    w.add("x", DType::F32, {}, &x);
    CHECK_THROWS(w.add("x", DType::F32, {}, &x), WeightFileError, "duplicate tensor name 'x'");
    CHECK_THROWS(w.add("", DType::F32, {}, &x), WeightFileError, "invalid entry");
    CHECK_THROWS(w.add("big", DType::F32, {INT64_MAX, 2}, &x), WeightFileError,
                 "overflow in shape product");
    CHECK_THROWS(w.add("neg", DType::F32, {-1}, &x), WeightFileError, "overflow in shape product");
    w.close();
    CHECK_THROWS(w.add("y", DType::F32, {}, &x), WeightFileError, "after close()");
  }
  CHECK_EQ(WeightFile::open(path).size(), 1u);
  {
    // Without close() nothing is left behind.
    WeightFileWriter w(kDir + "/abandoned.bwt");
  }
  CHECK(::access((kDir + "/abandoned.bwt").c_str(), F_OK) != 0);
  CHECK(::access((kDir + "/abandoned.bwt.tmp").c_str(), F_OK) != 0);
  CHECK_THROWS(WeightFileWriter("/nonexistent-dir/x.bwt"), WeightFileError, "cannot create");
}

static void testCorruptions() {
  const Bytes good = readAll(writeSample());
  const uint64_t tableOffset = get64(good, 40);
  // The first table entry: u32 len, "layer.weight", dtype, rank, u16, dims[2], offset, nbytes.
  const size_t e0 = tableOffset, e0Dtype = e0 + 4 + 12, e0Rank = e0Dtype + 1,
               e0Dims = e0Dtype + 4, e0Offset = e0Dims + 16, e0Nbytes = e0Offset + 8;
  CHECK_EQ(good[e0], 12);
  CHECK_EQ(good[e0Rank], 2);

  CHECK_THROWS(WeightFile::open(kDir + "/missing.bwt"), WeightFileError, "I/O error: cannot open");
  EXPECT_REJECTED(Bytes(good.begin(), good.begin() + 40), K::Truncated, "file has 40 bytes");
  EXPECT_REJECTED(Bytes(), K::Truncated, "file has 0 bytes");
  {
    Bytes b = good;
    b[0] = 'X';
    EXPECT_REJECTED(b, K::BadMagic, "not a Buddy weight file");
  }
  {
    Bytes b = good;
    b[8] = 2;
    EXPECT_REJECTED(b, K::UnsupportedVersion, "version 2");
  }
  {
    Bytes b = good;
    b[12] = 1;
    EXPECT_REJECTED(b, K::UnsupportedVersion, "unknown flags");
  }
  // Truncated anywhere after the fixed header: the table no longer fits.
  EXPECT_REJECTED(Bytes(good.begin(), good.end() - 1), K::HeaderOutOfBounds, "tensor table");
  EXPECT_REJECTED(Bytes(good.begin(), good.begin() + 200), K::HeaderOutOfBounds, "");
  {
    Bytes b = good;
    b.push_back(0);
    EXPECT_REJECTED(b, K::HeaderOutOfBounds, "1 bytes after the tensor table");
  }
  {
    Bytes b = good;
    put64(b, 32, UINT64_MAX - 100); // dataSize: overflow in dataOffset + dataSize
    EXPECT_REJECTED(b, K::HeaderOutOfBounds, "data region");
  }
  {
    Bytes b = good;
    put64(b, 48, UINT64_MAX); // tableSize
    EXPECT_REJECTED(b, K::HeaderOutOfBounds, "tensor table");
  }
  {
    Bytes b = good;
    b[e0 + 4] = 'L'; // a name byte: header checksum
    EXPECT_REJECTED(b, K::ChecksumMismatch, "header checksum");
  }
  {
    Bytes b = good;
    put64(b, 16, 1000000); // count, checksum fixed up
    rehash(b);
    EXPECT_REJECTED(b, K::HeaderOutOfBounds, "count 1000000");
  }
  {
    Bytes b = good;
    put64(b, 16, 7); // one entry more than the table holds
    rehash(b);
    EXPECT_REJECTED(b, K::HeaderOutOfBounds, "entry 6");
  }
  {
    Bytes b = good;
    put64(b, 16, 5); // one entry fewer: bytes left in the table
    rehash(b);
    EXPECT_REJECTED(b, K::HeaderOutOfBounds, "bytes after its 5 entries");
  }
  {
    Bytes b = good;
    b[e0Dtype] = 42;
    rehash(b);
    EXPECT_REJECTED(b, K::UnknownDType, "tensor 'layer.weight' has dtype code 42");
  }
  {
    Bytes b = good;
    put64(b, e0Dims, uint64_t(1) << 62);
    put64(b, e0Dims + 8, 16);
    rehash(b);
    EXPECT_REJECTED(b, K::ShapeOverflow, "tensor 'layer.weight'");
  }
  {
    // 0 x 2^62 holds no bytes, but its strides overflow: rejected too.
    Bytes b = good;
    put64(b, e0Dims, 0);
    put64(b, e0Dims + 8, uint64_t(1) << 62);
    put64(b, e0Nbytes, 0);
    rehash(b);
    EXPECT_REJECTED(b, K::ShapeOverflow, "0x4611686018427387904");
  }
  {
    Bytes b = good;
    put64(b, e0Dims, static_cast<uint64_t>(-3));
    rehash(b);
    EXPECT_REJECTED(b, K::ShapeOverflow, "-3x5");
  }
  {
    Bytes b = good;
    put64(b, e0Nbytes, 64);
    rehash(b);
    EXPECT_REJECTED(b, K::InvalidEntry, "needs 60 bytes, entry says 64");
  }
  {
    Bytes b = good;
    b[e0Rank] = 200;
    rehash(b);
    EXPECT_REJECTED(b, K::InvalidEntry, "rank 200");
  }
  {
    Bytes b = good;
    put64(b, e0Offset, get64(b, 40)); // points at the table, past the data region
    rehash(b);
    EXPECT_REJECTED(b, K::TensorOutOfBounds, "outside the data region");
  }
  {
    Bytes b = good;
    put64(b, e0Offset, UINT64_MAX - 63); // offset + nbytes would wrap
    rehash(b);
    EXPECT_REJECTED(b, K::TensorOutOfBounds, "outside the data region");
  }
  {
    Bytes b = good;
    put64(b, e0Offset, get64(b, e0Offset) + 8);
    rehash(b);
    EXPECT_REJECTED(b, K::TensorOutOfBounds, "not a multiple of 64");
  }
  {
    Bytes b = good;
    b[e0] = 0; // empty name
    rehash(b);
    EXPECT_REJECTED(b, K::InvalidEntry, "name of 0 bytes");
  }
  {
    Bytes b = good;
    put64(b, e0, 0xffffffff); // name length (and the first name bytes)
    rehash(b);
    EXPECT_REJECTED(b, K::InvalidEntry, "name of 4294967295 bytes");
  }
  {
    // Rename "step" (third entry) to "mask", a name used by the fourth.
    Bytes b = good;
    size_t e1 = e0Nbytes + 8; // entry "q"
    CHECK_EQ(b[e1], 1);
    CHECK_EQ(b[e1 + 4], 'q');
    // entry "step" follows "q": len(4) 'q' dtype rank res dims[1] offset nbytes
    size_t e2 = e1 + 4 + 1 + 4 + 8 + 16;
    CHECK_EQ(b[e2], 4);
    b[e2 + 4] = 'm', b[e2 + 5] = 'a', b[e2 + 6] = 's', b[e2 + 7] = 'k'; // "step" -> "mask"
    rehash(b);
    EXPECT_REJECTED(b, K::InvalidEntry, "duplicate tensor 'mask'");
  }
  {
    // Data corruption passes open() (lazy) and is caught by verifyData().
    Bytes b = good;
    b[get64(good, 24) + 3] ^= 0x10;
    std::string path = kDir + "/data.bwt";
    writeAll(path, b);
    WeightFile wf = WeightFile::open(path);
    CHECK_THROWS(wf.verifyData(), WeightFileError, "checksum mismatch: data checksum");
    CHECK_THROWS(WeightFile::open(path, /*verifyData=*/true), WeightFileError, "data checksum");
  }
  // Every single-byte truncation is rejected without reading out of bounds.
  int rejected = 0;
  for (size_t n = 0; n < good.size(); ++n) {
    Bytes b(good.begin(), good.begin() + n);
    auto keep = std::make_shared<Bytes>(b);
    try {
      WeightFile::fromBuffer(keep, keep->data(), keep->size(), "<truncated>");
    } catch (const WeightFileError &) {
      ++rejected;
    }
  }
  CHECK_EQ(static_cast<size_t>(rejected), good.size());
}

// y = W x + b with the `_buddy_<fn>` ABI: W [2x3] and b [2] are parameters.
extern "C" void packed_affine(void **args) {
  auto *w = static_cast<StridedMemRef<float, 2> *>(args[0]);
  auto *b = static_cast<StridedMemRef<float, 1> *>(args[1]);
  auto *x = static_cast<StridedMemRef<float, 1> *>(args[2]);
  auto *y = static_cast<StridedMemRef<float, 1> *>(args[3]);
  for (int64_t i = 0; i < y->sizes[0]; ++i) {
    float acc = b->aligned[b->offset + i * b->strides[0]];
    for (int64_t j = 0; j < x->sizes[0]; ++j)
      acc += w->aligned[w->offset + i * w->strides[0] + j * w->strides[1]] *
             x->aligned[x->offset + j * x->strides[0]];
    y->aligned[y->offset + i * y->strides[0]] = acc;
  }
}

static void testModelBindsParameters() {
  std::string path = kDir + "/affine.bwt";
  {
    WeightFileWriter w(path);
    const float W[6] = {1, 2, 3, 4, 5, 6}, b[2] = {0.5f, -1};
    w.add("W", DType::F32, {2, 3}, W);
    w.add("b", DType::F32, {2}, b);
    w.add("bad", DType::F16, {2}, b);
    w.close();
  }
  WeightFile wf = WeightFile::open(path);
  Signature sig{{{"W", DType::F32, {2, 3}}, {"b", DType::F32, {2}}, {"x", DType::F32, {3}},
                 {"y", DType::F32, {2}}}, 1};
  Model model(packed_affine, "affine", sig, wf, {"W", "b"});
  CHECK_EQ(model.numParams(), 2u);
  MemRef x = MemRef::allocate(DType::F32, {3});
  x.at<float>({0}) = 1, x.at<float>({1}) = 10, x.at<float>({2}) = 100;
  std::vector<MemRef> y = model({x});
  CHECK_EQ(y.size(), 1u);
  CHECK_EQ(y[0].at<float>({0}), 321.5f);
  CHECK_EQ(y[0].at<float>({1}), 653.0f);
  CHECK(y[0].isAligned());
  CHECK_THROWS(model({}), ArgumentError, "affine takes 1 inputs after its 2 parameters, got 0");
  CHECK_THROWS(model({MemRef::allocate(DType::F32, {4})}), ArgumentError,
               "argument 2 ('x'): expected shape 3, got 4");
  CHECK_THROWS(Model(packed_affine, "affine", sig, wf, {"W", "missing"}), std::invalid_argument,
               "parameter 'missing' is missing");
  CHECK_THROWS(Model(packed_affine, "affine", sig, wf, {"W", "bad"}), ArgumentError,
               "argument 1 ('b'): expected dtype f32, got f16");
}

/// The checksum as documented, written out plainly (pad, fold words, fold length).
static uint64_t referenceChecksum(Bytes b) {
  uint64_t n = b.size(), h = 0xcbf29ce484222325ULL;
  const uint64_t prime = 0x100000001b3ULL;
  while (b.size() % 8)
    b.push_back(0);
  for (size_t i = 0; i < b.size(); i += 8)
    h = (h ^ weightfile::getLE(b.data() + i, 8)) * prime;
  return (h ^ n) * prime;
}

static void testChecksum() {
  CHECK_EQ(weightfile::checksum("", 0), (0xcbf29ce484222325ULL ^ 0) * 0x100000001b3ULL);
  Bytes data(1000);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<unsigned char>(i * 131 + 7);
  bool allSame = true;
  for (size_t n : {0, 1, 7, 8, 9, 63, 64, 65, 999, 1000}) {
    Bytes part(data.begin(), data.begin() + n);
    uint64_t ref = referenceChecksum(part);
    allSame = allSame && weightfile::checksum(part.data(), n) == ref;
    // Streaming in uneven pieces gives the same result.
    weightfile::Checksum c;
    for (size_t at = 0, step = 1; at < n; at += step, step = step * 3 % 17 + 1)
      c.update(part.data() + at, std::min(step, n - at));
    allSame = allSame && c.finish() == ref;
  }
  CHECK(allSame);
  // Trailing zeros and single-bit flips change it.
  CHECK(weightfile::checksum(Bytes(8, 0).data(), 8) != weightfile::checksum(Bytes(9, 0).data(), 9));
  Bytes flipped = data;
  flipped[500] ^= 0x80;
  CHECK(weightfile::checksum(flipped.data(), flipped.size()) !=
        weightfile::checksum(data.data(), data.size()));
}

int main() {
  testChecksum();
  testRoundTrip();
  testWriterErrors();
  testModelBindsParameters();
  testCorruptions();
  std::string cmd = "rm -rf '" + kDir + "'";
  if (std::system(cmd.c_str()) != 0)
    std::fprintf(stderr, "could not remove %s\n", kDir.c_str());
  return buddy_test::report();
}
