// RUN: buddy-opt %s --buddy-matmul-vectorize="mr=2 nr=16 vector-width=8 kc=32 nc=64 threads=2" --canonicalize --cse | FileCheck %s
// RUN: buddy-opt %s --buddy-matmul-vectorize="min-rows=4" | FileCheck %s --check-prefix=MINROWS
// RUN: buddy-opt %s --buddy-matmul-vectorize="mr=2 nr=16 vector-width=8 kc=32 nc=64 threads=2" | FileCheck %s --check-prefix=TRANS
// RUN: buddy-opt %s --buddy-matmul-vectorize="mr=2 nr=16 vector-width=8 kc=32 nc=64 threads=2 pack-a=1 mc=4" --canonicalize --cse | FileCheck %s --check-prefix=PACKA
// RUN: not buddy-opt %s --buddy-matmul-vectorize="nr=20 vector-width=8" 2>&1 | FileCheck %s --check-prefix=BADOPT
// RUN: not buddy-opt %s --buddy-matmul-vectorize="mr=4 mc=6" 2>&1 | FileCheck %s --check-prefix=BADMC

// Plain B (k, n): N panels in parallel, B packed with masked vector copies,
// a 2 x (2 x 8) register tile, then a one-row kernel for the M tail (33 = 16*2 + 1).
// CHECK-LABEL: func.func @plain
//   CHECK-NOT: linalg.matmul
//       CHECK: scf.parallel (%{{.+}}) = (%c0) to (%c3) step (%c1)
//       CHECK:   %[[BP:.+]] = memref.alloc() {alignment = 64 : i64} : memref<1536xf32>
//       CHECK:   scf.for %[[PC:.+]] = %c0 to %c65 step %c32
//       CHECK:     vector.maskedload %arg1[{{.+}}], %{{.+}}, %{{.+}} : memref<65x129xf32>, vector<8xi1>, vector<8xf32> into vector<8xf32>
//       CHECK:     vector.store %{{.+}}, %[[BP]][{{.+}}] : memref<1536xf32>, vector<8xf32>
//       CHECK:     scf.for %[[IR:.+]] = %c0 to %c32 step %c2
//       CHECK:       %{{.+}}:4 = scf.for {{.+}} iter_args({{.+}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
//       CHECK:         vector.load %[[BP]]
//       CHECK:         vector.load %[[BP]]
//       CHECK:         memref.load %arg0
//       CHECK:         vector.broadcast %{{.+}} : f32 to vector<8xf32>
//       CHECK-COUNT-2: vector.fma
//       CHECK:         memref.load %arg0
//       CHECK:         vector.broadcast
//       CHECK-COUNT-2: vector.fma
//       CHECK:         scf.yield
//       CHECK-COUNT-4: vector.maskedstore %arg2
//       CHECK:     %{{.+}}:2 = scf.for {{.+}} -> (vector<8xf32>, vector<8xf32>)
//       CHECK:   memref.dealloc %[[BP]]
//       CHECK:   scf.reduce
// With pack-a=1 (BLIS order): per K block, mc = 4 rows of A (two 2-row tiles)
// are copied into a contiguous [mc][kc] buffer, then each 16-column micro-panel
// of Bp is swept over the block's register tiles, which read A from the buffer.
// PACKA-LABEL: func.func @plain
//       PACKA: %[[BP:.+]] = memref.alloc() {alignment = 64 : i64} : memref<1536xf32>
//       PACKA: %[[AP:.+]] = memref.alloc() {alignment = 64 : i64} : memref<128xf32>
//       PACKA: scf.for %[[PC:.+]] = %c0 to %c65 step %c32
//       PACKA:   scf.for %[[IC:.+]] = %c0 to %c32 step %c4
//       PACKA:     scf.for
//       PACKA:       vector.maskedload %arg0[{{.+}}], %{{.+}}, %{{.+}} : memref<33x65xf32>, vector<8xi1>, vector<8xf32> into vector<8xf32>
//       PACKA:       vector.store %{{.+}}, %[[AP]][{{.+}}] : memref<128xf32>, vector<8xf32>
//       PACKA:     scf.for %[[JR:.+]] = %c0 to %{{.+}} step %c16
//       PACKA:       scf.for %[[I0:.+]] = %c0 to %{{.+}} step %c2
//       PACKA:         scf.for {{.+}} iter_args({{.+}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
//       PACKA:           vector.load %[[BP]]
//       PACKA:           memref.load %[[AP]]
//   PACKA-NOT:           memref.load %arg0
//       PACKA:           scf.yield
//       PACKA:   memref.dealloc %[[AP]]
// BADMC: mc (6) a multiple of mr (4)
func.func @plain(%a: memref<33x65xf32>, %b: memref<65x129xf32>, %c: memref<33x129xf32>) {
  linalg.matmul ins(%a, %b : memref<33x65xf32>, memref<65x129xf32>) outs(%c : memref<33x129xf32>)
  return
}

