//===- QuantMatmul.h - block-quantized linear layers ------------*- C++ -*-===//
//
// The public side of --buddy-quant-matmul-vectorize: the structural matcher
// of the frontend's quantized-linear `linalg.generic` and the transform that
// rewrites every match in a function into Vector-dialect kernels. The pass is
// a thin wrapper around vectorizeQuantMatmuls.
//
// Recognised form (docs/quantization.md), on memrefs, loops (m, n, k):
//
//   linalg.generic {indexing_maps = [(m,n,k) -> (m, k),            // x  f32
//                                    (m,n,k) -> (n, Q(k)),         // q  i8
//                                    (m,n,k) -> (n, k floordiv B), // d  f32
//                                   [(m,n,k) -> (n, k floordiv B),]// mn f32
//                                    (m,n,k) -> (m, n)],           // y  f32
//                   iterator_types = [parallel, parallel, reduction]}
//     ^bb0(%x, %q, %d, [%mn,] %acc):
//       %w = d * sitofp(v) [+ mn]        (operands of mulf/addf in any order)
//       yield acc + x * w
//
// i.e. y[m, n] += sum_k x[m, k] * (d[n, k/B] * v[n, k] (+ mn[n, k/B])), where
//   one byte per weight: Q(k) = k and v = q (GGUF Q8_0);
//   packed 4-bit:        Q(k) = (k floordiv B) * (B/2) + k mod (B/2) and
//                        v = nib [- 8], nib = andi(shrui(q, index_cast(
//                        ((linalg.index 2) mod B floordiv (B/2)) * 4)), 15)
//                        (GGUF Q4_0 with "- 8", Q4_1 without; byte j of a
//                        block holds elements j and j + B/2).
//
//===----------------------------------------------------------------------===//
#ifndef BUDDY_QUANTMATMUL_H
#define BUDDY_QUANTMATMUL_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"

#include <cstdint>
#include <optional>
#include <string>

namespace buddy {

/// Operands of a recognised quantized matmul (all static 2-D memrefs).
struct QuantMatmulOperands {
  mlir::Value x, q, scale, min, y; ///< `min` is null without mins (Q8_0/Q4_0)
  int64_t block = 0;                ///< elements per scale (B)
  bool packed = false;              ///< two 4-bit weights per byte of q
  int64_t offset = 0;               ///< subtracted from packed nibbles (8 or 0)
  int64_t m = 0, n = 0, k = 0;
};

/// The operands of `op` if it is the form above with static shapes, K a
/// multiple of B, unit inner strides of x, q and y; std::nullopt otherwise.
std::optional<QuantMatmulOperands> matchQuantMatmul(mlir::linalg::GenericOp op);

struct QuantMatmulConfig {
  int64_t vectorWidth = 16; ///< f32 lanes; B (packed: B/2) a multiple of it
  int64_t maxRows = 4;      ///< M <= maxRows: the streaming GEMV kernel
  int64_t rows = 4;         ///< weight rows per step of the GEMV kernel (/ M)
  int64_t chunk = 64;       ///< most weight rows per parallel task
  int64_t prefetch = 2;     ///< GEMV: prefetch the rows this many steps ahead
  bool groupSiblings = true; ///< GEMVs of one x (q/k/v, gate/up): one parallel loop
  /// Decode with int8 activations: x is quantized per block of 32 (scale
  /// max|x|/127, round to nearest even) once per GEMV (group), and each block
  /// dot is an integer dot product. Kernels: "avx512-vnni" (vpdpbusd on
  /// 64 bytes; vector width 16, B = 32, K a multiple of 64). "none" (or a
  /// match that does not fit) keeps f32 activations.
  std::string int8Dot = "none";
};

/// Rewrites every match in `f`: M <= maxRows into a GEMV kernel that reads
/// each weight byte once (N split over an scf.parallel; siblings reading the
/// same x share one, see Passes.td), larger M into a
/// vectorized dequantization of the weight into an f32 [N, K] buffer plus a
/// B-transposed linalg.matmul (for --buddy-matmul-vectorize). Returns the
/// number of ops rewritten. Matches whose B (packed: B/2) is not a multiple
/// of the vector width are left to the generic lowering.
int64_t vectorizeQuantMatmuls(mlir::func::FuncOp f, const QuantMatmulConfig &cfg);

} // namespace buddy

#endif // BUDDY_QUANTMATMUL_H
