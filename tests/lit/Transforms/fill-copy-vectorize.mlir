// RUN: buddy-opt %s --buddy-fill-copy-vectorize="vector-width=8 min-parallel=64" | FileCheck %s
// RUN: buddy-opt %s --buddy-fill-copy-vectorize="vector-width=8 parallel=0" | FileCheck %s --check-prefix=SEQ

// A contiguous fill is one row: parallel chunks of 256 vectors, 4 stores per step.
// CHECK-LABEL: func.func @fill_contiguous
//       CHECK: memref.collapse_shape %{{.+}} {{\[}}[0, 1, 2]] : memref<4x32x130xf32> into memref<16640xf32>
//       CHECK: scf.parallel (%[[C:.+]]) = (%{{.+}}) to (%{{.+}}) step
//       CHECK: %[[LO:.+]] = arith.muli %[[C]], %{{.+}} : index
//       CHECK: arith.minsi
//       CHECK: scf.for %[[J:.+]] = %[[LO]] to
// CHECK-COUNT-4: vector.store %{{.+}} : memref<16640xf32>, vector<8xf32>
//       CHECK: scf.reduce
//   CHECK-NOT: linalg.fill
// SEQ-LABEL: func.func @fill_contiguous
//   SEQ-NOT: scf.parallel
//       SEQ: scf.for
func.func @fill_contiguous(%m: memref<4x32x130xf32>) {
  %z = arith.constant 0.0 : f32
  linalg.fill ins(%z : f32) outs(%m : memref<4x32x130xf32>)
  return
}

// The interior of a padded buffer: rows of 9 (one full vector, a 1-lane
// masked tail), not collapsed (the rows are not contiguous in the target).
// CHECK-LABEL: func.func @copy_interior
//       CHECK: scf.parallel (%[[I:.+]], %[[R:.+]]) = (%{{.+}}, %{{.+}}) to (%c4, %c9)
//       CHECK: %[[C0:.+]] = arith.constant 0 : index
//       CHECK: %[[V:.+]] = vector.load %{{.+}}[%[[I]], %[[R]], %[[C0]]] : memref<4x9x9xf32>, vector<8xf32>
//       CHECK: vector.store %[[V]], %{{.+}}[%[[I]], %[[R]], %[[C0]]] : memref<4x9x9xf32, strided<[121, 11, 1], offset: 12>>
//       CHECK: %[[M:.+]] = vector.constant_mask [1] : vector<8xi1>
//       CHECK: %[[T:.+]] = vector.maskedload %{{.+}}[%[[I]], %[[R]], %c8], %[[M]]
//       CHECK: vector.maskedstore %{{.+}}[%[[I]], %[[R]], %c8], %[[M]], %[[T]]
//   CHECK-NOT: linalg.copy
func.func @copy_interior(%x: memref<4x9x9xf32>, %p: memref<4x11x11xf32>) {
  %s = memref.subview %p[0, 1, 1] [4, 9, 9] [1, 1, 1] : memref<4x11x11xf32> to memref<4x9x9xf32, strided<[121, 11, 1], offset: 12>>
  linalg.copy ins(%x : memref<4x9x9xf32>) outs(%s : memref<4x9x9xf32, strided<[121, 11, 1], offset: 12>>)
  return
}

// i8: 32 lanes for a 256-bit vector-width=8; below min-parallel -> sequential.
// CHECK-LABEL: func.func @fill_i8_small
//   CHECK-NOT: scf.parallel
//       CHECK: vector.maskedstore %{{.+}} : memref<40xi8>, vector<32xi1>, vector<32xi8>
func.func @fill_i8_small(%m: memref<40xi8>) {
  %z = arith.constant 1 : i8
  linalg.fill ins(%z : i8) outs(%m : memref<40xi8>)
  return
}

// Dynamic shapes and non-unit inner strides keep the generic lowering.
// CHECK-LABEL: func.func @left_alone
//       CHECK: linalg.fill
//       CHECK: linalg.copy
func.func @left_alone(%d: memref<?xf32>, %s: memref<4x4xf32, strided<[8, 2]>>, %t: memref<4x4xf32>) {
  %z = arith.constant 0.0 : f32
  linalg.fill ins(%z : f32) outs(%d : memref<?xf32>)
  linalg.copy ins(%s : memref<4x4xf32, strided<[8, 2]>>) outs(%t : memref<4x4xf32>)
  return
}
