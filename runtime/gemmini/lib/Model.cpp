// Model.cpp - the effect of each Gemmini instruction (see Model.h).
#include "buddy/gemmini/Model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace buddy::gemmini {

namespace {

[[noreturn]] void fail(const std::string &msg) { throw GemminiError("gemmini: " + msg); }

int32_t wrap32(int64_t x) { return static_cast<int32_t>(static_cast<uint32_t>(x)); }

int8_t saturate8(int64_t x) {
  return static_cast<int8_t>(x > 127 ? 127 : x < -128 ? -128 : x);
}

/// float -> integer with round-to-nearest-even, saturating at int32 (the
/// RecFNToIN of the default scale units).
int64_t roundNearestEvenSat(float y) {
  if (std::isnan(y))
    return std::numeric_limits<int32_t>::max();
  float r = std::nearbyint(y); // the default FP environment rounds to nearest-even
  if (r >= 2147483648.0f)
    return std::numeric_limits<int32_t>::max();
  if (r < -2147483648.0f)
    return std::numeric_limits<int32_t>::min();
  return static_cast<int64_t>(r);
}

} // namespace

const char *functName(uint32_t f) {
  static const char *names[kNumFuncts] = {
      "config", "mvin2", "mvin", "mvout", "compute_preloaded", "compute_accumulated",
      "preload", "flush", "loop_ws", "loop_ws_config_bounds", "loop_ws_config_addrs_ab",
      "loop_ws_config_addrs_dc", "loop_ws_config_strides_ab", "loop_ws_config_strides_dc",
      "mvin3"};
  return f < kNumFuncts ? names[f] : "unknown";
}

Model::Model(Params p) : p_(p) {
  if (p_.dim == 0 || p_.dim > 64 || p_.outputBits < 2 || p_.outputBits > 32)
    fail("unsupported parameters");
  reset();
}

void Model::reset() {
  sp_.assign(size_t(p_.spRows()) * p_.dim, 0);
  acc_.assign(size_t(p_.accRows) * p_.dim, 0);
  ex_ = ConfigEx();
  for (uint32_t i = 0; i < ld_.size(); ++i) {
    ld_[i] = ConfigLoad();
    ld_[i].id = i;
  }
  stStride_ = 0;
  havePreload_ = false;
  osAcc_.assign(size_t(p_.dim) * p_.dim, 0);
  weights_.assign(size_t(p_.dim) * p_.dim, 0);
  weightRows_ = weightCols_ = 0;
  counters_ = Counters();
}

int32_t Model::roundingShift(int32_t x, uint32_t shift) {
  // Round to nearest, ties to even (gemmini_params.h ROUNDING_RIGHT_SHIFT, the
  // RVV "rne" fixed-point rounding).
  if (shift == 0)
    return x;
  if (shift > 31)
    fail("right shift of " + std::to_string(shift) + " bits");
  int64_t v = x;
  int64_t q = v >> shift;
  int64_t half = (v >> (shift - 1)) & 1;
  int64_t sticky = (v & ((int64_t(1) << (shift - 1)) - 1)) != 0;
  return static_cast<int32_t>(q + (half & (sticky | (q & 1))));
}

int32_t Model::clipBits(int64_t x, uint32_t bits) {
  int64_t hi = (int64_t(1) << (bits - 1)) - 1, lo = -(int64_t(1) << (bits - 1));
  return static_cast<int32_t>(x > hi ? hi : x < lo ? lo : x);
}

int8_t Model::scaleToInt8(int32_t x, float scale) {
  // int32 -> float32 (nearest-even), float32 multiply (nearest-even), back to
  // an integer (nearest-even), saturated to int8.
  float y = static_cast<float>(x) * scale;
  return saturate8(roundNearestEvenSat(y));
}

void Model::mapDram(uint64_t base, uint64_t bytes) {
  if (base + bytes < base)
    fail("DRAM window wraps around");
  windows_.emplace_back(base, bytes);
}

void Model::checkDram(uint64_t addr, uint64_t bytes, const char *what) const {
  for (const auto &[b, n] : windows_)
    if (addr >= b && addr - b <= n && bytes <= n - (addr - b))
      return;
  fail(std::string(what) + ": DRAM bytes [" + std::to_string(addr) + ", +" +
       std::to_string(bytes) + ") outside every mapped window");
}

