//===- Pipelines.h - Buddy named pass pipelines -----------------*- C++ -*-===//
//
// `--buddy-cpu-pipeline` and `--buddy-gemmini-pipeline` as a C++ API: fill a
// CpuPipelineOptions (GemminiPipelineOptions) and call buildCpuPipeline
// (buildGemminiPipeline) on a module-level pass manager. The registered
// pipelines (`buddy-opt --buddy-cpu-pipeline=...`, used by backend/pipeline.py)
// are thin wrappers that parse their option string into these structs. Options
// are documented in midend/README.md.
//
//===----------------------------------------------------------------------===//
#ifndef BUDDY_PIPELINES_H
#define BUDDY_PIPELINES_H

#include "mlir/Pass/PassManager.h"

#include <cstdint>
#include <string>

namespace buddy {

/// Options of `--buddy-cpu-pipeline` (same names, kebab-case there).
struct CpuPipelineOptions {
  /// Vector ISA: avx512 (16 f32 lanes), avx2 (8), neon/generic (4).
  std::string target = "avx512";
  /// Buddy kernels (GEMM/GEMV, conv/pooling, elementwise fusion,
  /// fold-transpose). false = reference lowering: linalg -> (parallel) loops;
  /// the softmax/RMSNorm row kernels stay (nothing else lowers
  /// linalg.softmax).
  bool kernels = true;
  /// Rename the entry function `renameFrom` to `renameTo` first
  /// (buddy-rename-entry); both empty = no rename.
  std::string renameFrom;
  std::string renameTo;
  /// Threads the GEMM N panels are balanced for (the OpenMP thread count
  /// itself is set at run time).
  int64_t threads = 2;
  /// GEMM register tile (0 = target default) and cache blocks.
  int64_t mr = 0;
  int64_t nr = 0;
  int64_t kc = 256;
  int64_t nc = 256;
  int64_t mc = 128; ///< rounded up to a multiple of mr
  bool fuseEpilogue = true;
  bool packA = false;
  /// GEMV: matmuls with static M <= gemvMaxRows.
  int64_t gemvMaxRows = 4;
  int64_t gemvRows = 8;
  int64_t gemvChunk = 64;
  /// Quantized decode GEMVs with int8 activations (buddy-quant-matmul-vectorize
  /// int8-dot): "none" or "avx512-vnni" (the x86 target rows with VNNI).
  std::string int8Dot = "none";
  /// Lower the remaining linalg ops to scf.parallel (OpenMP) instead of
  /// sequential loops.
  bool parallelLoops = true;
  bool fuseElementwise = true;
  /// Convolutions and pooling (buddy-conv2d-vectorize,
  /// buddy-pooling-vectorize).
  bool convVectorize = true;
  /// buddy-fill-copy-vectorize (with `kernels`).
  bool fillCopyVectorize = true;
  /// Vector rows for the remaining elementwise / inner-reduction generics.
  bool elementwiseVectorize = true;
  /// buddy-math-approximation after the kernels (with `kernels`).
  bool mathApproximation = true;
  int64_t convOcBlock = 0;   ///< 0 = target default: 8 for avx512, else 4
  int64_t convOwVectors = 0; ///< 0 = default 2
  int64_t convOhBlock = 1;
  int64_t convCBlock = 32; ///< 0 = all input channels
  bool convGemm1x1 = true;
  /// Outline each distinct top-level loop nest (buddy-outline-loop-nests).
  bool outline = true;
  /// Input is TOSA: lower it to Linalg first.
  bool fromTosa = false;
  /// C wrappers and `_buddy_<f>(void**)` entry points
  /// (buddy-emit-packed-interface).
  bool packedInterface = true;
  /// Free the temporaries bufferization allocates (buffer-deallocation-pipeline). Off only
  /// for modules whose deallocation MLIR 22 cannot lower (multi-buffer deallocs become i1
  /// memrefs, which finalize-memref-to-llvm asserts on): such code leaks its temporaries.
  bool deallocation = true;
};

/// Why `o` cannot be built (unknown target, half a rename), or "" if it can.
std::string verifyCpuPipelineOptions(const CpuPipelineOptions &o);

/// Appends the pipeline to `pm` (anchored on builtin.module). Fails, with a
/// message on llvm::errs(), when verifyCpuPipelineOptions(o) is not empty.
mlir::LogicalResult buildCpuPipeline(mlir::OpPassManager &pm,
                                     const CpuPipelineOptions &o);

/// Options of `--buddy-gemmini-pipeline` (same names, kebab-case there): int8
/// matmuls on memrefs -> Gemmini RoCC instructions, everything else lowered
/// for the RISC-V core (docs/gemmini.md).
struct GemminiPipelineOptions {
  /// Systolic-array dataflow of the tile ops: "ws" or "os".
  std::string dataflow = "ws";
  /// Rename the entry function first (buddy-rename-entry); both empty = none.
  std::string renameFrom;
  std::string renameTo;
  /// C wrappers and `_buddy_<f>(void**)` entry points.
  bool packedInterface = true;
};

/// Why `o` cannot be built (unknown dataflow, half a rename), or "" if it can.
std::string verifyGemminiPipelineOptions(const GemminiPipelineOptions &o);

/// Appends the Gemmini pipeline to `pm` (anchored on builtin.module). Fails,
/// with a message on llvm::errs(), when verifyGemminiPipelineOptions(o) is not
/// empty.
mlir::LogicalResult buildGemminiPipeline(mlir::OpPassManager &pm,
                                         const GemminiPipelineOptions &o);

/// Registers `--buddy-cpu-pipeline` and `--buddy-gemmini-pipeline` (see
/// midend/README.md) with buddy-opt.
void registerBuddyPipelines();

} // namespace buddy

#endif // BUDDY_PIPELINES_H
