// RUN: buddy-opt %s --buddy-memref-copy-to-linalg | FileCheck %s
// RUN: buddy-opt %s --buddy-memref-copy-to-linalg --convert-linalg-to-loops --finalize-memref-to-llvm --convert-scf-to-cf --convert-func-to-llvm --convert-arith-to-llvm --convert-cf-to-llvm --reconcile-unrealized-casts | FileCheck %s --check-prefix=LLVM

// CHECK-LABEL: func.func @strided
//   CHECK-NOT: memref.copy
//       CHECK: linalg.copy ins(%{{.+}} : memref<4x8xf32, strided<[16, 1], offset: ?>>) outs(%{{.+}} : memref<4x8xf32>)
// No call into MLIR's runtime library remains after lowering.
// LLVM-LABEL: llvm.func @strided
//   LLVM-NOT: llvm.call @memrefCopy
// LLVM-LABEL: llvm.func @scalar
//   LLVM-NOT: llvm.call @memrefCopy
// LLVM-LABEL: llvm.func @unranked
//       LLVM: llvm.call @memrefCopy
func.func @strided(%src: memref<4x8xf32, strided<[16, 1], offset: ?>>, %dst: memref<4x8xf32>) {
  memref.copy %src, %dst : memref<4x8xf32, strided<[16, 1], offset: ?>> to memref<4x8xf32>
  return
}

// CHECK-LABEL: func.func @scalar
//       CHECK: linalg.copy ins(%{{.+}} : memref<f32>) outs(%{{.+}} : memref<f32>)
func.func @scalar(%src: memref<f32>, %dst: memref<f32>) {
  memref.copy %src, %dst : memref<f32> to memref<f32>
  return
}

// Unranked copies are left alone.
// CHECK-LABEL: func.func @unranked
//       CHECK: memref.copy
func.func @unranked(%src: memref<*xf32>, %dst: memref<*xf32>) {
  memref.copy %src, %dst : memref<*xf32> to memref<*xf32>
  return
}
