//===- RmsNormVectorize.cpp - tagged RMSNorm -> one row kernel ------------===//
//
// The frontend lowers RMSNorm (`buddy.rms_norm`, fused from Core ATen's
// pow/mean/add/rsqrt/mul/mul chain) to a sum-of-squares reduction tagged
// `buddy.rms_norm_sumsq` and an elementwise linalg.generic tagged
// `buddy.rms_norm = <eps>`:
//
//   y = x * rsqrt(sumsq / n + eps) [* w]     ins(x, sumsq [, w]) outs(y)
//
// On memrefs, this pass replaces the tagged generic by one kernel per row
// (rows in an scf.parallel, or scf.for when not parallel):
//
//   s = sum_j x[j] * x[j]            (vector fma, masked tail)
//   r = rsqrt(s / n + eps)
//   y[j] = x[j] * r [* w[j]]
//
// and erases the reduction (and the fill of its accumulator) when nothing
// else reads the sum of squares. Untagged or unexpected IR is left alone: the
// tagged generic is itself a correct reference lowering. See Passes.td.
//
//===----------------------------------------------------------------------===//

#include "RowKernel.h"
#include "buddy/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/SetVector.h"

namespace buddy {
#define GEN_PASS_DEF_RMSNORMVECTORIZE
#include "buddy/Passes.h.inc"
} // namespace buddy

using namespace mlir;
using namespace buddy::rowkernel;