// Transposed B (n, k), as --buddy-fold-transpose-into-matmul leaves nn.Linear:
// the pack loads 8 x 8 tiles along k (rows clamped to N - 1, k tail masked),
// transposes them in registers and stores them as panel rows.
// CHECK-LABEL: func.func @transposed_b
//   CHECK-NOT: linalg.matmul
//       CHECK: scf.parallel
//       CHECK:   arith.minsi %{{.+}}, %c128 : index
//       CHECK:   vector.fma
//       CHECK:   vector.maskedstore %arg2
// TRANS-LABEL: func.func @transposed_b
//       TRANS:   scf.for %{{.+}} = %{{.+}} to %{{.+}} step %{{.+}}
//       TRANS:     vector.create_mask %{{.+}} : vector<8xi1>
// TRANS-COUNT-8: vector.maskedload %arg1[{{.+}}], %{{.+}}, %{{.+}} : memref<129x65xf32>
//       TRANS:     vector.transpose %{{.+}}, [1, 0] : vector<8x8xf32> to vector<8x8xf32>
// TRANS-COUNT-8: vector.store %{{.+}}, %{{.+}}[%{{.+}}] : memref<1536xf32>, vector<8xf32>
func.func @transposed_b(%a: memref<33x65xf32>, %b: memref<129x65xf32>, %c: memref<33x129xf32>) {
  linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
    ins(%a, %b : memref<33x65xf32>, memref<129x65xf32>) outs(%c : memref<33x129xf32>)
  return
}

// Batch matmul with B transposed (Q K^T): the batch is a parallel dimension
// (the single N panel's unit dimension is folded away by canonicalize).
// CHECK-LABEL: func.func @batch_qkt
//   CHECK-NOT: linalg.batch_matmul
//       CHECK: scf.parallel (%[[B:.+]]) = (%c0) to (%c4)
//       CHECK:   vector.maskedload %arg1[%[[B]], {{.+}}], %{{.+}}, %{{.+}} : memref<4x40x24xf32>
//       CHECK:   vector.maskedstore %arg2[%[[B]], {{.+}}], %{{.+}}, %{{.+}} : memref<4x17x40xf32>
func.func @batch_qkt(%q: memref<4x17x24xf32>, %k: memref<4x40x24xf32>, %s: memref<4x17x40xf32>) {
  linalg.batch_matmul indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>, affine_map<(b, m, n, k) -> (b, n, k)>, affine_map<(b, m, n, k) -> (b, m, n)>]
    ins(%q, %k : memref<4x17x24xf32>, memref<4x40x24xf32>) outs(%s : memref<4x17x40xf32>)
  return
}

