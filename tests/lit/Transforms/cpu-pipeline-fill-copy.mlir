// RUN: buddy-opt %s --buddy-cpu-pipeline="target=avx2" --mlir-print-ir-after=buddy-fill-copy-vectorize -o /dev/null 2>&1 | FileCheck %s
// RUN: buddy-opt %s --buddy-cpu-pipeline="target=avx2 fill-copy-vectorize=0" --mlir-print-ir-after=buddy-matmul-vectorize -o /dev/null 2>&1 | FileCheck %s --check-prefix=OFF

// The frontend's padded depthwise conv: the padded buffer's fill and interior
// copy become vector rows (8 lanes for avx2) in the pipeline.
// CHECK-LABEL: func.func @dw
//   CHECK-NOT: linalg.fill
//   CHECK-NOT: linalg.copy
//       CHECK: vector.store %{{.+}} : memref<1296xf32>, vector<8xf32>
//       CHECK: vector.load %arg0[{{.+}}] : memref<1x4x16x16xf32>, vector<8xf32>
//       CHECK: vector.store %{{.+}} : memref<1x4x16x16xf32, strided<[1296, 324, 18, 1], offset: 19>>, vector<8xf32>
//         OFF: linalg.fill
//         OFF: linalg.copy
func.func @dw(%x: tensor<1x4x16x16xf32>, %w: tensor<4x1x3x3xf32>) -> tensor<1x4x16x16xf32> {
  %zero = arith.constant 0.0 : f32
  %pe = tensor.empty() : tensor<1x4x18x18xf32>
  %pf = linalg.fill ins(%zero : f32) outs(%pe : tensor<1x4x18x18xf32>) -> tensor<1x4x18x18xf32>
  %xp = tensor.insert_slice %x into %pf[0, 0, 1, 1] [1, 4, 16, 16] [1, 1, 1, 1] : tensor<1x4x16x16xf32> into tensor<1x4x18x18xf32>
  %x5 = tensor.expand_shape %xp [[0], [1, 2], [3], [4]] output_shape [1, 4, 1, 18, 18] : tensor<1x4x18x18xf32> into tensor<1x4x1x18x18xf32>
  %w5 = tensor.expand_shape %w [[0, 1], [2], [3], [4]] output_shape [4, 1, 1, 3, 3] : tensor<4x1x3x3xf32> into tensor<4x1x1x3x3xf32>
  %e = tensor.empty() : tensor<1x4x1x16x16xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x1x16x16xf32>) -> tensor<1x4x1x16x16xf32>
  %r5 = linalg.conv_2d_ngchw_gfchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x5, %w5 : tensor<1x4x1x18x18xf32>, tensor<4x1x1x3x3xf32>) outs(%acc : tensor<1x4x1x16x16xf32>) -> tensor<1x4x1x16x16xf32>
  %r = tensor.collapse_shape %r5 [[0], [1, 2], [3], [4]] : tensor<1x4x1x16x16xf32> into tensor<1x4x16x16xf32>
  return %r : tensor<1x4x16x16xf32>
}
