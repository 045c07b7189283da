// RUN: buddy-opt %s --buddy-conv2d-vectorize="vector-width=8 oc-block=4 ow-vectors=2 threads=2" --canonicalize --cse | FileCheck %s
// RUN: buddy-opt %s --buddy-cpu-pipeline="target=avx2" | FileCheck %s --check-prefix=PIPE

// NCHW, stride 2: 10 output channels = 2 blocks of 4 + a block of 2 (scf.if),
// output width 10 = one full vector + a masked vector of 2 lanes; strided
// input rows = contiguous load + masked load + even-lane shuffle.
// CHECK-LABEL: func.func @nchw_stride2
//   CHECK-NOT: linalg.conv_2d_nchw_fchw
//       CHECK: scf.parallel (%[[FB:.+]], %[[OH:.+]]) = (%c0, %c0) to (%c3, %c4) step (%c1, %c1)
//       CHECK:   %[[LAST:.+]] = arith.cmpi eq, %[[FB]], %c2
//       CHECK:   scf.if %[[LAST]]
//       CHECK:     vector.maskedload %arg2{{.*}} : memref<1x10x4x10xf32>, vector<8xi1>, vector<8xf32>
//       CHECK:     scf.for %[[C:.+]] = %c0 to %c3
//       CHECK:       scf.for %[[KH:.+]] = %c0 to %c3
//       CHECK:         scf.for %[[KW:.+]] = %c0 to %c3
//       CHECK:           vector.load %arg0[%c0, %[[C]], %{{.+}}, %[[KW]]] : memref<1x3x9x21xf32>, vector<8xf32>
//       CHECK:           vector.constant_mask [7] : vector<8xi1>
//       CHECK:           vector.shuffle %{{.+}}, %{{.+}} [0, 2, 4, 6, 8, 10, 12, 14]
//       CHECK:           vector.constant_mask [3] : vector<8xi1>
//       CHECK:           vector.shuffle
//       CHECK:           memref.load %arg1
//       CHECK:           vector.broadcast
//       CHECK-COUNT-2:   vector.fma
//       CHECK:           memref.load %arg1
//       CHECK-COUNT-2:   vector.fma
//       CHECK:           scf.yield {{.*}} : vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>
//       CHECK:     vector.maskedstore %arg2
//       CHECK:   } else {
//       CHECK:         scf.yield {{.*}} : vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>
// PIPE-LABEL: llvm.func @nchw_stride2
//       PIPE: llvm.shufflevector {{.*}} [0, 2, 4, 6, 8, 10, 12, 14] : vector<8xf32>
//       PIPE: llvm.intr.fmuladd({{.*}}) : (vector<8xf32>, vector<8xf32>, vector<8xf32>)
func.func @nchw_stride2(%x: memref<1x3x9x21xf32>, %w: memref<10x3x3x3xf32>, %o: memref<1x10x4x10xf32>) {
  linalg.conv_2d_nchw_fchw {strides = dense<2> : tensor<2xi64>, dilations = dense<1> : tensor<2xi64>}
    ins(%x, %w : memref<1x3x9x21xf32>, memref<10x3x3x3xf32>) outs(%o : memref<1x10x4x10xf32>)
  return
}

