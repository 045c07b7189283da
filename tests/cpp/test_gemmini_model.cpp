// The Gemmini functional model, one instruction at a time: data movement
// with strides, wide and accumulator mvins, mvout scaling, both dataflows on
// single tiles (full and partial), the OS shift and 20-bit output clip, and
// the errors a malformed instruction raises.
#include "buddy/gemmini/Model.h"
#include "check.h"

#include <cstdint>
#include <cstring>
#include <vector>

using namespace buddy::gemmini;

namespace {

constexpr uint32_t kDim = 16;

uint64_t addrOf(const void *p) { return uint64_t(uintptr_t(p)); }

template <typename T> void map(Model &m, const std::vector<T> &v) {
  m.mapDram(addrOf(v.data()), v.size() * sizeof(T));
}

void configLd(Model &m, uint64_t stride, uint32_t id = 0, bool shrunk = false,
              float scale = 1.0f) {
  ConfigLoad c;
  c.id = id;
  c.shrunk = shrunk;
  c.scale = scale;
  m.execute(uint32_t(Funct::Config), configLoadRs1(c), stride);
}

void configSt(Model &m, uint64_t stride) {
  m.execute(uint32_t(Funct::Config), configStoreRs1(), stride);
}

void configEx(Model &m, Dataflow df, float scale = 1.0f, uint32_t shift = 0,
              Activation act = Activation::None) {
  ConfigEx c;
  c.dataflow = df;
  c.accScale = scale;
  c.sysShift = shift;
  c.activation = act;
  m.execute(uint32_t(Funct::Config), configExRs1(c), configExRs2(c));
}

void mvin(Model &m, const void *src, uint32_t addr, uint32_t cols, uint32_t rows) {
  m.execute(uint32_t(Funct::Mvin), addrOf(src), packAddrRowsCols(addr, cols, rows));
}

void mvout(Model &m, void *dst, uint32_t addr, uint32_t cols, uint32_t rows) {
  m.execute(uint32_t(Funct::Mvout), addrOf(dst), packAddrRowsCols(addr, cols, rows));
}

void preload(Model &m, uint32_t bd, uint32_t c, uint32_t rows = kDim, uint32_t cols = kDim) {
  m.execute(uint32_t(Funct::Preload), packAddrRowsCols(bd, kDim, kDim),
            packAddrRowsCols(c, cols, rows));
}

void compute(Model &m, bool preloaded, uint32_t a, uint32_t bd, uint32_t aRows = kDim,
             uint32_t aCols = kDim, uint32_t bdRows = kDim, uint32_t bdCols = kDim) {
  m.execute(uint32_t(preloaded ? Funct::ComputePreloaded : Funct::ComputeAccumulated),
            packAddrRowsCols(a, aCols, aRows), packAddrRowsCols(bd, bdCols, bdRows));
}

std::vector<int8_t> pattern(size_t n, int seed) {
  std::vector<int8_t> v(n);
  uint32_t s = 0x9e3779b9u * uint32_t(seed + 1);
  for (auto &x : v) {
    s = s * 1664525u + 1013904223u;
    x = int8_t(s >> 24);
  }
  return v;
}

} // namespace

static void testMoveRoundTrip() {
  Model m;
  // A 5 x 20 int8 matrix inside a DRAM buffer with a 24-byte row stride.
  std::vector<int8_t> src = pattern(24 * 5, 1), dst(24 * 5, 0);
  map(m, src);
  map(m, dst);
  configLd(m, 24);
  configSt(m, 24);
  mvin(m, src.data(), spAddr(32), 20, 5); // 2 blocks: rows 32..36 and 48..52
  for (uint32_t r = 0; r < 5; ++r)
    for (uint32_t c = 0; c < 20; ++c)
      CHECK_EQ(m.sp(c < 16 ? 32 + r : 48 + r, c % 16), src[r * 24 + c]);
  mvout(m, dst.data(), spAddr(32), 16, 5);
  mvout(m, dst.data() + 16, spAddr(48), 4, 5);
  for (uint32_t r = 0; r < 5; ++r)
    for (uint32_t c = 0; c < 24; ++c)
      CHECK_EQ(dst[r * 24 + c], c < 20 ? src[r * 24 + c] : 0);
  CHECK_EQ(m.counters().bytesIn, 100u);
  CHECK_EQ(m.counters().bytesOut, 100u);
  CHECK_EQ(m.counters().byFunct[uint32_t(Funct::Mvin)], 1u);
  CHECK_EQ(m.counters().byFunct[uint32_t(Funct::Mvout)], 2u);
  CHECK_EQ(m.counters().byFunct[uint32_t(Funct::Config)], 2u);
  CHECK_EQ(m.counters().instructions, 5u);
}