void Model::checkRows(const LocalAddr &a, uint32_t rows, uint32_t stride,
                      const char *what) const {
  uint64_t limit = a.acc ? p_.accRows : p_.spRows();
  uint64_t last = uint64_t(a.row) + (rows ? uint64_t(rows - 1) * stride : 0);
  if (rows && last >= limit)
    fail(std::string(what) + ": row " + std::to_string(last) + " beyond the " +
         (a.acc ? "accumulator" : "scratchpad") + " (" + std::to_string(limit) + " rows)");
}

int8_t Model::sp(uint32_t row, uint32_t col) const {
  return sp_.at(size_t(row) * p_.dim + col);
}
int32_t Model::acc(uint32_t row, uint32_t col) const {
  return acc_.at(size_t(row) * p_.dim + col);
}
void Model::setSp(uint32_t row, uint32_t col, int8_t v) { sp_.at(size_t(row) * p_.dim + col) = v; }
void Model::setAcc(uint32_t row, uint32_t col, int32_t v) {
  acc_.at(size_t(row) * p_.dim + col) = v;
}

void Model::executeWord(uint32_t word, uint64_t rs1Value, uint64_t rs2Value) {
  RoccWord w = decodeRocc(word);
  if (w.opcode != kOpcodeCustom3)
    fail("opcode " + std::to_string(w.opcode) + " is not custom3 (0x7b)");
  if (!w.xs1 || !w.xs2 || w.xd)
    fail("Gemmini instructions read rs1 and rs2 and write no rd (xs1 = xs2 = 1, xd = 0)");
  execute(w.funct7, rs1Value, rs2Value);
}

void Model::execute(uint32_t funct, uint64_t rs1, uint64_t rs2) {
  if (funct >= kNumFuncts)
    fail("unknown funct " + std::to_string(funct));
  switch (static_cast<Funct>(funct)) {
  case Funct::Config:
    config(rs1, rs2);
    break;
  case Funct::Mvin:
  case Funct::Mvin2:
  case Funct::Mvin3:
    mvin(static_cast<uint32_t>(mvinConfigId(static_cast<Funct>(funct))), rs1, rs2);
    break;
  case Funct::Mvout:
    mvout(rs1, rs2);
    break;
  case Funct::Preload:
    preload(rs1, rs2);
    break;
  case Funct::ComputePreloaded:
    compute(true, rs1, rs2);
    break;
  case Funct::ComputeAccumulated:
    compute(false, rs1, rs2);
    break;
  case Funct::Flush:
    break; // the TLB is not modeled; nothing architectural changes
  default:
    fail(std::string(functName(funct)) + " (the CISC loop instructions) is not modeled");
  }
  ++counters_.byFunct[funct];
  ++counters_.instructions;
}

void Model::config(uint64_t rs1, uint64_t rs2) {
  switch (static_cast<ConfigKind>(rs1 & 3)) {
  case ConfigKind::Ex: {
    ConfigEx c;
    c.dataflow = static_cast<Dataflow>((rs1 >> 2) & 1);
    c.activation = static_cast<Activation>((rs1 >> 3) & 3);
    c.transposeA = (rs1 >> 8) & 1;
    c.transposeB = (rs1 >> 9) & 1;
    c.aStride = uint32_t(rs1 >> 16) & 0xffff;
    c.accScale = bitsFloat(uint32_t(rs1 >> 32));
    c.sysShift = uint32_t(rs2);
    c.relu6Shift = uint32_t(rs2 >> 32);
    if (uint32_t(c.activation) == 3)
      fail("config_ex: activation 3 is not defined");
    if (c.activation == Activation::Relu6)
      fail("config_ex: relu6 is not modeled");
    if (c.transposeA || c.transposeB)
      fail("config_ex: transposed operands are not modeled");
    if (c.sysShift > 31)
      fail("config_ex: shift " + std::to_string(c.sysShift) + " > 31");
    ex_ = c;
    break;
  }
  case ConfigKind::Load: {
    uint32_t id = uint32_t(rs1 >> 3) & 3;
    if (id > 2)
      fail("config_mvin: mvin id 3 does not exist");
    ConfigLoad &c = ld_[id];
    c.shrunk = (rs1 >> 2) & 1;
    c.scale = bitsFloat(uint32_t(rs1 >> 32));
    c.stride = rs2;
    break;
  }
  case ConfigKind::Store:
    if ((rs1 >> 4) & 3)
      fail("config_mvout: max-pooling is not modeled");
    stStride_ = rs2;
    break;
  case ConfigKind::Im2col:
    fail("config im2col is not modeled");
  }
}