namespace {

constexpr llvm::StringLiteral kTag = "buddy.rms_norm";
constexpr llvm::StringLiteral kSumSqTag = "buddy.rms_norm_sumsq";

struct RmsNormOperands {
  Value x, w, y;
  float eps;
};

std::optional<RmsNormOperands> match(linalg::GenericOp op) {
  auto eps = op->getAttrOfType<FloatAttr>(kTag);
  if (!eps || !op.hasPureBufferSemantics() || op.getNumDpsInits() != 1 ||
      op.getNumDpsInputs() < 2 || op.getNumDpsInputs() > 3)
    return std::nullopt;
  RmsNormOperands r;
  r.x = op.getDpsInputOperand(0)->get();
  r.y = op.getDpsInitOperand(0)->get();
  r.eps = float(eps.getValueAsDouble());
  if (!isF32RowMemRef(r.x) || !isF32RowMemRef(r.y) ||
      r.x.getType() != r.y.getType())
    return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  int64_t rank = cast<MemRefType>(r.x.getType()).getRank();
  if (int64_t(op.getNumLoops()) != rank || !maps[0].isIdentity() ||
      !maps.back().isIdentity())
    return std::nullopt;
  if (op.getNumDpsInputs() == 3) {
    r.w = op.getDpsInputOperand(2)->get();
    auto last = AffineMap::get(rank, 0, getAffineDimExpr(rank - 1, op.getContext()));
    if (!isF32RowMemRef(r.w) || cast<MemRefType>(r.w.getType()).getRank() != 1 ||
        maps[2] != last)
      return std::nullopt;
  }
  return r;
}

/// The reduction (and the fill of its accumulator) that only feed `op`'s
/// sum-of-squares operand; empty when the buffer has other readers.
SmallVector<Operation *> deadSumOfSquares(linalg::GenericOp op) {
  Value root = op.getDpsInputOperand(1)->get();
  while (auto view = root.getDefiningOp<ViewLikeOpInterface>())
    root = view.getViewSource();
  if (!root.getDefiningOp<memref::AllocOp>() &&
      !root.getDefiningOp<memref::AllocaOp>())
    return {};
  SmallVector<Operation *> erase;
  llvm::SetVector<Value> buffers;
  buffers.insert(root);
  for (unsigned i = 0; i < buffers.size(); ++i) {
    for (Operation *user : buffers[i].getUsers()) {
      if (user == op.getOperation() || isa<memref::DeallocOp>(user))
        continue;
      if (auto view = dyn_cast<ViewLikeOpInterface>(user)) {
        if (view.getViewSource() == buffers[i]) {
          buffers.insert(view->getResult(0));
          continue;
        }
      }
      if (auto fill = dyn_cast<linalg::FillOp>(user)) {
        if (fill.getDpsInitOperand(0)->get() == buffers[i]) {
          erase.push_back(fill);
          continue;
        }
      }
      if (auto red = dyn_cast<linalg::GenericOp>(user)) {
        if (red->hasAttr(kSumSqTag) && red.getNumDpsInits() == 1 &&
            red.getDpsInitOperand(0)->get() == buffers[i] &&
            red->getBlock() == op->getBlock() &&
            red->isBeforeInBlock(op)) {
          erase.push_back(red);
          continue;
        }
      }
      return {}; // another reader or writer: keep everything
    }
  }
  return erase;
}

void emitRmsNorm(OpBuilder &b, Location loc, const RmsNormOperands &o,
                 int64_t vw, bool parallel) {
  auto vty = VectorType::get({vw}, b.getF32Type());
  int64_t rank = cast<MemRefType>(o.x.getType()).getRank();
  Value n = memref::DimOp::create(b, loc, o.x, rank - 1);
  std::optional<int64_t> sn = staticRowLength(o.x);
  forEachRow(b, loc, o.x, parallel, [&](OpBuilder &b, Location loc,
                                        ValueRange row) {
    Value zero = f32Const(b, loc, 0.0f);
    // Sweep 1: sum of squares (padding lanes load 0).
    Value acc = forEachChunk(
        b, loc, n, sn, vw, {splat(b, loc, vty, zero)},
        [&](OpBuilder &b, Location loc, Value j, Value mask, ValueRange acc)
            -> SmallVector<Value> {
          Value v = load(b, loc, vty, o.x, at(row, j), mask, zero);
          return {vector::FMAOp::create(b, loc, v, v, acc[0])};
        })[0];
    Value s = vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD,
                                          acc);
    Value nf = arith::UIToFPOp::create(
        b, loc, b.getF32Type(),
        arith::IndexCastUIOp::create(b, loc, b.getI64Type(), n));
    Value mean = arith::DivFOp::create(b, loc, s, nf);
    Value r = math::RsqrtOp::create(
        b, loc, arith::AddFOp::create(b, loc, mean, f32Const(b, loc, o.eps)));
    Value rb = splat(b, loc, vty, r);
    // Sweep 2: y = x * r [* w].
    forEachChunk(b, loc, n, sn, vw, {},
                 [&](OpBuilder &b, Location loc, Value j, Value mask,
                     ValueRange) -> SmallVector<Value> {
                   Value v = load(b, loc, vty, o.x, at(row, j), mask, zero);
                   Value yv = arith::MulFOp::create(b, loc, v, rb);
                   if (o.w)
                     yv = arith::MulFOp::create(
                         b, loc, yv,
                         load(b, loc, vty, o.w, ValueRange{j}, mask, zero));
                   store(b, loc, yv, o.y, at(row, j), mask);
                   return {};
                 });
  });
}

struct RmsNormVectorizePass
    : buddy::impl::RmsNormVectorizeBase<RmsNormVectorizePass> {
  using RmsNormVectorizeBase::RmsNormVectorizeBase;

  void runOnOperation() override {
    if (vectorWidth < 1) {
      getOperation().emitError("buddy-rmsnorm-vectorize: vector-width must be "
                               ">= 1");
      return signalPassFailure();
    }
    SmallVector<std::pair<linalg::GenericOp, RmsNormOperands>> found;
    getOperation().walk([&](linalg::GenericOp op) {
      if (std::optional<RmsNormOperands> m = match(op))
        found.push_back({op, *m});
    });
    IRRewriter rewriter(&getContext());
    for (auto &[op, operands] : found) {
      SmallVector<Operation *> dead = deadSumOfSquares(op);
      rewriter.setInsertionPoint(op);
      emitRmsNorm(rewriter, op.getLoc(), operands, vectorWidth, parallel);
      rewriter.eraseOp(op);
      for (Operation *d : llvm::reverse(dead))
        rewriter.eraseOp(d);
    }
  }
};

} // namespace