// Stride 3 in W: vector.gather with lane offsets 0, 3, 6, ...; output width
// 5 < 2 vectors, so 2 rows are blocked instead (6 rows = 3 blocks), dilation 2
// scales the kernel offsets (2 channel blocks x 3 row blocks >= 2 x threads
// tasks).
// CHECK-LABEL: func.func @nchw_gather_dilated
//       CHECK: arith.constant dense<[0, 3, 6, 9, 12, 15, 18, 21]> : vector<8xi32>
//       CHECK: scf.parallel (%{{.+}}, %{{.+}}) = (%c0, %c0) to (%c2, %c3)
//       CHECK:   vector.maskedload %arg2{{.*}} : memref<1x8x6x5xf32>
//       CHECK:   vector.maskedload %arg2
//       CHECK:   scf.for
//       CHECK:     arith.muli %{{.+}}, %c2 : index
//       CHECK:     arith.muli %{{.+}}, %c2 : index
//       CHECK:     vector.gather %arg0
//       CHECK:     vector.gather %arg0
//       CHECK-COUNT-8: vector.fma
func.func @nchw_gather_dilated(%x: memref<1x2x10x17xf32>, %w: memref<8x2x3x3xf32>, %o: memref<1x8x6x5xf32>) {
  linalg.conv_2d_nchw_fchw {strides = dense<[1, 3]> : tensor<2xi64>, dilations = dense<2> : tensor<2xi64>}
    ins(%x, %w : memref<1x2x10x17xf32>, memref<8x2x3x3xf32>) outs(%o : memref<1x8x6x5xf32>)
  return
}

// 1x1, stride 1: one linalg.matmul per image on collapsed views.
// CHECK-LABEL: func.func @pointwise
//       CHECK: memref.collapse_shape %arg1 {{\[}}[0], [1, 2, 3]] : memref<12x8x1x1xf32> into memref<12x8xf32>
//       CHECK: scf.for
//       CHECK:   memref.subview %arg0
//       CHECK:   linalg.matmul ins(%{{.+}}, %{{.+}} : memref<12x8xf32>, memref<8x35xf32, strided<[35, 1], offset: ?>>)
func.func @pointwise(%x: memref<2x8x5x7xf32>, %w: memref<12x8x1x1xf32>, %o: memref<2x12x5x7xf32>) {
  linalg.conv_2d_nchw_fchw {strides = dense<1> : tensor<2xi64>, dilations = dense<1> : tensor<2xi64>}
    ins(%x, %w : memref<2x8x5x7xf32>, memref<12x8x1x1xf32>) outs(%o : memref<2x12x5x7xf32>)
  return
}

// NHWC / HWCF: vectorized along the 20 output channels (8 + 8 + masked 4 in
// one block of 2 vectors and a tail block of 1), input scalars broadcast.
// CHECK-LABEL: func.func @nhwc
//       CHECK: scf.parallel (%{{.+}}, %{{.+}}) = (%c0, %c0) to (%c3, %c2)
//       CHECK:   scf.if
//       CHECK:     vector.constant_mask [4] : vector<8xi1>
//       CHECK:   } else {
//       CHECK:     scf.for %{{.+}} = %c0 to %c3 step %c1 iter_args
//       CHECK:       vector.load %arg1
//       CHECK:       vector.load %arg1
//       CHECK:       memref.load %arg0
//       CHECK:       vector.broadcast
//       CHECK-COUNT-2: vector.fma
func.func @nhwc(%x: memref<1x5x9x7xf32>, %w: memref<3x3x7x20xf32>, %o: memref<1x3x7x20xf32>) {
  linalg.conv_2d_nhwc_hwcf {strides = dense<1> : tensor<2xi64>, dilations = dense<1> : tensor<2xi64>}
    ins(%x, %w : memref<1x5x9x7xf32>, memref<3x3x7x20xf32>) outs(%o : memref<1x3x7x20xf32>)
  return
}

// Not handled: dynamic shapes and non-f32 element types.
// CHECK-LABEL: func.func @left_alone
//       CHECK: linalg.conv_2d_nchw_fchw
//       CHECK: linalg.conv_2d_nchw_fchw
func.func @left_alone(%x: memref<?x3x9x9xf32>, %w: memref<4x3x3x3xf32>, %o: memref<?x4x7x7xf32>,
                      %xh: memref<1x3x9x9xf16>, %wh: memref<4x3x3x3xf16>, %oh: memref<1x4x7x7xf16>) {
  linalg.conv_2d_nchw_fchw ins(%x, %w : memref<?x3x9x9xf32>, memref<4x3x3x3xf32>) outs(%o : memref<?x4x7x7xf32>)
  linalg.conv_2d_nchw_fchw ins(%xh, %wh : memref<1x3x9x9xf16>, memref<4x3x3x3xf16>) outs(%oh : memref<1x4x7x7xf16>)
  return
}

