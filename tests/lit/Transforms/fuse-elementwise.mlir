// RUN: buddy-opt %s --buddy-fuse-elementwise | FileCheck %s

#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
#bcast = affine_map<(d0, d1) -> (d0, 0)>
#col = affine_map<(d0, d1) -> (d1)>

// Bias add -> SiLU-like activation -> residual add: one generic, no
// intermediate tensors. The matmul stays a named op in front of it.
// CHECK-LABEL: func.func @epilogue_chain
//       CHECK: %[[MM:.+]] = linalg.matmul
//       CHECK: %[[G:.+]] = linalg.generic
//  CHECK-SAME:   ins(%[[MM]], %{{.+}}, %{{.+}} : tensor<8x16xf32>, tensor<16xf32>, tensor<8x16xf32>)
//       CHECK:   arith.addf
//       CHECK:   math.exp
//       CHECK:   arith.mulf
//       CHECK:   arith.addf
//   CHECK-NOT: linalg.generic
//       CHECK: return %[[G]]
func.func @epilogue_chain(%a: tensor<8x4xf32>, %b: tensor<4x16xf32>, %bias: tensor<16xf32>,
                          %res: tensor<8x16xf32>) -> tensor<8x16xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8x16xf32>
  %c = linalg.fill ins(%zero : f32) outs(%e : tensor<8x16xf32>) -> tensor<8x16xf32>
  %mm = linalg.matmul ins(%a, %b : tensor<8x4xf32>, tensor<4x16xf32>) outs(%c : tensor<8x16xf32>) -> tensor<8x16xf32>
  %e1 = tensor.empty() : tensor<8x16xf32>
  %biased = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%mm, %bias : tensor<8x16xf32>, tensor<16xf32>) outs(%e1 : tensor<8x16xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %s = arith.addf %x, %y : f32
    linalg.yield %s : f32
  } -> tensor<8x16xf32>
  %e2 = tensor.empty() : tensor<8x16xf32>
  %act = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%biased : tensor<8x16xf32>) outs(%e2 : tensor<8x16xf32>) {
  ^bb0(%x: f32, %o: f32):
    %ex = math.exp %x : f32
    %m = arith.mulf %x, %ex : f32
    linalg.yield %m : f32
  } -> tensor<8x16xf32>
  %e3 = tensor.empty() : tensor<8x16xf32>
  %out = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%act, %res : tensor<8x16xf32>, tensor<8x16xf32>) outs(%e3 : tensor<8x16xf32>) {
  ^bb0(%x: f32, %r: f32, %o: f32):
    %s = arith.addf %x, %r : f32
    linalg.yield %s : f32
  } -> tensor<8x16xf32>
  return %out : tensor<8x16xf32>
}

// x*x fuses into the sum (no squared tensor). The [8,1] rsqrt is read through a
// broadcast: fusing it would recompute it 16 times per row, so it stays.
// CHECK-LABEL: func.func @norm_like
//       CHECK: linalg.generic {{.+}} iterator_types = ["parallel", "reduction"]
//       CHECK:   arith.mulf
//       CHECK:   arith.addf
//       CHECK: %[[R:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel"]
//       CHECK:   math.rsqrt
//       CHECK: linalg.generic {{.+}} ins(%{{.+}}, %[[R]] : tensor<8x16xf32>, tensor<8x1xf32>)
//       CHECK:   arith.mulf
func.func @norm_like(%x: tensor<8x16xf32>) -> tensor<8x16xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8x16xf32>
  %sq = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<8x16xf32>) outs(%e : tensor<8x16xf32>) {
  ^bb0(%v: f32, %o: f32):
    %m = arith.mulf %v, %v : f32
    linalg.yield %m : f32
  } -> tensor<8x16xf32>
  %er = tensor.empty() : tensor<8xf32>
  %init = linalg.fill ins(%zero : f32) outs(%er : tensor<8xf32>) -> tensor<8xf32>
  %sum = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%sq : tensor<8x16xf32>) outs(%init : tensor<8xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %s = arith.addf %v, %acc : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  %k = tensor.expand_shape %sum [[0, 1]] output_shape [8, 1] : tensor<8xf32> into tensor<8x1xf32>
  %e1 = tensor.empty() : tensor<8x1xf32>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%k : tensor<8x1xf32>) outs(%e1 : tensor<8x1xf32>) {
  ^bb0(%v: f32, %o: f32):
    %q = math.rsqrt %v : f32
    linalg.yield %q : f32
  } -> tensor<8x1xf32>
  %e2 = tensor.empty() : tensor<8x16xf32>
  %y = linalg.generic {indexing_maps = [#id, #bcast, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %r : tensor<8x16xf32>, tensor<8x1xf32>) outs(%e2 : tensor<8x16xf32>) {
  ^bb0(%v: f32, %q: f32, %o: f32):
    %m = arith.mulf %v, %q : f32
    linalg.yield %m : f32
  } -> tensor<8x16xf32>
  return %y : tensor<8x16xf32>
}

// A producer with a second user is not fused (it would be computed twice);
// an RMSNorm scale generic (--buddy-rmsnorm-vectorize's form) is not fused into.
// CHECK-LABEL: func.func @not_fused
//       CHECK: %[[P:.+]] = linalg.generic
//       CHECK:   math.exp
//       CHECK: linalg.generic {{.+}} ins(%[[P]] : tensor<4x8xf32>)
//       CHECK: linalg.generic {{.+}} ins(%[[P]] : tensor<4x8xf32>)
//       CHECK: %[[Q:.+]] = linalg.generic
//       CHECK:   math.tanh
//       CHECK: linalg.generic {{.+}} ins(%[[Q]], %{{.+}} : tensor<4x8xf32>, tensor<4x1xf32>)
//       CHECK:   math.rsqrt
func.func @not_fused(%x: tensor<4x8xf32>, %ss: tensor<4x1xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
  %e = tensor.empty() : tensor<4x8xf32>
  %p = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%v: f32, %o: f32):
    %q = math.exp %v : f32
    linalg.yield %q : f32
  } -> tensor<4x8xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%p : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%v: f32, %o: f32):
    %q = arith.negf %v : f32
    linalg.yield %q : f32
  } -> tensor<4x8xf32>
  %b = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%p : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%v: f32, %o: f32):
    %q = arith.mulf %v, %v : f32
    linalg.yield %q : f32
  } -> tensor<4x8xf32>
  %t = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%v: f32, %o: f32):
    %q = math.tanh %v : f32
    linalg.yield %q : f32
  } -> tensor<4x8xf32>
  %c = linalg.generic {indexing_maps = [#id, affine_map<(d0, d1) -> (d0, 0)>, #id], iterator_types = ["parallel", "parallel"]}
      ins(%t, %ss : tensor<4x8xf32>, tensor<4x1xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%v: f32, %s: f32, %o: f32):
    %n = arith.constant 8.0 : f32
    %eps = arith.constant 1.0e-05 : f32
    %0 = arith.divf %s, %n : f32
    %1 = arith.addf %0, %eps : f32
    %2 = math.rsqrt %1 : f32
    %3 = arith.mulf %v, %2 : f32
    linalg.yield %3 : f32
  } -> tensor<4x8xf32>
  return %a, %b, %c : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
}
