// RUN: buddy-opt %s -split-input-file --buddy-lower-gemmini -verify-diagnostics | FileCheck %s
// The instruction sequence of a 17x33x9 tile_matmul with a per-column bias (WS): 2 row
// blocks (16 + 1 rows), 3 K blocks (16 + 16 + 1), 1 column block of 9. Bit-exact replay
// through the Gemmini model: tests/python/gemmini/test_gemmini_lowering.py.

// CHECK-LABEL: func @ws_bias
// CHECK-DAG: %[[A:.*]] = arith.index_cast %{{.*}} : index to i64
// rs1 = scale 1/64 (0x3c800000) << 32 | A stride 1 << 16 | WS << 2
// CHECK: %[[EX:.*]] = arith.constant 4359484439294705668 : i64
// CHECK: gemmini.config_ex %[[EX]], %{{.*}}
// CHECK: gemmini.config_st
// CHECK-COUNT-3: gemmini.config_ld
// bias: 16 rows then 1 row of 9 int32 into accumulator rows 0 and 16 (overwrite)
// CHECK: %[[B0:.*]] = arith.constant 4503640429559808 : i64
// CHECK: gemmini.mvin3 %{{.*}}, %[[B0]]
// CHECK: gemmini.mvin3
// A: one mvin per row block, 33 columns (3 blocks)
// CHECK-COUNT-2: gemmini.mvin %
// B: one mvin2 per K block
// CHECK-COUNT-3: gemmini.mvin2
// WS: per K block, preload B and compute the first row block, reuse it for the second
// (rs2 = garbage D, 16x16: 0x0010001000000000 | 0xffffffff = 4503672641814527)
// CHECK: gemmini.preload
// CHECK-NEXT: %[[G:.*]] = arith.constant 4503672641814527 : i64
// CHECK-NEXT: arith.constant
// CHECK-NEXT: gemmini.compute_preloaded %{{.*}}, %[[G]]
// CHECK: gemmini.preload
// CHECK-NEXT: arith.constant
// CHECK-NEXT: arith.constant
// CHECK-NEXT: gemmini.compute_accumulated
// CHECK-COUNT-2: gemmini.mvout
// CHECK: gemmini.flush
// CHECK-NOT: gemmini.tile_matmul
func.func @ws_bias(%a: memref<17x33xi8>, %b: memref<33x9xi8>, %c: memref<17x9xi8>, %bias: memref<9xi32>) {
  gemmini.tile_matmul %a, %b -> %c bias %bias : memref<9xi32> {scale = 0.015625 : f32} : memref<17x33xi8>, memref<33x9xi8>, memref<17x9xi8>
  return
}

// -----

// OS: one preload of garbage + compute_preloaded per (i, j, k) block, no reuse.
// CHECK-LABEL: func @os
// CHECK-NOT: gemmini.compute_accumulated
// CHECK-COUNT-4: gemmini.compute_preloaded
// CHECK-NOT: gemmini.compute_accumulated
// CHECK: gemmini.flush
func.func @os(%a: memref<32x32xi8>, %b: memref<32x16xi8>, %c: memref<32x16xi32>) {
  gemmini.tile_matmul %a, %b -> %c {dataflow = "os"} : memref<32x32xi8>, memref<32x16xi8>, memref<32x16xi32>
  return
}

// -----

func.func @dynamic(%a: memref<?x32xi8>, %b: memref<32x16xi8>, %c: memref<?x16xi8>) {
  // expected-error @+1 {{needs static shapes and identity layouts}}
  gemmini.tile_matmul %a, %b -> %c : memref<?x32xi8>, memref<32x16xi8>, memref<?x16xi8>
  return
}
