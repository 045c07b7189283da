//===- MathApproximation.h - inline f32 exp/tanh/erf ------------*- C++ -*-===//
//
// The public transform behind --buddy-math-approximation (the pass is a thin
// wrapper around approximateMath).
//
//===----------------------------------------------------------------------===//
#ifndef BUDDY_MATHAPPROXIMATION_H
#define BUDDY_MATHAPPROXIMATION_H

#include "mlir/IR/Operation.h"
#include "mlir/Support/LLVM.h"

namespace buddy {

/// The math ops approximateMath replaces (names as `math.<op>`).
llvm::ArrayRef<llvm::StringRef> approximatedMathOps();

/// Replaces every f32 (scalar or vector) math.exp, math.tanh and math.erf
/// under `root` with MLIR's polynomial approximation in arith/math.fma ops.
/// Returns failure if the rewrite did not converge.
mlir::LogicalResult approximateMath(mlir::Operation *root);

} // namespace buddy

#endif // BUDDY_MATHAPPROXIMATION_H