static void testMvinScale() {
  Model m;
  std::vector<int8_t> src = {5, -5, 3, 100};
  map(m, src);
  configLd(m, 4, 0, false, 0.5f);
  mvin(m, src.data(), spAddr(0), 4, 1);
  CHECK_EQ(m.sp(0, 0), 2); // 2.5 -> 2
  CHECK_EQ(m.sp(0, 1), -2);
  CHECK_EQ(m.sp(0, 2), 2); // 1.5 -> 2
  CHECK_EQ(m.sp(0, 3), 50);
}

static void testAccumulatorMoves() {
  Model m;
  std::vector<int32_t> bias(2 * 16);
  for (size_t i = 0; i < bias.size(); ++i)
    bias[i] = int32_t(i * 1000) - 9000;
  std::vector<int32_t> full(2 * 16, 0);
  std::vector<int8_t> small(2 * 16, 0);
  map(m, bias);
  map(m, full);
  map(m, small);
  configLd(m, 64);
  mvin(m, bias.data(), accAddr(3), 16, 2);
  mvin(m, bias.data(), accAddr(3, true), 16, 2); // accumulate: twice the bias
  configSt(m, 64);
  mvout(m, full.data(), accAddr(3, false, true), 16, 2);
  for (size_t i = 0; i < full.size(); ++i)
    CHECK_EQ(full[i], 2 * bias[i]);
  CHECK_EQ(m.counters().bytesIn, 256u);
  CHECK_EQ(m.counters().bytesOut, 128u);
  // Scaled int8 read: 2 * bias * (1/1000), nearest-even, saturated.
  configEx(m, Dataflow::WS, 0.001f);
  configSt(m, 16);
  mvout(m, small.data(), accAddr(3), 16, 2);
  for (size_t i = 0; i < small.size(); ++i)
    CHECK_EQ(small[i], Model::scaleToInt8(2 * bias[i], 0.001f));
  CHECK_EQ(small[0], -18);
  CHECK_EQ(small[31], 44);
  configEx(m, Dataflow::WS, 0.001f, 0, Activation::Relu);
  mvout(m, small.data(), accAddr(3), 16, 2);
  CHECK_EQ(small[0], 0);
  CHECK_EQ(small[31], 44);
  // int8 ("shrunk") mvin into the accumulator sign-extends.
  std::vector<int8_t> s8 = {-1, 2, -128, 127};
  map(m, s8);
  configLd(m, 4, 0, true);
  mvin(m, s8.data(), accAddr(10), 4, 1);
  CHECK_EQ(m.acc(10, 0), -1);
  CHECK_EQ(m.acc(10, 2), -128);
  CHECK_EQ(m.acc(10, 3), 127);
}

// C = A * B (+ D) of one DIM x DIM tile, straight from the scratchpad.
static std::vector<int32_t> refTile(const Model &m, uint32_t a, uint32_t b, uint32_t rows,
                                    uint32_t inner, uint32_t cols) {
  std::vector<int32_t> c(kDim * kDim, 0);
  for (uint32_t i = 0; i < rows; ++i)
    for (uint32_t j = 0; j < cols; ++j) {
      int32_t s = 0;
      for (uint32_t k = 0; k < inner; ++k)
        s += int32_t(m.sp(a + i, k)) * m.sp(b + k, j);
      c[i * kDim + j] = s;
    }
  return c;
}

static void fillSp(Model &m, uint32_t row, uint32_t rows, int seed) {
  std::vector<int8_t> v = pattern(rows * kDim, seed);
  for (uint32_t r = 0; r < rows; ++r)
    for (uint32_t c = 0; c < kDim; ++c)
      m.setSp(row + r, c, v[r * kDim + c]);
}

