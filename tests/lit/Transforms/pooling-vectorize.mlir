// RUN: buddy-opt %s --buddy-pooling-vectorize="vector-width=8 vectors=2" --canonicalize --cse | FileCheck %s

// NCHW max 3x3 / 2 (ResNet stem pool): parallel over (c, oh); output width 11
// = one vector of 8 + a masked vector of 3 in a single step; stride-2 rows
// via load + masked load + even-lane shuffle; combiner arith.maximumf.
// CHECK-LABEL: func.func @max_nchw_s2
//   CHECK-NOT: linalg.pooling_nchw_max
//       CHECK: scf.parallel (%[[C:.+]], %[[OH:.+]]) = (%c0, %c0) to (%c3, %c5) step (%c1, %c1)
//       CHECK:   vector.load %arg1[%c0, %[[C]], %[[OH]], %c0] : memref<1x3x5x11xf32>, vector<8xf32>
//       CHECK:   vector.maskedload %arg1[%c0, %[[C]], %[[OH]], %c8]
//       CHECK:   scf.for %{{.+}} = %c0 to %c3 step %c1 iter_args
//       CHECK:     scf.for %{{.+}} = %c0 to %c3 step %c1 iter_args
//       CHECK:       vector.load %arg0
//       CHECK:       vector.constant_mask [7] : vector<8xi1>
//       CHECK:       vector.shuffle %{{.+}}, %{{.+}} [0, 2, 4, 6, 8, 10, 12, 14]
//       CHECK:       arith.maximumf
//       CHECK:       vector.constant_mask [5] : vector<8xi1>
//       CHECK:       vector.shuffle
//       CHECK:       arith.maximumf
//       CHECK:   vector.store %{{.+}}, %arg1[%c0, %[[C]], %[[OH]], %c0]
//       CHECK:   vector.maskedstore %arg1[%c0, %[[C]], %[[OH]], %c8]
func.func @max_nchw_s2(%x: memref<1x3x11x23xf32>, %o: memref<1x3x5x11xf32>) {
  %win = memref.alloc() : memref<3x3xf32>
  linalg.pooling_nchw_max {strides = dense<2> : tensor<2xi64>, dilations = dense<1> : tensor<2xi64>}
    ins(%x, %win : memref<1x3x11x23xf32>, memref<3x3xf32>) outs(%o : memref<1x3x5x11xf32>)
  return
}

// NCHW sum, stride 1 (avg_pool2d's numerator): contiguous loads, arith.addf;
// width 40 = a loop of 2-vector steps (0..32) + a one-vector tail at 32.
// CHECK-LABEL: func.func @sum_nchw
//       CHECK: scf.parallel
//       CHECK:   scf.for %[[W:.+]] = %c0 to %c32 step %c16
//       CHECK:     scf.for
//       CHECK:       scf.for
//       CHECK:         vector.load %arg0
//       CHECK:         arith.addf {{.*}} : vector<8xf32>
//       CHECK:         vector.load %arg0
//       CHECK:         arith.addf {{.*}} : vector<8xf32>
//       CHECK:   vector.load %arg1[%c0, %{{.+}}, %{{.+}}, %c32]
//       CHECK:   vector.store %{{.+}}, %arg1[%c0, %{{.+}}, %{{.+}}, %c32]
func.func @sum_nchw(%x: memref<1x2x6x41xf32>, %o: memref<1x2x5x40xf32>) {
  %win = memref.alloc() : memref<2x2xf32>
  linalg.pooling_nchw_sum {strides = dense<1> : tensor<2xi64>, dilations = dense<1> : tensor<2xi64>}
    ins(%x, %win : memref<1x2x6x41xf32>, memref<2x2xf32>) outs(%o : memref<1x2x5x40xf32>)
  return
}

// NHWC max: vectorized along the 12 channels (8 + masked 4), parallel over
// (oh, ow), dilation 2 in W.
// CHECK-LABEL: func.func @max_nhwc
//       CHECK: scf.parallel (%[[OH:.+]], %[[OW:.+]]) = (%c0, %c0) to (%c3, %c3)
//       CHECK:   vector.load %arg1[%c0, %[[OH]], %[[OW]], %c0]
//       CHECK:   vector.constant_mask [4] : vector<8xi1>
//       CHECK:   vector.maskedload %arg1[%c0, %[[OH]], %[[OW]], %c8]
//       CHECK:   scf.for
//       CHECK:     scf.for %[[KW:[a-z0-9]+]] =
//       CHECK:       arith.muli %[[KW]], %c2
//       CHECK:       vector.load %arg0
//       CHECK:       arith.maximumf
//       CHECK:       vector.maskedload %arg0
//       CHECK:       arith.maximumf
//       CHECK:   vector.maskedstore %arg1
func.func @max_nhwc(%x: memref<1x4x7x12xf32>, %o: memref<1x3x3x12xf32>) {
  %win = memref.alloc() : memref<2x3xf32>
  linalg.pooling_nhwc_max {strides = dense<1> : tensor<2xi64>, dilations = dense<[1, 2]> : tensor<2xi64>}
    ins(%x, %win : memref<1x4x7x12xf32>, memref<2x3xf32>) outs(%o : memref<1x3x3x12xf32>)
  return
}

// Dynamic shapes are left alone.
// CHECK-LABEL: func.func @dynamic
//       CHECK: linalg.pooling_nchw_max
func.func @dynamic(%x: memref<?x3x9x9xf32>, %o: memref<?x3x7x7xf32>) {
  %win = memref.alloc() : memref<3x3xf32>
  linalg.pooling_nchw_max ins(%x, %win : memref<?x3x9x9xf32>, memref<3x3xf32>) outs(%o : memref<?x3x7x7xf32>)
  return
}
