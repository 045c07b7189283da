// Gemmini RoCC words and operand fields against the documented layouts
// (README "ISA" / "Memory Addressing Scheme", gemmini.h), and the model's
// rounding helpers on the tie cases.
#include "buddy/gemmini/Isa.h"
#include "buddy/gemmini/Model.h"
#include "check.h"

using namespace buddy::gemmini;

static void testRoccWord() {
  // mvin x10, x11: funct7 = 2, rs2 = 11, rs1 = 10, funct3 = xd|xs1|xs2 = 011,
  // rd = 0, opcode custom3.
  uint32_t w = encodeGemmini(Funct::Mvin, 10, 11);
  CHECK_EQ(w, (2u << 25) | (11u << 20) | (10u << 15) | (3u << 12) | 0x7bu);
  CHECK_EQ(w, 0x04b5307bu);
  CHECK_EQ(w & 0x7f, 0x7bu);        // custom3 = 0b1111011
  CHECK_EQ((w >> 12) & 7, 3u);      // funct3: xs1 and xs2, no xd
  RoccWord d = decodeRocc(w);
  CHECK_EQ(d.funct7, 2u);
  CHECK_EQ(d.rs1, 10u);
  CHECK_EQ(d.rs2, 11u);
  CHECK(d.xs1 && d.xs2 && !d.xd);
  CHECK_EQ(d.rd, 0u);
  CHECK_EQ(d.opcode, kOpcodeCustom3);
  // Every field survives a round trip, at its extreme values too.
  RoccWord all;
  all.funct7 = 0x7f;
  all.rs1 = 31;
  all.rs2 = 31;
  all.rd = 31;
  all.xd = true;
  all.opcode = 0x7f;
  uint32_t full = encodeRocc(all);
  CHECK_EQ(full, 0xffffffffu);
  RoccWord back = decodeRocc(full);
  CHECK_EQ(back.funct7, 0x7fu);
  CHECK_EQ(back.rd, 31u);
  CHECK(back.xd);
  CHECK_EQ(encodeGemmini(Funct::Config, 0, 0), 0x307bu);
  CHECK_EQ(encodeGemmini(Funct::Mvin3, 1, 2) >> 25, 14u);
  CHECK_EQ(encodeGemmini(Funct::ComputeAccumulated, 5, 6),
           (5u << 25) | (6u << 20) | (5u << 15) | (3u << 12) | 0x7bu);
}

static void testLocalAddr() {
  CHECK_EQ(spAddr(123), 123u);
  CHECK_EQ(accAddr(5), 0x80000005u);
  CHECK_EQ(accAddr(5, true), 0xc0000005u);
  CHECK_EQ(accAddr(5, false, true), 0xa0000005u);
  LocalAddr a = decodeLocalAddr(0xe0000010u);
  CHECK(a.acc && a.accumulate && a.readFull && !a.garbage);
  CHECK_EQ(a.row, 16u);
  LocalAddr g = decodeLocalAddr(kGarbageAddr);
  CHECK(g.garbage);
  CHECK(!decodeLocalAddr(0x1fffffffu).garbage);
  CHECK(!decodeLocalAddr(0x1fffffffu).acc);
}

static void testOperandFields() {
  uint64_t v = packAddrRowsCols(accAddr(5, true), 16, 7);
  CHECK_EQ(v, (uint64_t(7) << 48) | (uint64_t(16) << 32) | 0xc0000005ull);
  AddrRowsCols f = unpackAddrRowsCols(v);
  CHECK_EQ(f.addr, 0xc0000005u);
  CHECK_EQ(f.cols, 16u);
  CHECK_EQ(f.rows, 7u);
  CHECK_EQ(unpackAddrRowsCols(packAddrRowsCols(kGarbageAddr, 0xffff, 0xffff)).rows, 0xffffu);

  ConfigEx ex;
  ex.dataflow = Dataflow::WS;
  ex.activation = Activation::Relu;
  ex.accScale = 0.5f;
  ex.aStride = 1;
  ex.sysShift = 3;
  ex.relu6Shift = 9;
  CHECK_EQ(configExRs1(ex), (uint64_t(0x3f000000) << 32) | (1u << 16) | (1u << 3) | (1u << 2));
  CHECK_EQ(configExRs2(ex), (uint64_t(9) << 32) | 3u);
  ex.transposeA = true;
  ex.transposeB = true;
  CHECK_EQ(configExRs1(ex) & 0x300, 0x300u);

  ConfigLoad ld;
  ld.id = 2;
  ld.shrunk = true;
  ld.scale = 1.0f;
  CHECK_EQ(configLoadRs1(ld), (uint64_t(0x3f800000) << 32) | (2u << 3) | (1u << 2) | 1u);
  CHECK_EQ(configStoreRs1(), 2u);
  CHECK_EQ(configStoreRs1(1), 0x12u);
  CHECK_EQ(mvinConfigId(Funct::Mvin2), 1);
  CHECK_EQ(mvinConfigId(Funct::Mvout), -1);
}

static void testRounding() {
  // Rounding right shift: nearest, ties to even.
  CHECK_EQ(Model::roundingShift(5, 1), 2);   // 2.5
  CHECK_EQ(Model::roundingShift(7, 1), 4);   // 3.5
  CHECK_EQ(Model::roundingShift(-5, 1), -2); // -2.5
  CHECK_EQ(Model::roundingShift(-7, 1), -4); // -3.5
  CHECK_EQ(Model::roundingShift(6, 2), 2);   // 1.5
  CHECK_EQ(Model::roundingShift(10, 2), 2);  // 2.5
  CHECK_EQ(Model::roundingShift(11, 2), 3);  // 2.75
  CHECK_EQ(Model::roundingShift(9, 2), 2);   // 2.25
  CHECK_EQ(Model::roundingShift(-9, 2), -2); // -2.25
  CHECK_EQ(Model::roundingShift(1234, 0), 1234);
  CHECK_EQ(Model::roundingShift(INT32_MIN, 31), -1);
  // Accumulator scaling: float32 product, nearest-even, int8 saturation.
  CHECK_EQ(Model::scaleToInt8(3, 0.5f), 2);   // 1.5
  CHECK_EQ(Model::scaleToInt8(5, 0.5f), 2);   // 2.5
  CHECK_EQ(Model::scaleToInt8(-5, 0.5f), -2); // -2.5
  CHECK_EQ(Model::scaleToInt8(-3, 0.5f), -2); // -1.5
  CHECK_EQ(Model::scaleToInt8(1000, 1.0f), 127);
  CHECK_EQ(Model::scaleToInt8(-1000, 1.0f), -128);
  CHECK_EQ(Model::scaleToInt8(INT32_MAX, 1.0f), 127);
  CHECK_EQ(Model::scaleToInt8(INT32_MIN, 2.0f), -128);
  CHECK_EQ(Model::scaleToInt8(100, 0.01f), 1);
  // Spatial-array output: 20-bit saturation.
  CHECK_EQ(Model::clipBits(524288, 20), 524287);
  CHECK_EQ(Model::clipBits(-524289, 20), -524288);
  CHECK_EQ(Model::clipBits(-524288, 20), -524288);
}

int main() {
  testRoccWord();
  testLocalAddr();
  testOperandFields();
  testRounding();
  return buddy_test::report();
}
