//===- FuseElementwise.cpp - fuse elementwise linalg.generic chains -------===//
//
// Tensor-level producer/consumer fusion of linalg.generic ops with upstream's
// elementwise fusion patterns, under a control function that only fuses where
// it saves a round trip through memory and costs no recomputation:
//   * the producer is an all-parallel linalg.generic whose every use is the
//     consumer (so it disappears; nothing is computed twice),
//   * the consumer reads the producer's result through a permutation map
//     (a broadcast would recompute the producer per broadcast element),
//   * neither op is an RMSNorm scale generic (include/buddy/RmsNorm.h), which
//     --buddy-rmsnorm-vectorize must still find as it is.
// Named ops (linalg.matmul, conv, fill, softmax, ...) are never fused: Buddy's
// kernels must still recognize them. See Passes.td.
//
//===----------------------------------------------------------------------===//

#include "buddy/Passes.h"
#include "buddy/RmsNorm.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace buddy {
#define GEN_PASS_DEF_FUSEELEMENTWISE
#include "buddy/Passes.h.inc"
} // namespace buddy

using namespace mlir;

namespace {

bool shouldFuse(OpOperand *fused) {
  auto producer = fused->get().getDefiningOp<linalg::GenericOp>();
  auto consumer = dyn_cast<linalg::GenericOp>(fused->getOwner());
  if (!producer || !consumer)
    return false;
  if (buddy::matchRmsNormBody(producer) || buddy::matchRmsNormBody(consumer))
    return false;
  for (Operation *user : producer->getUsers())
    if (user != consumer.getOperation())
      return false;
  return consumer.getMatchingIndexingMap(fused).isPermutation();
}

struct FuseElementwisePass
    : buddy::impl::FuseElementwiseBase<FuseElementwisePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    linalg::populateElementwiseOpsFusionPatterns(patterns, shouldFuse);
    GreedyRewriteConfig config;
    // Only the fusion itself: no folding across the whole function.
    config.enableFolding(false);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns),
                                     config)))
      return signalPassFailure();
  }
};

} // namespace
