// Isa.h - Gemmini's RoCC instruction encoding and operand bit fields.
//
// Facts from the Gemmini README ("Memory Addressing Scheme", "ISA") and
// gemmini-rocc-tests include/gemmini.h / gemmini_params.h (ucb-bar):
//  - every Gemmini instruction is a RoCC R-type word on opcode custom3 (0x7b):
//    funct7 selects the instruction, rs1/rs2 carry two 64-bit operands;
//  - local (scratchpad/accumulator) addresses are 32 bits, row-addressed:
//    bit 31 = accumulator, bit 30 = accumulate on write, bit 29 = read the
//    full-width accType on an accumulator read; all ones = "garbage" (no
//    operand / zeros / do not write);
//  - data-movement and matmul operands pack addr[31:0] | cols[47:32] |
//    rows[63:48].
// Written from those documents for Buddy; header-only, no dependencies.
#ifndef BUDDY_GEMMINI_ISA_H
#define BUDDY_GEMMINI_ISA_H

#include <cstdint>
#include <cstring>

namespace buddy::gemmini {

/// RISC-V major opcode custom3, the one Gemmini is attached to.
constexpr uint32_t kOpcodeCustom3 = 0x7b;

/// funct7 values (gemmini.h k_* constants).
enum class Funct : uint32_t {
  Config = 0,
  Mvin2 = 1,
  Mvin = 2,
  Mvout = 3,
  ComputePreloaded = 4,
  ComputeAccumulated = 5,
  Preload = 6,
  Flush = 7,
  LoopWs = 8,
  LoopWsConfigBounds = 9,
  LoopWsConfigAddrsAB = 10,
  LoopWsConfigAddrsDC = 11,
  LoopWsConfigStridesAB = 12,
  LoopWsConfigStridesDC = 13,
  Mvin3 = 14,
};
constexpr uint32_t kNumFuncts = 15;

/// config rs1[1:0]: which pipeline a config instruction configures.
enum class ConfigKind : uint32_t { Ex = 0, Load = 1, Store = 2, Im2col = 3 };
enum class Dataflow : uint32_t { OS = 0, WS = 1 };
enum class Activation : uint32_t { None = 0, Relu = 1, Relu6 = 2 };

// --- RoCC instruction word ----------------------------------------------------
// R-type layout: funct7[31:25] rs2[24:20] rs1[19:15] xd[14] xs1[13] xs2[12]
// rd[11:7] opcode[6:0]. Gemmini's instructions read rs1 and rs2 and write no
// register (xd = 0, xs1 = xs2 = 1).
struct RoccWord {
  uint32_t funct7 = 0;
  uint32_t rs2 = 0; // register numbers, 0..31
  uint32_t rs1 = 0;
  bool xd = false;
  bool xs1 = true;
  bool xs2 = true;
  uint32_t rd = 0;
  uint32_t opcode = kOpcodeCustom3;
};

constexpr uint32_t encodeRocc(const RoccWord &w) {
  return ((w.funct7 & 0x7f) << 25) | ((w.rs2 & 0x1f) << 20) | ((w.rs1 & 0x1f) << 15) |
         (uint32_t(w.xd) << 14) | (uint32_t(w.xs1) << 13) | (uint32_t(w.xs2) << 12) |
         ((w.rd & 0x1f) << 7) | (w.opcode & 0x7f);
}

constexpr RoccWord decodeRocc(uint32_t word) {
  RoccWord w;
  w.opcode = word & 0x7f;
  w.rd = (word >> 7) & 0x1f;
  w.xs2 = (word >> 12) & 1;
  w.xs1 = (word >> 13) & 1;
  w.xd = (word >> 14) & 1;
  w.rs1 = (word >> 15) & 0x1f;
  w.rs2 = (word >> 20) & 0x1f;
  w.funct7 = (word >> 25) & 0x7f;
  return w;
}

/// The word of a Gemmini instruction `funct` reading registers x<rs1>, x<rs2>.
constexpr uint32_t encodeGemmini(Funct f, uint32_t rs1Reg, uint32_t rs2Reg) {
  RoccWord w;
  w.funct7 = static_cast<uint32_t>(f);
  w.rs1 = rs1Reg;
  w.rs2 = rs2Reg;
  return encodeRocc(w);
}

// --- local addresses ------------------------------------------------------------
constexpr uint32_t kGarbageAddr = 0xffffffffu;
constexpr uint32_t kAccBit = 1u << 31;
constexpr uint32_t kAccumulateBit = 1u << 30;
constexpr uint32_t kReadFullBit = 1u << 29;
constexpr uint32_t kRowMask = (1u << 29) - 1;

struct LocalAddr {
  bool garbage = false;
  bool acc = false;        // bit 31
  bool accumulate = false; // bit 30 (accumulator writes)
  bool readFull = false;   // bit 29 (accumulator reads)
  uint32_t row = 0;        // bits 28:0
};

constexpr LocalAddr decodeLocalAddr(uint32_t a) {
  LocalAddr l;
  l.garbage = a == kGarbageAddr;
  l.acc = (a & kAccBit) != 0;
  l.accumulate = (a & kAccumulateBit) != 0;
  l.readFull = (a & kReadFullBit) != 0;
  l.row = a & kRowMask;
  return l;
}

constexpr uint32_t spAddr(uint32_t row) { return row & kRowMask; }
constexpr uint32_t accAddr(uint32_t row, bool accumulate = false, bool readFull = false) {
  return kAccBit | (accumulate ? kAccumulateBit : 0u) | (readFull ? kReadFullBit : 0u) |
         (row & kRowMask);
}

// --- operand fields ---------------------------------------------------------------
/// addr[31:0] | cols[47:32] | rows[63:48]: mvin/mvout rs2, preload and compute
/// rs1/rs2.
struct AddrRowsCols {
  uint32_t addr = 0;
  uint32_t cols = 0;
  uint32_t rows = 0;
};

constexpr uint64_t packAddrRowsCols(uint32_t addr, uint32_t cols, uint32_t rows) {
  return (uint64_t(rows & 0xffff) << 48) | (uint64_t(cols & 0xffff) << 32) | uint64_t(addr);
}

constexpr AddrRowsCols unpackAddrRowsCols(uint64_t v) {
  AddrRowsCols f;
  f.addr = uint32_t(v);
  f.cols = uint32_t(v >> 32) & 0xffff;
  f.rows = uint32_t(v >> 48) & 0xffff;
  return f;
}

inline uint32_t floatBits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

inline float bitsFloat(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

// config_ex (README "config_ex"): rs1[1:0] = 00, rs1[2] dataflow (0 OS, 1 WS),
// rs1[4:3] activation, rs1[8] transpose A, rs1[9] transpose B, rs1[31:16] A
// stride (scratchpad rows), rs1[63:32] accumulator scale (float32 bits);
// rs2[31:0] OS output right shift, rs2[63:32] relu6 shift.
struct ConfigEx {
  Dataflow dataflow = Dataflow::OS;
  Activation activation = Activation::None;
  bool transposeA = false;
  bool transposeB = false;
  uint32_t aStride = 1;
  float accScale = 1.0f;
  uint32_t sysShift = 0;
  uint32_t relu6Shift = 0;
};

inline uint64_t configExRs1(const ConfigEx &c) {
  return (uint64_t(floatBits(c.accScale)) << 32) | (uint64_t(c.aStride & 0xffff) << 16) |
         (uint64_t(c.transposeB) << 9) | (uint64_t(c.transposeA) << 8) |
         (uint64_t(static_cast<uint32_t>(c.activation) & 3) << 3) |
         (uint64_t(static_cast<uint32_t>(c.dataflow) & 1) << 2) |
         uint64_t(ConfigKind::Ex);
}
inline uint64_t configExRs2(const ConfigEx &c) {
  return (uint64_t(c.relu6Shift) << 32) | uint64_t(c.sysShift);
}

// config_mvin (README "config_mvin"): rs1[1:0] = 01, rs1[2] "shrunk" (1:
// accumulator mvins read inputType, 0: accType), rs1[4:3] which mvin
// (0 mvin, 1 mvin2, 2 mvin3), rs1[63:32] mvin scale (float32 bits); rs2 = DRAM
// row stride in bytes.
struct ConfigLoad {
  uint32_t id = 0;
  bool shrunk = false;
  float scale = 1.0f;
  uint64_t stride = 0;
};

inline uint64_t configLoadRs1(const ConfigLoad &c) {
  return (uint64_t(floatBits(c.scale)) << 32) | (uint64_t(c.id & 3) << 3) |
         (uint64_t(c.shrunk) << 2) | uint64_t(ConfigKind::Load);
}

// config_mvout (README "config_mvout"): rs1[1:0] = 10, rs1[5:4] max-pool
// stride (0 = no pooling); rs2 = DRAM row stride in bytes.
inline uint64_t configStoreRs1(uint32_t poolStride = 0) {
  return (uint64_t(poolStride & 3) << 4) | uint64_t(ConfigKind::Store);
}

/// Which mvin config set (0..2) an mvin funct uses, or -1.
constexpr int mvinConfigId(Funct f) {
  return f == Funct::Mvin ? 0 : f == Funct::Mvin2 ? 1 : f == Funct::Mvin3 ? 2 : -1;
}

} // namespace buddy::gemmini

#endif // BUDDY_GEMMINI_ISA_H