static void testOutputStationary() {
  Model m;
  fillSp(m, 0, 16, 2);  // A
  fillSp(m, 16, 16, 3); // B
  fillSp(m, 32, 16, 4); // D
  configEx(m, Dataflow::OS);
  preload(m, spAddr(32), accAddr(0));
  compute(m, true, spAddr(0), spAddr(16));
  CHECK_EQ(m.counters().macs, 16u * 16u * 16u);
  std::vector<int32_t> ref = refTile(m, 0, 16, 16, 16, 16);
  for (uint32_t i = 0; i < 16; ++i)
    for (uint32_t j = 0; j < 16; ++j)
      CHECK_EQ(m.acc(i, j), ref[i * 16 + j] + m.sp(32 + i, j));
  // compute_accumulated keeps the partial sums in the array: A*B twice + D.
  preload(m, kGarbageAddr, accAddr(16));
  compute(m, false, spAddr(0), spAddr(16));
  for (uint32_t i = 0; i < 16; ++i)
    for (uint32_t j = 0; j < 16; ++j)
      CHECK_EQ(m.acc(16 + i, j), 2 * ref[i * 16 + j] + m.sp(32 + i, j));
  // Shift by 2 with rounding on the way out of the array.
  configEx(m, Dataflow::OS, 1.0f, 2);
  preload(m, kGarbageAddr, accAddr(32));
  compute(m, true, spAddr(0), spAddr(16));
  for (uint32_t i = 0; i < 16; ++i)
    for (uint32_t j = 0; j < 16; ++j)
      CHECK_EQ(m.acc(32 + i, j), Model::roundingShift(ref[i * 16 + j], 2));
  // Writing to the scratchpad saturates to int8.
  configEx(m, Dataflow::OS);
  preload(m, kGarbageAddr, spAddr(64));
  compute(m, true, spAddr(0), spAddr(16));
  for (uint32_t i = 0; i < 16; ++i)
    for (uint32_t j = 0; j < 16; ++j) {
      int32_t v = ref[i * 16 + j];
      CHECK_EQ(m.sp(64 + i, j), v > 127 ? 127 : v < -128 ? -128 : v);
    }
}

static void testOutputStationaryClip() {
  // All -128: one tile gives 16 * 16384 = 262144; accumulated twice in the
  // array, 524288 leaves it clipped to the 20-bit output type (524287).
  Model m;
  for (uint32_t r = 0; r < 32; ++r)
    for (uint32_t c = 0; c < 16; ++c)
      m.setSp(r, c, -128);
  configEx(m, Dataflow::OS);
  preload(m, kGarbageAddr, kGarbageAddr);
  compute(m, true, spAddr(0), spAddr(16));
  preload(m, kGarbageAddr, accAddr(0));
  compute(m, false, spAddr(0), spAddr(16));
  CHECK_EQ(m.acc(0, 0), 524287);
  CHECK_EQ(m.acc(15, 15), 524287);
  // The same sums accumulated in the accumulator instead are exact.
  preload(m, kGarbageAddr, accAddr(16));
  compute(m, true, spAddr(0), spAddr(16));
  preload(m, kGarbageAddr, accAddr(16, true));
  compute(m, true, spAddr(0), spAddr(16));
  CHECK_EQ(m.acc(16, 0), 524288);
}