// Depthwise (grouped, 1 input and 1 output channel per group), stride 2, 4
// channels, output 5x11: scf.parallel over (group, row block) with 4 rows per
// tile (oc-block 4 / 1 channel), 5 rows = a block of 4 + a block of 1; width 11
// = a full vector + a masked one. One filter scalar per tap feeds all 8
// accumulators; the reduction runs over the group's single input channel.
// CHECK-LABEL: func.func @depthwise_stride2
//   CHECK-NOT: linalg.conv_2d_ngchw_gfchw
//       CHECK: scf.parallel (%[[G:.+]], %[[HB:.+]]) = (%c0, %c0) to (%c4, %c2) step (%c1, %c1)
//       CHECK:   %[[LAST:.+]] = arith.cmpi eq, %[[HB]], %c1
//       CHECK:   scf.if %[[LAST]]
//       CHECK:     vector.load %arg2[%c0, %[[G]], %c0, %{{.+}}, %c0] : memref<1x4x1x5x11xf32>, vector<8xf32>
//       CHECK:     vector.maskedload %arg2[%c0, %[[G]], %c0, %{{.+}}, %c8]
//       CHECK:     scf.for %[[KH:.+]] = %c0 to %c3
//       CHECK:       scf.for %[[KW:.+]] = %c0 to %c3
//       CHECK:         vector.load %arg0[%c0, %[[G]], %c0, %{{.+}}, %[[KW]]] : memref<1x4x1x11x23xf32>, vector<8xf32>
//       CHECK:         vector.shuffle %{{.+}}, %{{.+}} [0, 2, 4, 6, 8, 10, 12, 14]
//       CHECK:         memref.load %arg1[%[[G]], %c0, %c0, %[[KH]], %[[KW]]] : memref<4x1x1x3x3xf32>
//       CHECK-COUNT-2: vector.fma
//       CHECK:         scf.yield {{.*}} : vector<8xf32>, vector<8xf32>
//       CHECK:     vector.maskedstore %arg2
//       CHECK:   } else {
//       CHECK:     scf.for
//       CHECK:       scf.for
//  CHECK-COUNT-4:      vector.shuffle %{{.+}}, %{{.+}} [0, 2, 4, 6, 8, 10, 12, 14]
//       CHECK:         memref.load %arg1[%[[G]], %c0, %c0,
//       CHECK:         vector.broadcast
//  CHECK-COUNT-8:      vector.fma
//   CHECK-NOT:         memref.load %arg1
//       CHECK:         scf.yield {{.*}} : vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>
func.func @depthwise_stride2(%x: memref<1x4x1x11x23xf32>, %w: memref<4x1x1x3x3xf32>, %o: memref<1x4x1x5x11xf32>) {
  linalg.conv_2d_ngchw_gfchw {strides = dense<2> : tensor<2xi64>, dilations = dense<1> : tensor<2xi64>}
    ins(%x, %w : memref<1x4x1x11x23xf32>, memref<4x1x1x3x3xf32>) outs(%o : memref<1x4x1x5x11xf32>)
  return
}

