// RUN: buddy-opt %s --buddy-math-approximation | FileCheck %s
// RUN: buddy-opt %s --buddy-cpu-pipeline | FileCheck %s --check-prefix=PIPE
// RUN: buddy-opt %s --buddy-cpu-pipeline="kernels=false" | FileCheck %s --check-prefix=NOKERNELS

// f32 exp, tanh and erf (scalar and vector) become polynomials: no math op
// and no call is left; log and the f64 exp are not taken.
// CHECK-LABEL: func.func @gelu_like
// CHECK-NOT:     math.erf
// CHECK-NOT:     math.tanh
// CHECK:         math.fma
// CHECK-NOT:     math.erf
// CHECK:         return
func.func @gelu_like(%x: f32, %v: vector<16xf32>) -> (f32, vector<16xf32>) {
  %e = math.erf %x : f32
  %t = math.tanh %v : vector<16xf32>
  return %e, %t : f32, vector<16xf32>
}

// CHECK-LABEL: func.func @exp_only_f32
// CHECK-NOT:     math.exp %{{.*}} : f32
// CHECK:         math.exp %{{.*}} : f64
// CHECK:         math.log %{{.*}} : f32
func.func @exp_only_f32(%x: f32, %y: f64) -> (f32, f64, f32) {
  %a = math.exp %x : f32
  %b = math.exp %y : f64
  %c = math.log %x : f32
  return %a, %b, %c : f32, f64, f32
}

// Through the CPU pipeline (kernels on): a GELU-style elementwise op ends as
// loops with no libm call; with kernels off the loops keep calling erff.
// PIPE-NOT:  llvm.call @erff
// PIPE-NOT:  llvm.func @erff
// NOKERNELS: llvm.func @erff
func.func @forward(%a: memref<4x32xf32>, %o: memref<4x32xf32>) {
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%a : memref<4x32xf32>) outs(%o : memref<4x32xf32>) {
  ^bb0(%x: f32, %out: f32):
    %e = math.erf %x : f32
    linalg.yield %e : f32
  }
  return
}
