// RUN: buddy-opt %s --buddy-rmsnorm-vectorize="vector-width=16" | FileCheck %s
// RUN: buddy-opt %s --buddy-rmsnorm-vectorize="vector-width=8 parallel=0" | FileCheck %s --check-prefix=SEQ

#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
#bcast = affine_map<(d0, d1) -> (d0, 0)>
#col = affine_map<(d0, d1) -> (d1)>

// The frontend's buddy.rms_norm after bufferization: fill + sum of squares
// into a temporary, then the scale generic (include/buddy/RmsNorm.h). One row kernel
// replaces both; the reduction and the fill are erased.
// CHECK-LABEL: func.func @rms_norm
//   CHECK-NOT: linalg.
//       CHECK: scf.parallel (%[[R:.+]]) =
//       CHECK:   scf.for {{.+}} iter_args({{.+}}) -> (vector<16xf32>)
//       CHECK:     %[[V:.+]] = vector.load %{{.+}}[%[[R]], %{{.+}}] : memref<512x37xf32>, vector<16xf32>
//       CHECK:     vector.fma %[[V]], %[[V]], %{{.+}} : vector<16xf32>
//       CHECK:   vector.maskedload
//       CHECK:   %[[S:.+]] = vector.reduction <add>
//       CHECK:   %[[MEAN:.+]] = arith.divf %[[S]], %{{.+}} : f32
//       CHECK:   %[[EPS:.+]] = arith.constant 9.99999997E-7 : f32
//       CHECK:   %[[A:.+]] = arith.addf %[[MEAN]], %[[EPS]] : f32
//       CHECK:   math.rsqrt %[[A]] : f32
//       CHECK:   scf.for
//       CHECK:     arith.mulf {{.+}} : vector<16xf32>
//       CHECK:     vector.load %{{.+}} : memref<37xf32>, vector<16xf32>
//       CHECK:     arith.mulf {{.+}} : vector<16xf32>
//       CHECK:     vector.store {{.+}} : memref<512x37xf32>, vector<16xf32>
//       CHECK:   vector.maskedstore
//   CHECK-NOT: linalg.
//       CHECK: return
// SEQ-LABEL: func.func @rms_norm
//   SEQ-NOT: scf.parallel
//       SEQ: scf.for
//       SEQ:   vector.fma {{.+}} : vector<8xf32>
func.func @rms_norm(%w: memref<37xf32>, %x: memref<512x37xf32>, %y: memref<512x37xf32>) {
  %eps = arith.constant 9.99999997E-7 : f32
  %n = arith.constant 3.700000e+01 : f32
  %zero = arith.constant 0.000000e+00 : f32
  %ss = memref.alloc() {alignment = 64 : i64} : memref<512xf32>
  linalg.fill ins(%zero : f32) outs(%ss : memref<512xf32>)
  linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<512x37xf32>) outs(%ss : memref<512xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.mulf %in, %in : f32
    %1 = arith.addf %0, %out : f32
    linalg.yield %1 : f32
  }
  %ssk = memref.expand_shape %ss [[0, 1]] output_shape [512, 1] : memref<512xf32> into memref<512x1xf32>
  linalg.generic {indexing_maps = [#id, #bcast, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %ssk, %w : memref<512x37xf32>, memref<512x1xf32>, memref<37xf32>) outs(%y : memref<512x37xf32>) {
  ^bb0(%in: f32, %s: f32, %wv: f32, %out: f32):
    %0 = arith.divf %s, %n : f32
    %1 = arith.addf %0, %eps : f32
    %2 = math.rsqrt %1 : f32
    %3 = arith.mulf %in, %2 : f32
    %4 = arith.mulf %3, %wv : f32
    linalg.yield %4 : f32
  }
  memref.dealloc %ss : memref<512xf32>
  return
}

// Without a weight; the sum of squares is also read elsewhere, so its
// reduction stays (the kernel recomputes it from x).
// CHECK-LABEL: func.func @no_weight_shared_sumsq
//       CHECK: linalg.fill
//       CHECK: linalg.generic {{.+}}
// (2 x 16 elements: too small for a parallel region.)
//   CHECK-NOT: scf.parallel
//       CHECK: math.rsqrt
//   CHECK-NOT: buddy.rms_norm =
//       CHECK: memref.copy
func.func @no_weight_shared_sumsq(%x: memref<2x16xf32>, %y: memref<2x16xf32>, %s: memref<2xf32>) {
  %n = arith.constant 1.600000e+01 : f32
  %eps = arith.constant 1.0e-05 : f32
  %zero = arith.constant 0.000000e+00 : f32
  %ss = memref.alloc() : memref<2xf32>
  linalg.fill ins(%zero : f32) outs(%ss : memref<2xf32>)
  linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<2x16xf32>) outs(%ss : memref<2xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.mulf %in, %in : f32
    %1 = arith.addf %0, %out : f32
    linalg.yield %1 : f32
  }
  %ssk = memref.expand_shape %ss [[0, 1]] output_shape [2, 1] : memref<2xf32> into memref<2x1xf32>
  linalg.generic {indexing_maps = [#id, #bcast, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %ssk : memref<2x16xf32>, memref<2x1xf32>) outs(%y : memref<2x16xf32>) {
  ^bb0(%in: f32, %sv: f32, %out: f32):
    %0 = arith.divf %sv, %n : f32
    %1 = arith.addf %0, %eps : f32
    %2 = math.rsqrt %1 : f32
    %3 = arith.mulf %in, %2 : f32
    linalg.yield %3 : f32
  }
  memref.copy %ss, %s : memref<2xf32> to memref<2xf32>
  return
}

