// RUN: buddy-opt %s --buddy-gemmini-pipeline | FileCheck %s
// RUN: buddy-opt %s --buddy-gemmini-pipeline="dataflow=os rename-from=forward rename-to=mlp" | FileCheck %s --check-prefix=RENAME
// RUN: not buddy-opt %s --buddy-gemmini-pipeline="dataflow=is" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not buddy-opt %s --buddy-gemmini-pipeline="rename-to=mlp" 2>&1 | FileCheck %s --check-prefix=HALF

// `--buddy-gemmini-pipeline` (what `buddy compile -t riscv64-gemmini` runs): the int8 matmul
// becomes RoCC custom3 words, the f32 matmul next to it stays on the core as scalar loops,
// and the entry points of the compiled-model ABI are there.
// CHECK-LABEL: llvm.func @forward(
// CHECK: llvm.inline_asm has_side_effects ".insn r 0x7b, 3,
// CHECK: llvm.fmul {{.+}} : f32
// CHECK: llvm.fadd {{.+}} : f32
// CHECK: llvm.func @_mlir_ciface_forward(
// CHECK: llvm.func @_buddy_forward(
// CHECK-NOT: linalg.
// CHECK-NOT: gemmini.

// RENAME: llvm.func @mlp(
// RENAME: llvm.func @_buddy_mlp(
// RENAME-NOT: @_buddy_forward(

// BAD: buddy-gemmini-pipeline: unknown dataflow 'is' (expected ws or os)
// HALF: buddy-gemmini-pipeline: rename-from and rename-to go together
func.func @forward(%a: memref<20x40xi8>, %b: memref<40x24xi8>, %x: memref<4x8xf32>,
                   %y: memref<8x3xf32>, %c: memref<20x24xi32> {buddy.output},
                   %z: memref<4x3xf32> {buddy.output}) {
  %zero = arith.constant 0 : i32
  linalg.fill ins(%zero : i32) outs(%c : memref<20x24xi32>)
  linalg.matmul ins(%a, %b : memref<20x40xi8>, memref<40x24xi8>) outs(%c : memref<20x24xi32>)
  %fz = arith.constant 0.0 : f32
  linalg.fill ins(%fz : f32) outs(%z : memref<4x3xf32>)
  linalg.matmul ins(%x, %y : memref<4x8xf32>, memref<8x3xf32>) outs(%z : memref<4x3xf32>)
  return
}
