// RUN: buddy-opt %s --buddy-cpu-pipeline | FileCheck %s

// Through the CPU pipeline, buddy-elementwise-vectorize then
// buddy-math-approximation: a sigmoid on tensors ends as vector code with the
// exp inlined (no libm call, no scalar loop body left).
#id2 = affine_map<(d0, d1) -> (d0, d1)>

// CHECK-NOT:     llvm.call @expf
// CHECK:         llvm.fdiv {{.*}} : vector<16xf32>
// CHECK-NOT:     llvm.call @expf
func.func @sigmoid(%x: tensor<64x64xf32>) -> tensor<64x64xf32> {
  %e = tensor.empty() : tensor<64x64xf32>
  %r = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<64x64xf32>) outs(%e : tensor<64x64xf32>) {
  ^bb0(%a: f32, %out: f32):
    %one = arith.constant 1.0 : f32
    %n = arith.negf %a : f32
    %x1 = math.exp %n : f32
    %d = arith.addf %x1, %one : f32
    %s = arith.divf %one, %d : f32
    linalg.yield %s : f32
  } -> tensor<64x64xf32>
  return %r : tensor<64x64xf32>
}