void Model::mvin(uint32_t id, uint64_t dram, uint64_t rs2) {
  const ConfigLoad &c = ld_[id];
  AddrRowsCols f = unpackAddrRowsCols(rs2);
  LocalAddr a = decodeLocalAddr(f.addr);
  if (a.garbage)
    fail("mvin to the garbage address");
  if (f.rows > p_.dim)
    fail("mvin of " + std::to_string(f.rows) + " rows > DIM");
  uint32_t elem = a.acc && !c.shrunk ? 4 : 1;
  if (f.cols > p_.maxMvinCols(elem))
    fail("mvin of " + std::to_string(f.cols) + " columns > " +
         std::to_string(p_.maxMvinCols(elem)) + " (one DMA request)");
  if (f.rows == 0 || f.cols == 0)
    return;
  uint32_t blocks = (f.cols + p_.dim - 1) / p_.dim;
  // Block b of a wide mvin lands DIM rows after block b-1.
  checkRows(a, (blocks - 1) * p_.dim + f.rows, 1, "mvin");
  for (uint32_t r = 0; r < f.rows; ++r)
    checkDram(dram + r * c.stride, uint64_t(f.cols) * elem, "mvin");
  for (uint32_t r = 0; r < f.rows; ++r) {
    const auto *src = reinterpret_cast<const uint8_t *>(uintptr_t(dram + r * c.stride));
    for (uint32_t col = 0; col < f.cols; ++col) {
      uint32_t row = a.row + (col / p_.dim) * p_.dim + r, j = col % p_.dim;
      if (a.acc) {
        int32_t v;
        if (elem == 4)
          std::memcpy(&v, src + 4 * col, 4);
        else
          v = static_cast<int8_t>(src[col]);
        int32_t &dst = acc_[size_t(row) * p_.dim + j];
        dst = a.accumulate ? wrap32(int64_t(dst) + v) : v;
      } else {
        int8_t v = static_cast<int8_t>(src[col]);
        sp_[size_t(row) * p_.dim + j] = scaleToInt8(v, c.scale);
      }
    }
  }
  counters_.bytesIn += uint64_t(f.rows) * f.cols * elem;
}

void Model::mvout(uint64_t dram, uint64_t rs2) {
  AddrRowsCols f = unpackAddrRowsCols(rs2);
  LocalAddr a = decodeLocalAddr(f.addr);
  if (a.garbage)
    fail("mvout from the garbage address");
  if (f.rows > p_.dim || f.cols > p_.dim)
    fail("mvout of " + std::to_string(f.rows) + "x" + std::to_string(f.cols) + " > DIM x DIM");
  if (f.rows == 0 || f.cols == 0)
    return;
  checkRows(a, f.rows, 1, "mvout");
  uint32_t elem = a.acc && a.readFull ? 4 : 1;
  for (uint32_t r = 0; r < f.rows; ++r)
    checkDram(dram + r * stStride_, uint64_t(f.cols) * elem, "mvout");
  for (uint32_t r = 0; r < f.rows; ++r) {
    auto *dst = reinterpret_cast<uint8_t *>(uintptr_t(dram + r * stStride_));
    size_t base = size_t(a.row + r) * p_.dim;
    for (uint32_t j = 0; j < f.cols; ++j) {
      if (!a.acc) {
        dst[j] = static_cast<uint8_t>(sp_[base + j]);
      } else if (a.readFull) {
        std::memcpy(dst + 4 * j, &acc_[base + j], 4);
      } else {
        int8_t v = scaleToInt8(acc_[base + j], ex_.accScale);
        if (ex_.activation == Activation::Relu && v < 0)
          v = 0;
        dst[j] = static_cast<uint8_t>(v);
      }
    }
  }
  counters_.bytesOut += uint64_t(f.rows) * f.cols * elem;
}

void Model::preload(uint64_t rs1, uint64_t rs2) {
  preBD_ = unpackAddrRowsCols(rs1);
  preC_ = unpackAddrRowsCols(rs2);
  if (preC_.rows > p_.dim || preC_.cols > p_.dim)
    fail("preload: C of " + std::to_string(preC_.rows) + "x" + std::to_string(preC_.cols) +
         " > DIM x DIM");
  havePreload_ = true;
}

