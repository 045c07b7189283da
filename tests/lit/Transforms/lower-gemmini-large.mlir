// RUN: buddy-opt %s --buddy-lower-gemmini="max-instructions=17" | FileCheck %s
// 512x512x512 (WS, no bias) executes 70,662 instructions (8 x 8 C tiles of 64x64, one K
// tile of 32 blocks) but lowers to 17 instruction ops in loops: no tile is a remainder,
// so nothing but the first K block (overwrite) and the first row block of each WS
// preload (B) is peeled. Straight-line that was 70,662 instruction ops plus their operands.

// CHECK-LABEL: func @big
// CHECK-COUNT-3: gemmini.config_ld
// I tiles: 0..8, J tiles: 0..8
// CHECK-NEXT: %[[L0:.*]] = arith.constant 0 : i64
// CHECK-NEXT: %[[U0:.*]] = arith.constant 8 : i64
// CHECK-NEXT: %[[S0:.*]] = arith.constant 1 : i64
// CHECK-NEXT: scf.for %[[IT:.*]] = %[[L0]] to %[[U0]] step %[[S0]] : i64 {
// CHECK-NEXT:   %[[L1:.*]] = arith.constant 0 : i64
// CHECK-NEXT:   %[[U1:.*]] = arith.constant 8 : i64
// CHECK-NEXT:   %[[S1:.*]] = arith.constant 1 : i64
// CHECK-NEXT:   scf.for %[[JT:.*]] = %[[L1]] to %[[U1]] step %[[S1]] : i64 {
// A: 4 row blocks x 8 mvins of 64 columns; A + it * 64 * 512 + i * 16 * 512 + g * 64
// CHECK:          scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} : i64 {
// CHECK:            scf.for %[[G:.*]] = %{{.*}} to %{{.*}} step %{{.*}} : i64 {
// CHECK-NEXT:         %[[K1:.*]] = arith.constant 32768 : i64
// CHECK-NEXT:         %{{.*}} = arith.muli %[[IT]], %[[K1]] : i64
// CHECK:              %[[K2:.*]] = arith.constant 8192 : i64
// CHECK-NEXT:         %{{.*}} = arith.muli %[[I]], %[[K2]] : i64
// CHECK:              %[[K3:.*]] = arith.constant 64 : i64
// CHECK-NEXT:         %{{.*}} = arith.muli %[[G]], %[[K3]] : i64
// CHECK:              gemmini.mvin %
// CHECK-NEXT:       }
// CHECK-NEXT:     }
// B: 32 K blocks, one mvin2 of 64 columns each
// CHECK:          %[[U3:.*]] = arith.constant 32 : i64
// CHECK-NEXT:     %[[S3:.*]] = arith.constant 1 : i64
// CHECK-NEXT:     scf.for %{{.*}} = %{{.*}} to %[[U3]] step %[[S3]] : i64 {
// CHECK:            gemmini.mvin2
// CHECK-NEXT:     }
// WS compute: per column block j, K block 0 (overwrite) peeled, then K blocks 1..32
// CHECK:          scf.for
// CHECK:            gemmini.preload
// CHECK:            gemmini.compute_preloaded
// CHECK:            scf.for
// CHECK:              gemmini.preload
// CHECK:              gemmini.compute_accumulated
// CHECK:            }
// CHECK:            %[[L4:.*]] = arith.constant 1 : i64
// CHECK-NEXT:       %[[U4:.*]] = arith.constant 32 : i64
// CHECK-NEXT:       %[[S4:.*]] = arith.constant 1 : i64
// CHECK-NEXT:       scf.for %{{.*}} = %[[L4]] to %[[U4]] step %[[S4]] : i64 {
// CHECK:              gemmini.preload
// CHECK:              gemmini.compute_preloaded
// CHECK:              scf.for
// CHECK:                gemmini.preload
// CHECK:                gemmini.compute_accumulated
// CHECK:          scf.for
// CHECK:            scf.for
// CHECK:              gemmini.mvout
// CHECK:  gemmini.flush
// CHECK-NOT: gemmini.
func.func @big(%a: memref<512x512xi8>, %b: memref<512x512xi8>, %c: memref<512x512xi8>) {
  gemmini.tile_matmul %a, %b -> %c : memref<512x512xi8>, memref<512x512xi8>, memref<512x512xi8>
  return
}
