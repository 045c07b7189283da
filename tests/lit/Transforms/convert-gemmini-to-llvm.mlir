// RUN: buddy-opt %s --buddy-convert-gemmini-to-llvm | FileCheck %s
// Each instruction op -> `.insn r 0x7b, 3, funct7, x0, rs1, rs2` (custom3, funct3 011 =
// xs1 + xs2, rd = x0), funct7 from the Gemmini ISA. The words are checked after
// assembling for riscv64 in tests/python/gemmini/test_gemmini_rocc.py.

// CHECK-LABEL: func @all
// CHECK-NOT: gemmini.
// CHECK: llvm.inline_asm has_side_effects ".insn r 0x7b, 3, 0, x0, $0, $1", "r,r,~{memory}" %arg0, %arg1 : (i64, i64) -> ()
// CHECK: ".insn r 0x7b, 3, 0, x0, $0, $1"
// CHECK: ".insn r 0x7b, 3, 0, x0, $0, $1"
// CHECK: ".insn r 0x7b, 3, 2, x0, $0, $1"
// CHECK: ".insn r 0x7b, 3, 1, x0, $0, $1"
// CHECK: ".insn r 0x7b, 3, 14, x0, $0, $1"
// CHECK: ".insn r 0x7b, 3, 3, x0, $0, $1"
// CHECK: ".insn r 0x7b, 3, 6, x0, $0, $1"
// CHECK: ".insn r 0x7b, 3, 4, x0, $0, $1"
// CHECK: ".insn r 0x7b, 3, 5, x0, $0, $1"
// CHECK: ".insn r 0x7b, 3, 7, x0, $0, $1"
// CHECK-NOT: gemmini.
func.func @all(%x: i64, %y: i64) {
  gemmini.config_ex %x, %y
  gemmini.config_ld %x, %y
  gemmini.config_st %x, %y
  gemmini.mvin %x, %y
  gemmini.mvin2 %x, %y
  gemmini.mvin3 %x, %y
  gemmini.mvout %x, %y
  gemmini.preload %x, %y
  gemmini.compute_preloaded %x, %y
  gemmini.compute_accumulated %x, %y
  gemmini.flush %x, %y
  return
}
