//===- SoftmaxVectorize.cpp - linalg.softmax -> one row kernel ------------===//
//
// Rewrites f32 linalg.softmax over the last dimension of memrefs into one
// kernel per row (rows in an scf.parallel, or scf.for when not parallel):
//
//   m   = max_j x[j]                       (vector maximumf, masked tail -inf)
//   y[j] = exp(x[j] - m); s = sum_j y[j]   (vector exp, masked tail)
//   y[j] = y[j] * (1 / s)
//
// The row stays in cache between the three sweeps. math.exp on vectors is
// expanded by MLIR's polynomial approximation (no per-lane libm calls).
// See Passes.td.
//
//===----------------------------------------------------------------------===//

#include "RowKernel.h"
#include "buddy/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Approximation.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace buddy {
#define GEN_PASS_DEF_SOFTMAXVECTORIZE
#include "buddy/Passes.h.inc"
} // namespace buddy

using namespace mlir;
using namespace buddy::rowkernel;

namespace {

void emitSoftmax(OpBuilder &b, Location loc, Value x, Value y, int64_t vw,
                 bool parallel, SmallVectorImpl<Operation *> &exps) {
  auto vty = VectorType::get({vw}, b.getF32Type());
  int64_t rank = cast<MemRefType>(x.getType()).getRank();
  Value n = memref::DimOp::create(b, loc, x, rank - 1);
  std::optional<int64_t> sn = staticRowLength(x);
  forEachRow(b, loc, x, parallel, [&](OpBuilder &b, Location loc,
                                      ValueRange row) {
    Value negInf =
        f32Const(b, loc, APFloat::getInf(APFloat::IEEEsingle(), true));
    Value zero = f32Const(b, loc, 0.0f);
    // exp(-87) = 1.6e-38 is the smallest exp kept; torch's value below it is
    // a denormal (< 1.2e-38) or 0.
    Value lowest = f32Const(b, loc, -87.0f);
    // Sweep 1: row maximum (maximumf propagates NaN like torch.max).
    Value mv = forEachChunk(
        b, loc, n, sn, vw, {splat(b, loc, vty, negInf)},
        [&](OpBuilder &b, Location loc, Value j, Value mask, ValueRange acc)
            -> SmallVector<Value> {
          Value v = load(b, loc, vty, x, at(row, j), mask, negInf);
          return {arith::MaximumFOp::create(b, loc, acc[0], v)};
        })[0];
    Value m = vector::ReductionOp::create(b, loc, vector::CombiningKind::MAXIMUMF,
                                          mv);
    Value mb = splat(b, loc, vty, m);
    // Sweep 2: y = exp(x - m), s = sum(y).
    Value sv = forEachChunk(
        b, loc, n, sn, vw, {splat(b, loc, vty, zero)},
        [&](OpBuilder &b, Location loc, Value j, Value mask, ValueRange acc)
            -> SmallVector<Value> {
          Value v = load(b, loc, vty, x, at(row, j), mask, negInf);
          Value d = arith::SubFOp::create(b, loc, v, mb);
          Value lo = splat(b, loc, vty, lowest);
          // exp of the clamped input never leaves the normal range (denormal
          // arithmetic is ~100x slower on x86, and masked -inf lanes are
          // common); lanes below the clamp give 0. NaN propagates.
          auto e = math::ExpOp::create(b, loc,
                                       arith::MaximumFOp::create(b, loc, d, lo));
          exps.push_back(e);
          Value ev = arith::SelectOp::create(
              b, loc,
              arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, d, lo),
              splat(b, loc, vty, zero), e);
          if (mask) // keep the padding lanes out of the sum
            ev = arith::SelectOp::create(b, loc, mask, ev,
                                         splat(b, loc, vty, zero));
          store(b, loc, ev, y, at(row, j), mask);
          return {arith::AddFOp::create(b, loc, acc[0], ev)};
        })[0];
    Value s = vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, sv);
    Value inv = arith::DivFOp::create(b, loc, f32Const(b, loc, 1.0f), s);
    Value ib = splat(b, loc, vty, inv);
    // Sweep 3: y *= 1 / s.
    forEachChunk(b, loc, n, sn, vw, {},
                 [&](OpBuilder &b, Location loc, Value j, Value mask,
                     ValueRange) -> SmallVector<Value> {
                   Value v = load(b, loc, vty, y, at(row, j), mask, zero);
                   store(b, loc, arith::MulFOp::create(b, loc, v, ib), y,
                         at(row, j), mask);
                   return {};
                 });
  });
}

struct SoftmaxVectorizePass
    : buddy::impl::SoftmaxVectorizeBase<SoftmaxVectorizePass> {
  using SoftmaxVectorizeBase::SoftmaxVectorizeBase;

  void runOnOperation() override {
    if (vectorWidth < 1) {
      getOperation().emitError("buddy-softmax-vectorize: vector-width must be "
                               ">= 1");
      return signalPassFailure();
    }
    SmallVector<linalg::SoftmaxOp> ops;
    getOperation().walk([&](linalg::SoftmaxOp op) {
      if (op.hasPureBufferSemantics())
        ops.push_back(op);
    });
    SmallVector<Operation *> exps;
    IRRewriter rewriter(&getContext());
    for (linalg::SoftmaxOp op : ops) {
      Value x = op.getInput(), y = op.getOutput();
      int64_t rank = cast<MemRefType>(x.getType()).getRank();
      if (!isF32RowMemRef(x) || !isF32RowMemRef(y) ||
          int64_t(op.getDimension()) != rank - 1) {
        // Nothing else in the CPU pipeline lowers linalg.softmax on memrefs.
        op.emitOpError("buddy-softmax-vectorize: only f32 softmax over the "
                       "last dimension of memrefs with unit inner stride is "
                       "supported, got ")
            << x.getType() << " dimension " << op.getDimension();
        return signalPassFailure();
      }
      rewriter.setInsertionPoint(op);
      emitSoftmax(rewriter, op.getLoc(), x, y, vectorWidth, parallel, exps);
      rewriter.eraseOp(op);
    }
    if (exps.empty())
      return;
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(
        patterns,
        [](StringRef name) { return name == "exp" || name == "math.exp"; });
    if (failed(applyOpPatternsGreedily(exps, std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