static void testWeightStationaryPartial() {
  Model m;
  fillSp(m, 0, 16, 5);  // A
  fillSp(m, 16, 16, 6); // B
  fillSp(m, 32, 16, 7); // D
  for (uint32_t r = 0; r < 16; ++r)
    for (uint32_t c = 0; c < 16; ++c)
      m.setAcc(100 + r, c, 7777);
  configEx(m, Dataflow::WS);
  // A 3x5, B 5x2, C 3x2: padding enters as zeros, only 3x2 of C is written.
  m.execute(uint32_t(Funct::Preload), packAddrRowsCols(spAddr(16), 2, 5),
            packAddrRowsCols(accAddr(100), 2, 3));
  compute(m, true, spAddr(0), kGarbageAddr, 3, 5, 16, 16);
  CHECK_EQ(m.counters().macs, 3u * 5u * 2u); // only the products inside the fields
  std::vector<int32_t> ref = refTile(m, 0, 16, 3, 5, 2);
  for (uint32_t i = 0; i < 16; ++i)
    for (uint32_t j = 0; j < 16; ++j)
      CHECK_EQ(m.acc(100 + i, j), i < 3 && j < 2 ? ref[i * 16 + j] : 7777);
  // compute_accumulated reuses the weights: a full tile of A with D added.
  preload(m, kGarbageAddr, accAddr(200));
  compute(m, false, spAddr(0), spAddr(32));
  CHECK_EQ(m.counters().macs, 30u + 16u * 5u * 2u); // the stationary B is still 5x2
  std::vector<int32_t> refFull(16 * 16, 0);
  for (uint32_t i = 0; i < 16; ++i)
    for (uint32_t j = 0; j < 2; ++j) {
      int32_t s = 0;
      for (uint32_t k = 0; k < 5; ++k)
        s += int32_t(m.sp(i, k)) * m.sp(16 + k, j);
      refFull[i * 16 + j] = s;
    }
  for (uint32_t i = 0; i < 16; ++i)
    for (uint32_t j = 0; j < 16; ++j)
      CHECK_EQ(m.acc(200 + i, j), refFull[i * 16 + j] + m.sp(32 + i, j));
}

static void testExecuteWord() {
  Model m;
  std::vector<int8_t> src = pattern(16, 8);
  map(m, src);
  m.executeWord(encodeGemmini(Funct::Config, 10, 11), configLoadRs1(ConfigLoad()), 16);
  m.executeWord(encodeGemmini(Funct::Mvin, 12, 13), addrOf(src.data()),
                packAddrRowsCols(spAddr(7), 16, 1));
  for (uint32_t c = 0; c < 16; ++c)
    CHECK_EQ(m.sp(7, c), src[c]);
  CHECK_THROWS(m.executeWord(encodeGemmini(Funct::Mvin, 1, 2) ^ 0x4u, 0, 0), GemminiError,
               "custom3");
  RoccWord w;
  w.funct7 = 2;
  w.xd = true;
  CHECK_THROWS(m.executeWord(encodeRocc(w), 0, 0), GemminiError, "xd = 0");
}

static void testErrors() {
  Model m;
  std::vector<int8_t> buf(64 * 17, 0);
  map(m, buf);
  configLd(m, 64);
  configSt(m, 64);
  CHECK_THROWS(mvin(m, buf.data(), spAddr(0), 16, 17), GemminiError, "rows > DIM");
  CHECK_THROWS(mvin(m, buf.data(), spAddr(0), 65, 1), GemminiError, "one DMA request");
  CHECK_THROWS(mvin(m, buf.data(), accAddr(0), 17, 1), GemminiError, "one DMA request");
  CHECK_THROWS(mvin(m, buf.data() + 64 * 16 + 1, spAddr(0), 64, 1), GemminiError,
               "outside every mapped window");
  CHECK_THROWS(mvin(m, buf.data(), spAddr(16383), 16, 2), GemminiError, "beyond the scratchpad");
  CHECK_THROWS(mvin(m, buf.data(), accAddr(1023), 16, 2), GemminiError, "beyond the accumulator");
  CHECK_THROWS(mvout(m, buf.data(), spAddr(0), 17, 1), GemminiError, "DIM x DIM");
  CHECK_THROWS(compute(m, true, spAddr(0), spAddr(16)), GemminiError, "without a preceding preload");
  CHECK_THROWS(m.execute(uint32_t(Funct::LoopWs), 0, 0), GemminiError, "not modeled");
  CHECK_THROWS(m.execute(99, 0, 0), GemminiError, "unknown funct");
  CHECK_THROWS(m.execute(uint32_t(Funct::Config), configStoreRs1(1), 0), GemminiError,
               "max-pooling");
  // Everything that succeeded was counted, the failures were not.
  CHECK_EQ(m.counters().instructions, 2u);
}

int main() {
  testMoveRoundTrip();
  testMvinScale();
  testAccumulatorMoves();
  testOutputStationary();
  testOutputStationaryClip();
  testWeightStationaryPartial();
  testExecuteWord();
  testErrors();
  return buddy_test::report();
}