// One N panel but two threads: M is split into two parts of 32 rows.
// CHECK-LABEL: func.func @tall_narrow
//       CHECK: scf.parallel (%[[MP:.+]]) = (%c0) to (%c2)
//       CHECK:   %[[M0:.+]] = arith.muli %[[MP]], %c32 : index
//       CHECK:   scf.for %{{.+}} = %[[M0]] to %{{.+}} step %c2
func.func @tall_narrow(%a: memref<64x8xf32>, %b: memref<8x16xf32>, %c: memref<64x16xf32>) {
  linalg.matmul ins(%a, %b : memref<64x8xf32>, memref<8x16xf32>) outs(%c : memref<64x16xf32>)
  return
}

// A linalg.fill of C right before the matmul is folded: the first K block (of two)
// starts from the fill value, C is not read back (and the fill is erased).
// CHECK-LABEL: func.func @fill_then_matmul
//   CHECK-NOT: linalg.fill
//       CHECK: %[[FIRST:.+]] = arith.cmpi eq, %[[PC:.+]], %c0 : index
//       CHECK: scf.if %[[FIRST]] -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
//       CHECK:   scf.yield %[[S:.+]], %[[S]], %[[S]], %[[S]] :
//       CHECK: } else {
// (canonicalize turns the all-true masked loads of this full tile into plain loads)
//       CHECK:   vector.load %arg2
// CHECK-LABEL: func.func @dynamic
func.func @fill_then_matmul(%a: memref<16x40xf32>, %b: memref<40x16xf32>, %c: memref<16x16xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%c : memref<16x16xf32>)
  linalg.matmul ins(%a, %b : memref<16x40xf32>, memref<40x16xf32>) outs(%c : memref<16x16xf32>)
  return
}

// Dynamic shapes: sizes come from memref.dim, panels use the nc option.
//       CHECK: %[[N:.+]] = memref.dim %arg2, %c1
//       CHECK: %[[NB:.+]] = arith.ceildivsi %[[N]], %c64
//       CHECK: scf.parallel (%{{.+}}) = (%c0) to (%[[NB]])
func.func @dynamic(%a: memref<?x?xf32>, %b: memref<?x?xf32>, %c: memref<?x?xf32>) {
  linalg.matmul ins(%a, %b : memref<?x?xf32>, memref<?x?xf32>) outs(%c : memref<?x?xf32>)
  return
}

// Not handled: tensors (before bufferization) and non-f32 element types.
// CHECK-LABEL: func.func @untouched
//       CHECK: linalg.matmul {{.*}} -> tensor<4x8xf32>
//       CHECK: linalg.matmul {{.*}} outs(%{{.+}} : memref<4x8xf16>)
func.func @untouched(%a: tensor<4x8xf32>, %b: tensor<8x8xf32>, %c: tensor<4x8xf32>,
                     %ha: memref<4x8xf16>, %hb: memref<8x8xf16>, %hc: memref<4x8xf16>) -> tensor<4x8xf32> {
  %r = linalg.matmul ins(%a, %b : tensor<4x8xf32>, tensor<8x8xf32>) outs(%c : tensor<4x8xf32>) -> tensor<4x8xf32>
  linalg.matmul ins(%ha, %hb : memref<4x8xf16>, memref<8x8xf16>) outs(%hc : memref<4x8xf16>)
  return %r : tensor<4x8xf32>
}

// min-rows leaves small-M matmuls (decode GEMV) to buddy-gemv-vectorize.
// MINROWS-LABEL: func.func @plain
//   MINROWS-NOT: linalg.matmul
//       MINROWS: scf.parallel
// MINROWS-LABEL: func.func @gemv
//       MINROWS: linalg.matmul
func.func @gemv(%a: memref<1x64xf32>, %b: memref<64x32xf32>, %c: memref<1x32xf32>) {
  linalg.matmul ins(%a, %b : memref<1x64xf32>, memref<64x32xf32>) outs(%c : memref<1x32xf32>)
  return
}

// BADOPT: nr (20) and kc (256) multiples of vector-width (8)
