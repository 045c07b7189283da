// RUN: buddy-opt %s --buddy-conv2d-vectorize="vector-width=8 oc-block=4 ow-vectors=2 threads=2 c-block=4" --canonicalize --cse | FileCheck %s

// A +0.0 fill of the output (here through the depthwise form's reshape) right
// before the conv is dropped: the accumulators start at zero, O is only stored.
// CHECK-LABEL: func.func @depthwise_zero
//   CHECK-NOT: linalg.fill
//       CHECK: %[[O5:.+]] = memref.expand_shape %arg2
//       CHECK: scf.parallel
//   CHECK-NOT: vector.load %[[O5]]
//       CHECK: vector.fma
//       CHECK: vector.store %{{.+}}, %[[O5]]
func.func @depthwise_zero(%x: memref<1x8x1x10x10xf32>, %w: memref<8x1x1x3x3xf32>, %o: memref<1x8x8x8xf32>) {
  %z = arith.constant 0.0 : f32
  linalg.fill ins(%z : f32) outs(%o : memref<1x8x8x8xf32>)
  %o5 = memref.expand_shape %o [[0], [1, 2], [3], [4]] output_shape [1, 8, 1, 8, 8] : memref<1x8x8x8xf32> into memref<1x8x1x8x8xf32>
  linalg.conv_2d_ngchw_gfchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w : memref<1x8x1x10x10xf32>, memref<8x1x1x3x3xf32>) outs(%o5 : memref<1x8x1x8x8xf32>)
  return
}

// Channel blocks (c-block=4 of 8 channels): the first block starts at zero,
// the second (one block: its loop folds away) accumulates channels 4..7
// onto O.
// CHECK-LABEL: func.func @dense_blocks
//   CHECK-NOT: linalg.fill
//       CHECK: scf.parallel
//   CHECK-NOT: vector.load %arg2
//       CHECK: vector.store %{{.+}}, %arg2
//       CHECK: vector.load %arg2
//       CHECK: scf.for %{{.+}} = %c4 to %c8 step %c1
//       CHECK: vector.store %{{.+}}, %arg2
func.func @dense_blocks(%x: memref<1x8x10x10xf32>, %w: memref<4x8x3x3xf32>, %o: memref<1x4x8x8xf32>) {
  %z = arith.constant 0.0 : f32
  linalg.fill ins(%z : f32) outs(%o : memref<1x4x8x8xf32>)
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w : memref<1x8x10x10xf32>, memref<4x8x3x3xf32>) outs(%o : memref<1x4x8x8xf32>)
  return
}

// Kept: a fill of another value, and a zero fill followed by another write.
// CHECK-LABEL: func.func @kept
//       CHECK: linalg.fill ins(%{{.+}} : f32) outs(%arg2
//       CHECK: vector.load %arg2
//       CHECK: linalg.fill ins(%{{.+}} : f32) outs(%arg3
//       CHECK: memref.store
//       CHECK: vector.load %arg3
func.func @kept(%x: memref<1x8x10x10xf32>, %w: memref<4x8x3x3xf32>, %o: memref<1x4x8x8xf32>, %p: memref<1x4x8x8xf32>) {
  %one = arith.constant 1.0 : f32
  %z = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  linalg.fill ins(%one : f32) outs(%o : memref<1x4x8x8xf32>)
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w : memref<1x8x10x10xf32>, memref<4x8x3x3xf32>) outs(%o : memref<1x4x8x8xf32>)
  linalg.fill ins(%z : f32) outs(%p : memref<1x4x8x8xf32>)
  memref.store %one, %p[%c0, %c0, %c0, %c0] : memref<1x4x8x8xf32>
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w : memref<1x8x10x10xf32>, memref<4x8x3x3xf32>) outs(%p : memref<1x4x8x8xf32>)
  return
}
