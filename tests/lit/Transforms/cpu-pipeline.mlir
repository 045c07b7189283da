// RUN: buddy-opt %s --buddy-cpu-pipeline="target=avx512" | FileCheck %s
// RUN: buddy-opt %s --buddy-cpu-pipeline="target=avx2 packed-interface=0" | FileCheck %s --check-prefix=AVX2
// RUN: not buddy-opt %s --buddy-cpu-pipeline="target=sparc" 2>&1 | FileCheck %s --check-prefix=BAD

// nn.Linear on tensors: the transpose folds away, the result becomes an
// out-param, the GEMM runs in an OpenMP parallel region on 16-lane FMAs and
// the packed `_buddy_linear(void **)` entry point is emitted. The GEMM loop
// nest is outlined into an internal function (buddy-outline-loop-nests) that
// has no C interface of its own.
// CHECK-NOT: linalg.
// CHECK-NOT: func.func
// CHECK: llvm.func @linear(
// CHECK:   llvm.call @[[GEMM:linear__outlined0]](
// CHECK: llvm.func @_mlir_ciface_linear(%{{.+}}: !llvm.ptr, %{{.+}}: !llvm.ptr, %{{.+}}: !llvm.ptr)
// CHECK: llvm.func @_buddy_linear(%{{.+}}: !llvm.ptr)
// CHECK: llvm.func internal @[[GEMM]](
// CHECK-SAME: passthrough = ["noinline"]
// CHECK:   omp.parallel
// CHECK:     omp.wsloop
// CHECK:       llvm.intr.fmuladd({{.+}}) : (vector<16xf32>, vector<16xf32>, vector<16xf32>) -> vector<16xf32>
// CHECK-NOT: _mlir_ciface_linear__outlined
// AVX2: llvm.intr.fmuladd({{.+}}) : (vector<8xf32>, vector<8xf32>, vector<8xf32>) -> vector<8xf32>
// AVX2-NOT: _buddy_linear
// BAD: unknown target 'sparc'
func.func @linear(%x: tensor<64x96xf32>, %w: tensor<80x96xf32>) -> tensor<64x80xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<64x80xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<64x80xf32>) -> tensor<64x80xf32>
  %et = tensor.empty() : tensor<96x80xf32>
  %wt = linalg.transpose ins(%w : tensor<80x96xf32>) outs(%et : tensor<96x80xf32>) permutation = [1, 0]
  %r = linalg.matmul ins(%x, %wt : tensor<64x96xf32>, tensor<96x80xf32>) outs(%acc : tensor<64x80xf32>) -> tensor<64x80xf32>
  return %r : tensor<64x80xf32>
}
