// RUN: buddy-opt %s -split-input-file --buddy-lower-gemmini -verify-diagnostics | FileCheck %s
// The instruction sequence of a 17x33x9 tile_matmul with a per-column bias (WS): 2 row
// blocks (16 + 1 rows), 3 K blocks (16 + 16 + 1), 1 column block of 9. Runs of
// iterations with the same static fields are scf.for over i64, the others peeled.
// Bit-exact replay (loops executed) through the Gemmini model:
// tests/python/gemmini/test_gemmini_lowering.py.

// CHECK-LABEL: func @ws_bias
// CHECK: memref.extract_aligned_pointer_as_index %arg1
// CHECK-NEXT: %[[BP:.*]] = arith.index_cast %{{.*}} : index to i64
// rs1 = scale 1/64 (0x3c800000) << 32 | A stride 1 << 16 | WS << 2
// CHECK: %[[EX:.*]] = arith.constant 4359484439294705668 : i64
// CHECK: gemmini.config_ex %[[EX]], %{{.*}}
// CHECK: gemmini.config_st
// CHECK-COUNT-3: gemmini.config_ld
// bias: 16 rows then 1 row of 9 int32 into accumulator rows 0 and 16 (overwrite);
// different rows fields, so no loop
// CHECK-NOT: scf.for
// CHECK: %[[B0:.*]] = arith.constant 4503640429559808 : i64
// CHECK: gemmini.mvin3 %{{.*}}, %[[B0]]
// CHECK: gemmini.mvin3
// A: one mvin per row block, 33 columns (3 blocks)
// CHECK-COUNT-2: gemmini.mvin %
// B: the two full K blocks in a loop (B + kk * 16 rows * 9 bytes; scratchpad row
// 48 + kk * 16, 16 rows x 9 cols), the 1-row block peeled
// CHECK:      %[[LB:.*]] = arith.constant 0 : i64
// CHECK-NEXT: %[[UB:.*]] = arith.constant 2 : i64
// CHECK-NEXT: %[[ST:.*]] = arith.constant 1 : i64
// CHECK-NEXT: scf.for %[[KK:.*]] = %[[LB]] to %[[UB]] step %[[ST]] : i64 {
// CHECK-NEXT:   %[[C144:.*]] = arith.constant 144 : i64
// CHECK-NEXT:   %[[O:.*]] = arith.muli %[[KK]], %[[C144]] : i64
// CHECK-NEXT:   %[[SRC:.*]] = arith.addi %[[BP]], %[[O]] : i64
// CHECK-NEXT:   %[[C16:.*]] = arith.constant 16 : i64
// CHECK-NEXT:   %[[R:.*]] = arith.muli %[[KK]], %[[C16]] : i64
// CHECK-NEXT:   %[[F:.*]] = arith.constant 4503638282076256 : i64
// CHECK-NEXT:   %[[RS2:.*]] = arith.addi %[[R]], %[[F]] : i64
// CHECK-NEXT:   gemmini.mvin2 %[[SRC]], %[[RS2]]
// CHECK-NEXT: }
// CHECK: %[[C288:.*]] = arith.constant 288 : i64
// CHECK-NEXT: %[[SRC2:.*]] = arith.addi %[[BP]], %[[C288]] : i64
// CHECK-NEXT: %[[F2:.*]] = arith.constant 281513631416448 : i64
// CHECK-NEXT: gemmini.mvin2 %[[SRC2]], %[[F2]]
// WS: per K block, preload B and compute the first row block, reuse it for the second;
// the two full K blocks loop, the last is peeled
// (garbage D, 16x16: 0x0010001000000000 | 0xffffffff = 4503672641814527)
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} : i64 {
// CHECK:   gemmini.preload
// CHECK:   %[[G:.*]] = arith.constant 4503672641814527 : i64
// CHECK-NEXT: gemmini.compute_preloaded %{{.*}}, %[[G]]
// CHECK:   gemmini.preload
// CHECK:   gemmini.compute_accumulated
// CHECK-NEXT: }
// CHECK: gemmini.preload
// CHECK: gemmini.compute_preloaded
// CHECK: gemmini.preload
// CHECK: gemmini.compute_accumulated
// CHECK-COUNT-2: gemmini.mvout
// CHECK: gemmini.flush
// CHECK-NOT: gemmini.tile_matmul
func.func @ws_bias(%a: memref<17x33xi8>, %b: memref<33x9xi8>, %c: memref<17x9xi8>, %bias: memref<9xi32>) {
  gemmini.tile_matmul %a, %b -> %c bias %bias : memref<9xi32> {scale = 0.015625 : f32} : memref<17x33xi8>, memref<33x9xi8>, memref<17x9xi8>
  return
}

// -----

// OS: one preload of garbage + compute_preloaded per (i, j, k) block, no reuse: loops over
// the 2 row blocks and the 2 K blocks (the first K block, which overwrites, peeled).
// CHECK-LABEL: func @os
// CHECK-NOT: gemmini.compute_accumulated
// CHECK: scf.for
// CHECK-COUNT-2: gemmini.compute_preloaded
// CHECK-NOT: gemmini.compute_accumulated
// CHECK: gemmini.flush
func.func @os(%a: memref<32x32xi8>, %b: memref<32x16xi8>, %c: memref<32x16xi32>) {
  gemmini.tile_matmul %a, %b -> %c {dataflow = "os"} : memref<32x32xi8>, memref<32x16xi8>, memref<32x16xi32>
  return
}

// -----

// 150x200x40 (WS, no bias): C tiles of 4x4 blocks (64x64), one K tile. I: 2 full tiles in
// a loop, then the 22-row tile peeled; J: 3 full tiles in a loop, then the 8-column tile
// peeled, inside both. rs1 of mvin (A) = A + it * 64 * 40 + i * 16 * 40.
// CHECK-LABEL: func @loops
// CHECK: %[[AI:.*]] = memref.extract_aligned_pointer_as_index %arg0
// CHECK-NEXT: %[[A:.*]] = arith.index_cast %[[AI]] : index to i64
// CHECK: memref.extract_aligned_pointer_as_index %arg2
// CHECK-NEXT: %[[C:.*]] = arith.index_cast %{{.*}} : index to i64
// CHECK-COUNT-3: gemmini.config_ld
// CHECK-NEXT: %[[L0:.*]] = arith.constant 0 : i64
// CHECK-NEXT: %[[U0:.*]] = arith.constant 2 : i64
// CHECK-NEXT: %[[S0:.*]] = arith.constant 1 : i64
// CHECK-NEXT: scf.for %[[IT:.*]] = %[[L0]] to %[[U0]] step %[[S0]] : i64 {
// CHECK:        %[[U1:.*]] = arith.constant 3 : i64
// CHECK-NEXT:   %[[S1:.*]] = arith.constant 1 : i64
// CHECK-NEXT:   scf.for %[[JT:.*]] = %{{.*}} to %[[U1]] step %[[S1]] : i64 {
// CHECK:          %[[U2:.*]] = arith.constant 4 : i64
// CHECK-NEXT:     %[[S2:.*]] = arith.constant 1 : i64
// CHECK-NEXT:     scf.for %[[I:.*]] = %{{.*}} to %[[U2]] step %[[S2]] : i64 {
// CHECK-NEXT:       %[[K1:.*]] = arith.constant 2560 : i64
// CHECK-NEXT:       %[[T1:.*]] = arith.muli %[[IT]], %[[K1]] : i64
// CHECK-NEXT:       %[[T2:.*]] = arith.addi %[[A]], %[[T1]] : i64
// CHECK-NEXT:       %[[K2:.*]] = arith.constant 640 : i64
// CHECK-NEXT:       %[[T3:.*]] = arith.muli %[[I]], %[[K2]] : i64
// CHECK-NEXT:       %[[SRC:.*]] = arith.addi %[[T2]], %[[T3]] : i64
// CHECK:            gemmini.mvin %[[SRC]], %{{.*}}
// CHECK-NEXT:     }
// the peeled J tile (columns 192..199): B + kk * 16 * 200 + 192, and mvout of its 4 row
// blocks at C + it * 64 * 200 + i * 16 * 200 + 192, rs2 = i * 16 + (16 rows, 8 cols, acc)
// CHECK:          %[[K7:.*]] = arith.constant 192 : i64
// CHECK-NEXT:     %[[SRCB:.*]] = arith.addi %{{.*}}, %[[K7]] : i64
// CHECK:          gemmini.mvin2 %[[SRCB]], %{{.*}}
// CHECK:          %[[K3:.*]] = arith.constant 12800 : i64
// CHECK-NEXT:     %[[T4:.*]] = arith.muli %[[IT]], %[[K3]] : i64
// CHECK-NEXT:     %[[T5:.*]] = arith.addi %[[C]], %[[T4]] : i64
// CHECK-NEXT:     %[[K4:.*]] = arith.constant 3200 : i64
// CHECK-NEXT:     %[[T6:.*]] = arith.muli %[[IO:.*]], %[[K4]] : i64
// CHECK-NEXT:     %[[T7:.*]] = arith.addi %[[T5]], %[[T6]] : i64
// CHECK-NEXT:     %[[K5:.*]] = arith.constant 192 : i64
// CHECK-NEXT:     %[[DST0:.*]] = arith.addi %[[T7]], %[[K5]] : i64
// CHECK-NEXT:     %[[K6:.*]] = arith.constant 16 : i64
// CHECK-NEXT:     %[[T8:.*]] = arith.muli %[[IO]], %[[K6]] : i64
// CHECK-NEXT:     %[[M:.*]] = arith.constant 4503636134592512 : i64
// CHECK-NEXT:     %[[RS2O:.*]] = arith.addi %[[T8]], %[[M]] : i64
// CHECK-NEXT:     gemmini.mvout %[[DST0]], %[[RS2O]]
// CHECK-NEXT:   }
// CHECK-NEXT: }
// the peeled I tile (22 rows: blocks of 16 and 6), with its J loop and peeled J tile
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} : i64 {
// CHECK: }
// last: the corner block, 6 rows x 8 columns at C + 144 * 200 + 192
// CHECK: %[[OFF:.*]] = arith.constant 28992 : i64
// CHECK-NEXT: %[[DST:.*]] = arith.addi %[[C]], %[[OFF]] : i64
// CHECK-NEXT: %[[F:.*]] = arith.constant 1688886367485968 : i64
// CHECK-NEXT: gemmini.mvout %[[DST]], %[[F]]
// CHECK: gemmini.flush
func.func @loops(%a: memref<150x40xi8>, %b: memref<40x200xi8>, %c: memref<150x200xi8>) {
  gemmini.tile_matmul %a, %b -> %c : memref<150x40xi8>, memref<40x200xi8>, memref<150x200xi8>
  return
}

// -----

func.func @dynamic(%a: memref<?x32xi8>, %b: memref<32x16xi8>, %c: memref<?x16xi8>) {
  // expected-error @+1 {{needs static shapes and row-major layouts}}
  gemmini.tile_matmul %a, %b -> %c : memref<?x32xi8>, memref<32x16xi8>, memref<?x16xi8>
  return
}

// -----

// A column slice (row stride 16, not its 8 columns) is not row-major: rejected.
func.func @column_slice(%a: memref<4x8xi8, strided<[16, 1]>>, %b: memref<8x4xi8>, %c: memref<4x4xi32>) {
  // expected-error @+1 {{needs static shapes and row-major layouts}}
  gemmini.tile_matmul %a, %b -> %c : memref<4x8xi8, strided<[16, 1]>>, memref<8x4xi8>, memref<4x4xi32>
  return
}
