// RUN: buddy-opt %s --buddy-cpu-pipeline="target=avx512" | FileCheck %s --implicit-check-not=expf --implicit-check-not=linalg.
// RUN: buddy-opt %s --buddy-cpu-pipeline="target=avx512" --mlir-print-ir-after=buddy-fuse-elementwise -o /dev/null 2>&1 | FileCheck %s --check-prefix=FUSED
// RUN: buddy-opt %s --buddy-cpu-pipeline="target=avx2 fuse-elementwise=0 parallel-loops=0" --mlir-print-ir-after=buddy-memref-copy-to-linalg -o /dev/null 2>&1 | FileCheck %s --check-prefix=UNFUSED
// RUN: buddy-opt %s --buddy-cpu-pipeline="target=avx2 parallel-loops=0" | FileCheck %s --check-prefix=SEQ --implicit-check-not=expf --implicit-check-not=omp.parallel

// Attention-style scores: scale, add the mask, softmax; then an RMSNorm in
// the frontend's tagged form. In the named pipeline the scale and the mask add
// fuse into one generic, softmax and RMSNorm become vector row kernels
// (parallel rows = OpenMP), and no scalar expf call is left.
// FUSED-LABEL: IR Dump After FuseElementwise
//       FUSED: %[[F:.+]] = linalg.generic {{.+}} ins(%arg0, %arg1 : tensor<512x37xf32>, tensor<512x37xf32>)
//       FUSED:   arith.mulf
//  FUSED-NEXT:   arith.addf
//  FUSED-NEXT:   linalg.yield
//       FUSED: linalg.softmax dimension(1) ins(%[[F]] : tensor<512x37xf32>)
// UNFUSED: linalg.generic
// UNFUSED:   arith.mulf
// UNFUSED: linalg.generic
// UNFUSED:   arith.addf
// UNFUSED: linalg.softmax
// CHECK-DAG: llvm.func @forward(
// CHECK-DAG: llvm.func @_buddy_forward(
// CHECK-DAG: omp.parallel
// CHECK-DAG: llvm.intr.vector.reduce.fmaximum({{.+}}) : (vector<16xf32>) -> f32
// CHECK-DAG: llvm.intr.fmuladd({{.+}}) : (vector<16xf32>, vector<16xf32>, vector<16xf32>) -> vector<16xf32>
// SEQ-DAG: llvm.intr.vector.reduce.fmaximum({{.+}}) : (vector<8xf32>) -> f32
// SEQ-DAG: llvm.intr.fmuladd({{.+}}) : (vector<8xf32>, vector<8xf32>, vector<8xf32>) -> vector<8xf32>
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
#bcast = affine_map<(d0, d1) -> (d0, 0)>
#col = affine_map<(d0, d1) -> (d1)>
func.func @forward(%s: tensor<512x37xf32>, %mask: tensor<512x37xf32>, %x: tensor<512x37xf32>,
                   %w: tensor<37xf32>) -> (tensor<512x37xf32>, tensor<512x37xf32>) {
  %scale = arith.constant 0.125 : f32
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<512x37xf32>
  %scaled = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%s : tensor<512x37xf32>) outs(%e : tensor<512x37xf32>) {
  ^bb0(%v: f32, %o: f32):
    %m = arith.mulf %v, %scale : f32
    linalg.yield %m : f32
  } -> tensor<512x37xf32>
  %masked = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%scaled, %mask : tensor<512x37xf32>, tensor<512x37xf32>) outs(%e : tensor<512x37xf32>) {
  ^bb0(%v: f32, %mv: f32, %o: f32):
    %a = arith.addf %v, %mv : f32
    linalg.yield %a : f32
  } -> tensor<512x37xf32>
  %p = linalg.softmax dimension(1) ins(%masked : tensor<512x37xf32>) outs(%e : tensor<512x37xf32>) -> tensor<512x37xf32>
  %er = tensor.empty() : tensor<512xf32>
  %init = linalg.fill ins(%zero : f32) outs(%er : tensor<512xf32>) -> tensor<512xf32>
  %ss = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<512x37xf32>) outs(%init : tensor<512xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %sq = arith.mulf %v, %v : f32
    %a = arith.addf %sq, %acc : f32
    linalg.yield %a : f32
  } -> tensor<512xf32>
  %ssk = tensor.expand_shape %ss [[0, 1]] output_shape [512, 1] : tensor<512xf32> into tensor<512x1xf32>
  %y = linalg.generic {indexing_maps = [#id, #bcast, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %ssk, %w : tensor<512x37xf32>, tensor<512x1xf32>, tensor<37xf32>) outs(%e : tensor<512x37xf32>) {
  ^bb0(%v: f32, %sv: f32, %wv: f32, %o: f32):
    %n = arith.constant 37.0 : f32
    %eps = arith.constant 1.0e-05 : f32
    %0 = arith.divf %sv, %n : f32
    %1 = arith.addf %0, %eps : f32
    %2 = math.rsqrt %1 : f32
    %3 = arith.mulf %v, %2 : f32
    %4 = arith.mulf %3, %wv : f32
    linalg.yield %4 : f32
  } -> tensor<512x37xf32>
  return %p, %y : tensor<512x37xf32>, tensor<512x37xf32>
}
