// RUN: buddy-opt %s --buddy-cpu-pipeline="target=avx2 kernels=1" | FileCheck %s --check-prefix=KERNELS
// RUN: buddy-opt %s --buddy-cpu-pipeline="target=generic" | FileCheck %s --check-prefix=LANES4
// RUN: buddy-opt %s --buddy-cpu-pipeline="target=neon" | FileCheck %s --check-prefix=LANES4
// RUN: buddy-opt %s --buddy-cpu-pipeline="target=avx2 kernels=0 parallel-loops=0" | FileCheck %s --check-prefix=REF
// RUN: buddy-opt %s --buddy-cpu-pipeline="target=avx2 kernels=0 parallel-loops=1" | FileCheck %s --check-prefix=REFPAR
// RUN: buddy-opt %s --buddy-cpu-pipeline="target=avx2 rename-from=mm rename-to=graph_a" | FileCheck %s --check-prefix=RENAME
// RUN: not buddy-opt %s --buddy-cpu-pipeline="target=avx3" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not buddy-opt %s --buddy-cpu-pipeline="target=avx2 rename-from=mm" 2>&1 | FileCheck %s --check-prefix=HALF
// RUN: not buddy-opt %s --buddy-cpu-pipeline="target=avx2 int8-dot=avx512-vnni" 2>&1 | FileCheck %s --check-prefix=INT8

// kernels=1 (the default): the GEMM kernel, 8-lane FMAs in an OpenMP region.
// KERNELS: llvm.func @_buddy_mm(
// KERNELS: omp.parallel
// KERNELS: llvm.intr.fmuladd({{.+}}) : (vector<8xf32>, vector<8xf32>, vector<8xf32>) -> vector<8xf32>

// generic (RISC-V RVV and any other CPU) and neon (AArch64): the same kernel, 4 lanes.
// LANES4: omp.parallel
// LANES4: llvm.intr.fmuladd({{.+}}) : (vector<4xf32>, vector<4xf32>, vector<4xf32>) -> vector<4xf32>
// LANES4-NOT: vector<8xf32>

// kernels=0: reference lowering, scalar loops; no vectors, no OpenMP anywhere.
// REF-NOT: vector<
// REF-NOT: omp.
// REF-NOT: linalg.
// REF: llvm.func @_buddy_mm(
// REF-NOT: vector<
// REF-NOT: omp.
// REF: llvm.func internal @mm__outlined0(
// REF-NOT: vector<
// REF-NOT: omp.

// kernels=0 parallel-loops=1: the loops become OpenMP, still no vector kernel.
// REFPAR-NOT: vector<
// REFPAR: omp.parallel
// REFPAR-NOT: vector<

// rename-from/rename-to run buddy-rename-entry first: only the new symbols.
// RENAME-NOT: @mm(
// RENAME-NOT: @_buddy_mm(
// RENAME: llvm.func @graph_a(
// RENAME: llvm.func @_mlir_ciface_graph_a(
// RENAME: llvm.func @_buddy_graph_a(
// RENAME-NOT: @_buddy_mm(

// BAD: buddy-cpu-pipeline: unknown target 'avx3' (expected avx512, avx2, neon or generic)
// HALF: rename-from and rename-to go together
// INT8: buddy-cpu-pipeline: int8-dot='avx512-vnni' is not a kernel of target 'avx2' (expected none, or avx512-vnni with target=avx512)
func.func @mm(%a: tensor<32x64xf32>, %b: tensor<64x48xf32>) -> tensor<32x48xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<32x48xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<32x48xf32>) -> tensor<32x48xf32>
  %r = linalg.matmul ins(%a, %b : tensor<32x64xf32>, tensor<64x48xf32>) outs(%acc : tensor<32x48xf32>) -> tensor<32x48xf32>
  return %r : tensor<32x48xf32>
}