// Depth multiplier 2 (groups 3, 1 input / 2 output channels per group), batch
// 2, dilation 2, output width 5 < one vector: 2 channels x 4 rows per tile
// (oc-block 4 / 2 channels, and 2 x for the narrow row).
// CHECK-LABEL: func.func @depthwise_mult2
//       CHECK: scf.parallel (%[[N:.+]], %[[G:.+]], %{{.+}}) = (%c0, %c0, %c0) to (%c2, %c3, %c2)
//       CHECK:   scf.if
//       CHECK:     vector.maskedload %arg2[%[[N]], %[[G]], %c0,
//       CHECK:     vector.maskedload %arg2[%[[N]], %[[G]], %c1,
//       CHECK:     scf.yield {{.*}} : vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>
//       CHECK:   } else {
//       CHECK:     scf.for
//       CHECK:       scf.for
//  CHECK-COUNT-4:      vector.maskedload %arg0[%[[N]], %[[G]], %c0,
//       CHECK:         memref.load %arg1[%[[G]], %c0, %c0,
//  CHECK-COUNT-4:      vector.fma
//       CHECK:         memref.load %arg1[%[[G]], %c1, %c0,
//  CHECK-COUNT-4:      vector.fma
//       CHECK:         scf.yield {{.*}} : vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>
func.func @depthwise_mult2(%x: memref<2x3x1x10x9xf32>, %w: memref<3x2x1x3x3xf32>, %o: memref<2x3x2x6x5xf32>) {
  linalg.conv_2d_ngchw_gfchw {strides = dense<1> : tensor<2xi64>, dilations = dense<2> : tensor<2xi64>}
    ins(%x, %w : memref<2x3x1x10x9xf32>, memref<3x2x1x3x3xf32>) outs(%o : memref<2x3x2x6x5xf32>)
  return
}

// Grouped, 2 input / 3 output channels per group, 1x1 stride 1: the direct
// kernel (the GEMM route is for groups = 1 only), reduction over 2 channels.
// CHECK-LABEL: func.func @grouped_1x1
//   CHECK-NOT: linalg.matmul
//       CHECK: scf.parallel (%[[G:.+]], %{{.+}}) = (%c0, %c0) to (%c2, %c2)
//       CHECK:   scf.for %[[C:.+]] = %c0 to %c2 step %c1 iter_args
//       CHECK:     vector.load %arg0[%c0, %[[G]], %[[C]], %{{.+}}, %c0] : memref<1x2x2x4x8xf32>, vector<8xf32>
//       CHECK:     memref.load %arg1[%[[G]], %c0, %[[C]], %c0, %c0]
//       CHECK:     memref.load %arg1[%[[G]], %c1, %[[C]], %c0, %c0]
//       CHECK:     memref.load %arg1[%[[G]], %c2, %[[C]], %c0, %c0]
//       CHECK:     scf.yield {{.*}} : vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>
func.func @grouped_1x1(%x: memref<1x2x2x4x8xf32>, %w: memref<2x3x2x1x1xf32>, %o: memref<1x2x3x4x8xf32>) {
  linalg.conv_2d_ngchw_gfchw {strides = dense<1> : tensor<2xi64>, dilations = dense<1> : tensor<2xi64>}
    ins(%x, %w : memref<1x2x2x4x8xf32>, memref<2x3x2x1x1xf32>) outs(%o : memref<1x2x3x4x8xf32>)
  return
}

// Grouped convolutions not handled stay named ops (the loops lowering):
// dynamic batch, f16.
// CHECK-LABEL: func.func @grouped_left_alone
//       CHECK: linalg.conv_2d_ngchw_gfchw
//       CHECK: linalg.conv_2d_ngchw_gfchw
func.func @grouped_left_alone(%x: memref<?x4x1x9x9xf32>, %w: memref<4x1x1x3x3xf32>, %o: memref<?x4x1x7x7xf32>,
                              %xh: memref<1x4x1x9x9xf16>, %wh: memref<4x1x1x3x3xf16>, %oh: memref<1x4x1x7x7xf16>) {
  linalg.conv_2d_ngchw_gfchw ins(%x, %w : memref<?x4x1x9x9xf32>, memref<4x1x1x3x3xf32>) outs(%o : memref<?x4x1x7x7xf32>)
  linalg.conv_2d_ngchw_gfchw ins(%xh, %wh : memref<1x4x1x9x9xf16>, memref<4x1x1x3x3xf16>) outs(%oh : memref<1x4x1x7x7xf16>)
  return
}
