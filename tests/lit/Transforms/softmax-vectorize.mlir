// RUN: buddy-opt %s --buddy-softmax-vectorize="vector-width=16" | FileCheck %s
// RUN: buddy-opt %s --buddy-softmax-vectorize="vector-width=8 parallel=0" | FileCheck %s --check-prefix=SEQ

// Rows (all dims but the last) in one scf.parallel; three sweeps over a row of
// 37 = 2 x 16 + 5: full vectors in an scf.for, then one masked tail step.
// CHECK-LABEL: func.func @softmax_3d
//   CHECK-NOT: linalg.softmax
//       CHECK: scf.parallel (%[[I:.+]], %[[J:.+]]) =
//       CHECK:   arith.constant 0xFF800000 : f32
// Sweep 1: row max, tail padded with -inf.
//       CHECK:   scf.for {{.+}} iter_args(%{{.+}} = %{{.+}}) -> (vector<16xf32>)
//       CHECK:     vector.load %{{.+}}[%[[I]], %[[J]], %{{.+}}] : memref<2x300x37xf32>, vector<16xf32>
//       CHECK:     arith.maximumf {{.+}} : vector<16xf32>
//       CHECK:   %[[MASK:.+]] = vector.create_mask %{{.+}} : vector<16xi1>
//       CHECK:   vector.maskedload %{{.+}}, %[[MASK]]
//       CHECK:   vector.reduction <maximumf>
// Sweep 2: exp(x - max) (polynomial, no math.exp left) stored, summed.
//   CHECK-NOT:   math.exp
//       CHECK:   scf.for
//       CHECK:     %[[D:.+]] = arith.subf {{.+}} : vector<16xf32>
//       CHECK:     arith.maximumf %[[D]], %[[LO:.+]] : vector<16xf32>
//       CHECK:     math.fma
//       CHECK:     arith.cmpf olt, %[[D]], %[[LO]] : vector<16xf32>
//       CHECK:     arith.select
//       CHECK:     vector.store {{.+}} : memref<2x300x37xf32>, vector<16xf32>
//       CHECK:   arith.select %{{.+}}, %{{.+}}, %{{.+}} : vector<16xi1>, vector<16xf32>
//       CHECK:   vector.maskedstore
//       CHECK:   vector.reduction <add>
// Sweep 3: scale by 1 / sum.
//       CHECK:   arith.divf
//       CHECK:   scf.for
//       CHECK:     arith.mulf {{.+}} : vector<16xf32>
//       CHECK:   vector.maskedstore
//       CHECK:   scf.reduce
func.func @softmax_3d(%x: memref<2x300x37xf32>, %y: memref<2x300x37xf32>) {
  linalg.softmax dimension(2) ins(%x : memref<2x300x37xf32>) outs(%y : memref<2x300x37xf32>)
  return
}

// A row length that is a multiple of the vector width needs no tail; rank 1
// has no row loop.
// CHECK-LABEL: func.func @softmax_1d
//   CHECK-NOT: scf.parallel
//   CHECK-NOT: vector.create_mask
//       CHECK: vector.reduction <maximumf>
//       CHECK: return
// SEQ-LABEL: func.func @softmax_1d
//   SEQ-NOT: vector.create_mask
func.func @softmax_1d(%x: memref<64xf32>, %y: memref<64xf32>) {
  linalg.softmax dimension(0) ins(%x : memref<64xf32>) outs(%y : memref<64xf32>)
  return
}

// 4 x 20 elements are too few for a parallel region; with parallel=0 the
// rows are always an scf.for nest.
// CHECK-LABEL: func.func @softmax_strided
//   CHECK-NOT: scf.parallel
//       CHECK: scf.for
// SEQ-LABEL: func.func @softmax_strided
//   SEQ-NOT: scf.parallel
//       SEQ: scf.for
//       SEQ:   scf.for
//       SEQ:     vector.load {{.+}} : memref<4x20xf32, strided<[32, 1], offset: ?>>, vector<8xf32>
//       SEQ:     vector.maskedload {{.+}} : memref<4x20xf32, strided<[32, 1], offset: ?>>, vector<8xi1>, vector<8xf32> into vector<8xf32>
func.func @softmax_strided(%x: memref<4x20xf32, strided<[32, 1], offset: ?>>, %y: memref<4x20xf32>) {
  linalg.softmax dimension(1) ins(%x : memref<4x20xf32, strided<[32, 1], offset: ?>>) outs(%y : memref<4x20xf32>)
  return
}
