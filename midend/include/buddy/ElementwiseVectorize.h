//===- ElementwiseVectorize.h - vector rows for generics --------*- C++ -*-===//
//
// The public transform behind --buddy-elementwise-vectorize (the pass is a
// thin wrapper that calls it on every linalg.generic of a function).
//
//===----------------------------------------------------------------------===//
#ifndef BUDDY_ELEMENTWISEVECTORIZE_H
#define BUDDY_ELEMENTWISEVECTORIZE_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"

#include <cstdint>

namespace buddy {

struct ElementwiseVectorizeConfig {
  int64_t lanes = 16;          ///< lanes per vector (the target's f32 lanes)
  bool parallel = true;        ///< rows in an scf.parallel
  int64_t minParallel = 16384; ///< elements below which loops stay sequential
};

/// Replaces `op` (an elementwise or reduction generic on statically
/// shaped memrefs, see Passes.td) with vector row loops and erases it.
/// Returns false, leaving `op` unchanged, when it does not qualify.
bool vectorizeElementwise(mlir::linalg::GenericOp op,
                          const ElementwiseVectorizeConfig &config);

} // namespace buddy

#endif // BUDDY_ELEMENTWISEVECTORIZE_H