// Generics that are not RMSNorm are not touched.
// CHECK-LABEL: func.func @not_rms_norm
//       CHECK: linalg.generic
//   CHECK-NOT: scf.parallel
func.func @not_rms_norm(%x: memref<2x16xf32>, %y: memref<2x16xf32>) {
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<2x16xf32>) outs(%y : memref<2x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.rsqrt %in : f32
    linalg.yield %0 : f32
  }
  return
}

// The right shape with the wrong arithmetic is left alone, because the kernel
// would compute something else: the divisor is not the row length (8 != 16),
// the sum of squares is of another tensor, or the sum has a second writer.
// CHECK-LABEL: func.func @not_proven
//   CHECK-NOT: vector.
//       CHECK: return
func.func @not_proven(%x: memref<2x16xf32>, %z: memref<2x16xf32>, %y: memref<2x16xf32>, %t: memref<2xf32>) {
  %n = arith.constant 1.600000e+01 : f32
  %n8 = arith.constant 8.000000e+00 : f32
  %eps = arith.constant 1.0e-05 : f32
  %zero = arith.constant 0.000000e+00 : f32
  %ss = memref.alloc() : memref<2xf32>
  linalg.fill ins(%zero : f32) outs(%ss : memref<2xf32>)
  linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<2x16xf32>) outs(%ss : memref<2xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.mulf %in, %in : f32
    %1 = arith.addf %0, %out : f32
    linalg.yield %1 : f32
  }
  %ssk = memref.expand_shape %ss [[0, 1]] output_shape [2, 1] : memref<2xf32> into memref<2x1xf32>
  // n = 8 on rows of 16
  linalg.generic {indexing_maps = [#id, #bcast, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %ssk : memref<2x16xf32>, memref<2x1xf32>) outs(%y : memref<2x16xf32>) {
  ^bb0(%in: f32, %sv: f32, %out: f32):
    %0 = arith.divf %sv, %n8 : f32
    %1 = arith.addf %0, %eps : f32
    %2 = math.rsqrt %1 : f32
    %3 = arith.mulf %in, %2 : f32
    linalg.yield %3 : f32
  }
  // the sum is of x, the scale of z
  linalg.generic {indexing_maps = [#id, #bcast, #id], iterator_types = ["parallel", "parallel"]}
      ins(%z, %ssk : memref<2x16xf32>, memref<2x1xf32>) outs(%y : memref<2x16xf32>) {
  ^bb0(%in: f32, %sv: f32, %out: f32):
    %0 = arith.divf %sv, %n : f32
    %1 = arith.addf %0, %eps : f32
    %2 = math.rsqrt %1 : f32
    %3 = arith.mulf %in, %2 : f32
    linalg.yield %3 : f32
  }
  // a second writer of the sum
  %s2 = memref.alloc() : memref<2xf32>
  linalg.fill ins(%zero : f32) outs(%s2 : memref<2xf32>)
  linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<2x16xf32>) outs(%s2 : memref<2xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.mulf %in, %in : f32
    %1 = arith.addf %0, %out : f32
    linalg.yield %1 : f32
  }
  memref.copy %t, %s2 : memref<2xf32> to memref<2xf32>
  %s2k = memref.expand_shape %s2 [[0, 1]] output_shape [2, 1] : memref<2xf32> into memref<2x1xf32>
  linalg.generic {indexing_maps = [#id, #bcast, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %s2k : memref<2x16xf32>, memref<2x1xf32>) outs(%y : memref<2x16xf32>) {
  ^bb0(%in: f32, %sv: f32, %out: f32):
    %0 = arith.divf %sv, %n : f32
    %1 = arith.addf %0, %eps : f32
    %2 = math.rsqrt %1 : f32
    %3 = arith.mulf %in, %2 : f32
    linalg.yield %3 : f32
  }
  return
}