Model::Tile Model::readOperand(const AddrRowsCols &f, uint32_t rowStride,
                               const char *what) const {
  Tile t(size_t(p_.dim) * p_.dim, 0);
  LocalAddr a = decodeLocalAddr(f.addr);
  if (a.garbage) // B/D: zeros; A: undefined data in hardware, zeros here
    return t;
  if (f.rows > p_.dim || f.cols > p_.dim)
    fail(std::string(what) + " of " + std::to_string(f.rows) + "x" + std::to_string(f.cols) +
         " > DIM x DIM");
  if (a.acc)
    fail(std::string(what) + ": reading matmul operands from the accumulator is not modeled");
  checkRows(a, f.rows, rowStride, what);
  // Rows/columns beyond (rows, cols) enter the array as zeros.
  for (uint32_t i = 0; i < f.rows; ++i)
    for (uint32_t j = 0; j < f.cols; ++j)
      t[size_t(i) * p_.dim + j] = sp_[size_t(a.row + i * rowStride) * p_.dim + j];
  return t;
}

void Model::writeResult(const AddrRowsCols &f, const Tile &t) {
  LocalAddr a = decodeLocalAddr(f.addr);
  if (a.garbage || f.rows == 0 || f.cols == 0)
    return;
  checkRows(a, f.rows, 1, "matmul result");
  for (uint32_t i = 0; i < f.rows; ++i)
    for (uint32_t j = 0; j < f.cols; ++j) {
      int32_t v = t[size_t(i) * p_.dim + j];
      size_t k = size_t(a.row + i) * p_.dim + j;
      if (!a.acc)
        sp_[k] = saturate8(v);
      else
        acc_[k] = a.accumulate ? wrap32(int64_t(acc_[k]) + v) : v;
    }
}

void Model::compute(bool preloaded, uint64_t rs1, uint64_t rs2) {
  const char *name = preloaded ? "compute_preloaded" : "compute_accumulated";
  if (!havePreload_)
    fail(std::string(name) + " without a preceding preload");
  havePreload_ = false;
  const uint32_t n = p_.dim;
  AddrRowsCols af = unpackAddrRowsCols(rs1);
  Tile A = readOperand(af, ex_.aStride, "A");
  Tile out(size_t(n) * n, 0);
  uint32_t bRows = 0, bCols = 0; // the B fields, for the MAC counter
  if (ex_.dataflow == Dataflow::OS) {
    AddrRowsCols bf = unpackAddrRowsCols(rs2);
    Tile B = readOperand(bf, 1, "B");
    if (!decodeLocalAddr(bf.addr).garbage)
      bRows = bf.rows, bCols = bf.cols;
    if (preloaded)
      osAcc_ = readOperand(preBD_, 1, "D"); // the preloaded D (zeros if garbage)
    for (uint32_t i = 0; i < n; ++i)
      for (uint32_t j = 0; j < n; ++j) {
        int64_t s = osAcc_[size_t(i) * n + j];
        for (uint32_t k = 0; k < n; ++k)
          s += int64_t(A[size_t(i) * n + k]) * B[size_t(k) * n + j];
        osAcc_[size_t(i) * n + j] = wrap32(s); // 32-bit PE registers
        out[size_t(i) * n + j] =
            clipBits(roundingShift(osAcc_[size_t(i) * n + j], ex_.sysShift), p_.outputBits);
      }
  } else {
    if (preloaded) {
      weights_ = readOperand(preBD_, 1, "B");
      bool none = decodeLocalAddr(preBD_.addr).garbage;
      weightRows_ = none ? 0 : preBD_.rows;
      weightCols_ = none ? 0 : preBD_.cols;
    }
    bRows = weightRows_, bCols = weightCols_;
    Tile D = readOperand(unpackAddrRowsCols(rs2), 1, "D");
    for (uint32_t i = 0; i < n; ++i)
      for (uint32_t j = 0; j < n; ++j) {
        int64_t s = D[size_t(i) * n + j];
        for (uint32_t k = 0; k < n; ++k)
          s += int64_t(A[size_t(i) * n + k]) * weights_[size_t(k) * n + j];
        out[size_t(i) * n + j] = clipBits(s, p_.outputBits);
      }
  }
  writeResult(preC_, out);
  if (!decodeLocalAddr(af.addr).garbage)
    counters_.macs += uint64_t(af.rows) * std::min(af.cols, bRows) * bCols;
}

} // namespace buddy::gemmini
