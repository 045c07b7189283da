// Fuzz target for the weight-file parser (buddy/WeightFile.h).
//
// Built two ways by scripts/fuzz.sh weightfile (and by ctest as fuzz.weightfile):
//  - with clang's libFuzzer (-fsanitize=fuzzer): LLVMFuzzerTestOneInput below;
//  - otherwise with -DBUDDY_STANDALONE_FUZZ: a structure-aware mutation loop
//    over valid seed files (main() at the end), under ASan + UBSan.
// Each input is parsed twice: as is, and with its header checksum recomputed
// so that mutated tables get past the checksum into the entry parser. Every
// accepted file has every tensor read end to end, so an accepted bound that is
// wrong shows up as an ASan out-of-bounds read.
#include "buddy/WeightFile.h"

#include <chrono>
#include <cstdio>
#include <map>
#include <random>

namespace {

std::map<std::string, uint64_t> gOutcomes;

void recomputeHeaderChecksum(std::vector<unsigned char> &b) {
  if (b.size() < buddy::weightfile::kFixedHeaderSize)
    return;
  uint64_t toff = buddy::weightfile::getLE(b.data() + 40, 8);
  uint64_t tsize = buddy::weightfile::getLE(b.data() + 48, 8);
  if (toff > b.size() || tsize > b.size() - toff)
    return;
  uint64_t h = buddy::weightfile::headerChecksum(b.data(), b.data() + toff, tsize);
  for (int i = 0; i < 8; ++i)
    b[64 + i] = static_cast<unsigned char>(h >> (8 * i));
}

void parseOne(const std::vector<unsigned char> &bytes) {
  // An exact-size heap copy: ASan flags any read past its end.
  auto buf = std::make_shared<std::vector<unsigned char>>(bytes);
  try {
    buddy::WeightFile wf =
        buddy::WeightFile::fromBuffer(buf, buf->data(), buf->size(), "<fuzz>");
    // Whatever was accepted must lie in the data region and match its shape.
    const uint64_t dataBegin = buddy::weightfile::getLE(buf->data() + 24, 8);
    const uint64_t dataEnd = dataBegin + buddy::weightfile::getLE(buf->data() + 32, 8);
    for (const auto &e : wf.entries()) {
      auto expect = buddy::checkedByteSize(e.spec.dtype, e.spec.shape);
      if (!expect || *expect != e.nbytes || e.offset < dataBegin || e.offset > dataEnd ||
          e.nbytes > dataEnd - e.offset || dataEnd > buf->size() || e.offset % 64) {
        std::fprintf(stderr, "INVARIANT VIOLATED: accepted tensor '%s' offset %llu nbytes %llu\n",
                     e.spec.name.c_str(), static_cast<unsigned long long>(e.offset),
                     static_cast<unsigned long long>(e.nbytes));
        std::abort();
      }
    }
    volatile unsigned sum = 0;
    for (size_t i = 0; i < wf.size(); ++i) {
      buddy::MemRef m = wf.tensor(i);
      const unsigned char *p = static_cast<const unsigned char *>(m.data());
      for (size_t k = 0; k < m.nbytes(); ++k)
        sum = sum + p[k];
    }
    try {
      wf.verifyData();
      ++gOutcomes["accepted"];
    } catch (const buddy::WeightFileError &) {
      ++gOutcomes["accepted, data checksum differs"];
    }
  } catch (const buddy::WeightFileError &e) {
    ++gOutcomes[buddy::WeightFileError::kindName(e.kind())];
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::vector<unsigned char> bytes(data, data + size);
  parseOne(bytes);
  recomputeHeaderChecksum(bytes);
  parseOne(bytes);
  return 0;
}

#ifdef BUDDY_STANDALONE_FUZZ

static std::vector<unsigned char> readFile(const std::string &path) {
  std::vector<unsigned char> out;
  if (std::FILE *f = std::fopen(path.c_str(), "rb")) {
    int c;
    while ((c = std::fgetc(f)) != EOF)
      out.push_back(static_cast<unsigned char>(c));
    std::fclose(f);
  }
  return out;
}

/// Where the fields of one table entry sit in a seed file.
struct EntryFields {
  size_t dtype, rank, dims, offset, nbytes;
  unsigned nDims;
};

static std::vector<EntryFields> locateEntries(const std::vector<unsigned char> &b) {
  using buddy::weightfile::getLE;
  std::vector<EntryFields> out;
  size_t pos = getLE(b.data() + 40, 8);
  for (uint64_t i = 0, n = getLE(b.data() + 16, 8); i < n; ++i) {
    size_t nameLen = getLE(b.data() + pos, 4);
    EntryFields f;
    f.dtype = pos + 4 + nameLen;
    f.rank = f.dtype + 1;
    f.nDims = b[f.rank];
    f.dims = f.dtype + 4;
    f.offset = f.dims + 8 * f.nDims;
    f.nbytes = f.offset + 8;
    out.push_back(f);
    pos = f.nbytes + 8;
  }
  return out;
}

static void put64(std::vector<unsigned char> &b, size_t at, uint64_t v) {
  for (int i = 0; i < 8 && at + i < b.size(); ++i)
    b[at + i] = static_cast<unsigned char>(v >> (8 * i));
}

static std::vector<std::vector<unsigned char>> makeSeeds(const std::string &dir) {
  using buddy::DType;
  std::vector<std::vector<unsigned char>> seeds;
  std::vector<unsigned char> bytes(300);
  for (size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<unsigned char>(i * 7);
  auto write = [&](const std::string &name, auto fill) {
    std::string path = dir + "/" + name;
    {
      buddy::WeightFileWriter w(path);
      fill(w);
      w.close();
    }
    seeds.push_back(readFile(path));
    std::remove(path.c_str());
  };
  write("empty.bwt", [](buddy::WeightFileWriter &) {});
  write("one.bwt", [&](buddy::WeightFileWriter &w) { w.add("w", DType::F32, {3, 5}, bytes.data()); });
  write("many.bwt", [&](buddy::WeightFileWriter &w) {
    w.add("layers.0.weight", DType::BF16, {4, 8}, bytes.data());
    w.add("b", DType::I8, {7}, bytes.data());
    w.add("s", DType::I64, {}, bytes.data());
    w.add("m", DType::Bool, {2, 1, 3}, bytes.data());
    w.add("z", DType::F16, {0, 5}, bytes.data());
    w.add("q", DType::I32, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2}, bytes.data());
  });
  return seeds;
}

int main(int argc, char **argv) {
  // fuzz_weightfile [seconds=60] [seed=1] [max_execs=0]: stops at whichever
  // limit comes first; seconds <= 0 or max_execs = 0 means no such limit.
  double seconds = argc > 1 ? std::atof(argv[1]) : 60;
  unsigned seed = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) : 1;
  uint64_t maxExecs = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 0;
  const char *tmp = std::getenv("TMPDIR");
  auto seeds = makeSeeds(tmp ? tmp : "/tmp");
  std::vector<std::vector<EntryFields>> fields;
  for (const auto &sd : seeds)
    fields.push_back(locateEntries(sd));
  std::mt19937_64 rng(seed);
  const uint64_t interesting[] = {0, 1, 2, 7, 8, 63, 64, 65, 72, 127, 128, 255, 256,
                                  0x7fffffff, 0x80000000ull, 0xffffffffull, 1ull << 32,
                                  1ull << 62, 0x7fffffffffffffffull, 0x8000000000000000ull,
                                  ~0ull, ~0ull - 63};
  auto pick = [&](uint64_t n) { return n ? rng() % n : 0; };
  uint64_t execs = 0;
  auto start = std::chrono::steady_clock::now();
  for (;; ++execs) {
    if (maxExecs && execs >= maxExecs)
      break;
    if (seconds > 0 && (execs & 1023) == 0) {
      double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (t >= seconds)
        break;
    }
    size_t which = pick(seeds.size());
    std::vector<unsigned char> b = seeds[which];
    if (!fields[which].empty() && pick(2) == 0) {
      // Table-aware: rewrite one field of one entry, often keeping nbytes
      // consistent with the shape so that the bounds checks are reached.
      const EntryFields &f = fields[which][pick(fields[which].size())];
      uint64_t v = interesting[pick(sizeof interesting / sizeof *interesting)];
      if (pick(2)) v = rng() >> pick(64);
      switch (pick(5)) {
      case 0: b[f.dtype] = static_cast<unsigned char>(pick(3) ? pick(12) : v); break;
      case 1: b[f.rank] = static_cast<unsigned char>(pick(20)); break;
      case 2: put64(b, f.offset, pick(2) ? v : (v & ~63ull)); break;
      case 3: put64(b, f.nbytes, v); break;
      case 4:
        if (f.nDims) {
          put64(b, f.dims + 8 * pick(f.nDims), v);
          if (pick(4)) { // recompute nbytes with wrapping arithmetic
            uint64_t n = buddy::dtypeSize(static_cast<buddy::DType>(b[f.dtype] % buddy::kNumDTypes));
            for (unsigned d = 0; d < f.nDims; ++d)
              n *= buddy::weightfile::getLE(b.data() + f.dims + 8 * d, 8);
            put64(b, f.nbytes, n);
          }
        }
        break;
      }
    }
    int nmut = static_cast<int>(pick(6));
    for (int k = 0; k < nmut; ++k) {
      // Aim most mutations at the fixed header and the table (the file's end).
      uint64_t region = b.size();
      uint64_t at = pick(4) == 0 ? pick(region)
                    : pick(2) == 0 ? pick(std::min<uint64_t>(region, 72))
                                   : region - 1 - pick(std::min<uint64_t>(region, 120));
      if (b.empty())
        at = 0;
      switch (pick(8)) {
      case 0: // bit flip
        if (!b.empty()) b[at] ^= static_cast<unsigned char>(1u << pick(8));
        break;
      case 1: // random byte
        if (!b.empty()) b[at] = static_cast<unsigned char>(rng());
        break;
      case 2: // interesting 8/4/2/1-byte little-endian value
      case 3: {
        int width = 1 << pick(4);
        uint64_t v = interesting[pick(sizeof interesting / sizeof *interesting)];
        if (pick(3) == 0) v = b.size() + pick(3) - 1;
        for (int i = 0; i < width && at + i < b.size(); ++i)
          b[at + i] = static_cast<unsigned char>(v >> (8 * i));
        break;
      }
      case 4: // truncate
        b.resize(pick(b.size() + 1));
        break;
      case 5: // append random bytes
        for (uint64_t n = pick(64); n--;) b.push_back(static_cast<unsigned char>(rng()));
        break;
      case 6: // erase a range
        if (!b.empty()) b.erase(b.begin() + at, b.begin() + std::min<uint64_t>(b.size(), at + 1 + pick(16)));
        break;
      case 7: // insert a range
        b.insert(b.begin() + std::min<uint64_t>(at, b.size()), pick(16) + 1,
                 static_cast<unsigned char>(rng()));
        break;
      }
    }
    LLVMFuzzerTestOneInput(b.data(), b.size());
  }
  double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("execs: %llu (x2 parses) in %.1f s, %.0f execs/s, crashes: 0\n",
              static_cast<unsigned long long>(execs), t, execs / t);
  std::printf("outcomes (parses):\n");
  for (const auto &[k, v] : gOutcomes)
    std::printf("  %-34s %llu\n", k.c_str(), static_cast<unsigned long long>(v));
  return 0;
}

#endif // BUDDY_STANDALONE_FUZZ
