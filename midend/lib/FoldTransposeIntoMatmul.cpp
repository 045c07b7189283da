//===- FoldTransposeIntoMatmul.cpp - transpose -> matmul maps -------------===//
//
// Rewrites linalg.matmul / linalg.batch_matmul whose input is produced by a
// linalg.transpose so that it reads the transpose's input through a permuted
// indexing map. See Passes.td for the description.
//
//===----------------------------------------------------------------------===//

#include "buddy/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace buddy {
#define GEN_PASS_DEF_FOLDTRANSPOSEINTOMATMUL
#include "buddy/Passes.h.inc"
} // namespace buddy

using namespace mlir;

namespace {

/// For an operand read through `map` (iteration space -> operand indices) and
/// produced by `transpose(src, perm)` (out[i] = src[perm^-1 ...], i.e. output
/// dim i is input dim perm[i]), the map that reads `src` directly sends input
/// dim perm[i] to the old result i.
AffineMap composeWithTranspose(AffineMap map, ArrayRef<int64_t> perm) {
  SmallVector<AffineExpr> results(map.getNumResults());
  for (auto [i, p] : llvm::enumerate(perm))
    results[p] = map.getResult(i);
  return AffineMap::get(map.getNumDims(), map.getNumSymbols(), results,
                        map.getContext());
}

template <typename ContractionOp>
struct FoldTransposeOperand : OpRewritePattern<ContractionOp> {
  using OpRewritePattern<ContractionOp>::OpRewritePattern;

  LogicalResult matchAndRewrite(ContractionOp op,
                                PatternRewriter &rewriter) const override {
    SmallVector<AffineMap> maps = op.getIndexingMapsArray();
    SmallVector<Value> inputs(op.getDpsInputs());
    bool changed = false;
    for (unsigned i = 0; i < inputs.size(); ++i) {
      auto transpose = inputs[i].template getDefiningOp<linalg::TransposeOp>();
      if (!transpose || !transpose.hasPureTensorSemantics())
        continue;
      // batch_matmul maps must keep the batch dimension first in every operand.
      if (std::is_same_v<ContractionOp, linalg::BatchMatmulOp> &&
          transpose.getPermutation()[0] != 0)
        continue;
      maps[i] = composeWithTranspose(maps[i], transpose.getPermutation());
      inputs[i] = transpose.getInput();
      changed = true;
    }
    if (!changed)
      return rewriter.notifyMatchFailure(op, "no linalg.transpose input");

    SmallVector<Attribute> mapAttrs;
    for (AffineMap m : maps)
      mapAttrs.push_back(AffineMapAttr::get(m));
    rewriter.modifyOpInPlace(op, [&] {
      for (unsigned i = 0; i < inputs.size(); ++i)
        op->setOperand(i, inputs[i]);
      op.setIndexingMapsAttr(rewriter.getArrayAttr(mapAttrs));
    });
    return success();
  }
};

struct FoldTransposeIntoMatmulPass
    : buddy::impl::FoldTransposeIntoMatmulBase<FoldTransposeIntoMatmulPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FoldTransposeOperand<linalg::MatmulOp>,
                 FoldTransposeOperand<linalg::BatchMatmulOp>>(&getContext());
    // The greedy driver also erases transposes left without uses.
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
