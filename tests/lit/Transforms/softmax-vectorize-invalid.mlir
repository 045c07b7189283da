// RUN: not buddy-opt %s --buddy-softmax-vectorize 2>&1 | FileCheck %s


// Softmax over another dimension is refused by name.
// CHECK: error: 'linalg.softmax' op buddy-softmax-vectorize: only f32 softmax over the last dimension of memrefs with unit inner stride is supported, got 'memref<4x8xf32>' dimension 0
func.func @softmax_dim0(%x: memref<4x8xf32>, %y: memref<4x8xf32>) {
  linalg.softmax dimension(0) ins(%x : memref<4x8xf32>) outs(%y : memref<4x8xf32>)
  return
}
