//===- RmsNormVectorize.cpp - RMSNorm generics -> one row kernel ----------===//
//
// The frontend lowers RMSNorm (`buddy.rms_norm`, raised from Core ATen's
// pow/mean/add/rsqrt/mul/mul chain) to a zero fill, a sum-of-squares
// reduction and an elementwise scale generic, the form that
// include/buddy/RmsNorm.h defines and matches by its arithmetic:
//
//   y = x * rsqrt(sumsq / n + eps) [* w]     ins(x, sumsq [, w]) outs(y)
//
// On memrefs, vectorizeRmsNorms replaces the scale generic by one kernel per
// row (rows in an scf.parallel, or scf.for when not parallel):
//
//   s = sum_j x[j] * x[j]            (vector fma, masked tail)
//   r = rsqrt(s / n + eps)
//   y[j] = x[j] * r [* w[j]]
//
// once it has proved that sumsq is sum(x * x) of the same x (its only
// writers are a zero fill and a sum-of-squares reduction of x), and erases
// that reduction and fill when nothing else reads the sum. Anything else is
// left alone: the generics are themselves a correct lowering. The pass is a
// thin wrapper. See Passes.td.
//
//===----------------------------------------------------------------------===//

#include "RowKernel.h"
#include "buddy/Passes.h"
#include "buddy/RmsNorm.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Matchers.h"
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

bool isArg(Value v, Block &b, unsigned i) {
  auto a = dyn_cast<BlockArgument>(v);
  return a && a.getOwner() == &b && a.getArgNumber() == i;
}

std::optional<double> f32Constant(Value v) {
  FloatAttr a;
  if (v.getType().isF32() && matchPattern(v, m_Constant(&a)))
    return a.getValueAsDouble();
  return std::nullopt;
}

/// The operand of the binary `op` that is not block argument `i`.
template <typename OpT> Value otherThanArg(OpT op, Block &b, unsigned i) {
  if (!op)
    return {};
  if (isArg(op.getLhs(), b, i))
    return op.getRhs();
  if (isArg(op.getRhs(), b, i))
    return op.getLhs();
  return {};
}

} // namespace

std::optional<buddy::RmsNormBody>
buddy::matchRmsNormBody(linalg::GenericOp op) {
  unsigned nin = op.getNumDpsInputs();
  if (nin < 2 || nin > 3 || op.getNumDpsInits() != 1 ||
      op.getRegion().empty())
    return std::nullopt;
  Block &b = op.getRegion().front();
  if (!llvm::all_of(b.getArgumentTypes(), [](Type t) { return t.isF32(); }))
    return std::nullopt;
  auto yield = dyn_cast<linalg::YieldOp>(b.getTerminator());
  if (!yield || yield.getNumOperands() != 1)
    return std::nullopt;
  RmsNormBody r;
  r.weighted = nin == 3;
  Value v = yield.getOperand(0);
  if (r.weighted && !(v = otherThanArg(v.getDefiningOp<arith::MulFOp>(), b, 2)))
    return std::nullopt;
  Value rs = otherThanArg(v.getDefiningOp<arith::MulFOp>(), b, 0);
  auto rsqrt = rs ? rs.getDefiningOp<math::RsqrtOp>() : math::RsqrtOp();
  auto add = rsqrt ? rsqrt.getOperand().getDefiningOp<arith::AddFOp>()
                   : arith::AddFOp();
  if (!add)
    return std::nullopt;
  Value mean;
  if (std::optional<double> e = f32Constant(add.getRhs())) {
    r.eps = *e;
    mean = add.getLhs();
  } else if (std::optional<double> e = f32Constant(add.getLhs())) {
    r.eps = *e;
    mean = add.getRhs();
  } else {
    return std::nullopt;
  }
  auto div = mean.getDefiningOp<arith::DivFOp>();
  if (!div || !isArg(div.getLhs(), b, 1))
    return std::nullopt;
  std::optional<double> n = f32Constant(div.getRhs());
  if (!n)
    return std::nullopt;
  r.n = *n;
  return r;
}

bool buddy::isSumOfSquares(linalg::GenericOp op) {
  if (op.getNumDpsInputs() != 1 || op.getNumDpsInits() != 1 ||
      op.getRegion().empty())
    return false;
  SmallVector<utils::IteratorType> its = op.getIteratorTypesArray();
  int64_t rank = int64_t(its.size());
  if (rank < 1 || its.back() != utils::IteratorType::reduction ||
      !llvm::all_of(ArrayRef(its).drop_back(), [](utils::IteratorType t) {
        return t == utils::IteratorType::parallel;
      }))
    return false;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  SmallVector<AffineExpr> lead;
  for (int64_t i = 0; i + 1 < rank; ++i)
    lead.push_back(getAffineDimExpr(i, op.getContext()));
  if (!maps[0].isIdentity() ||
      maps[1] != AffineMap::get(rank, 0, lead, op.getContext()))
    return false;
  Block &b = op.getRegion().front();
  if (!llvm::all_of(b.getArgumentTypes(), [](Type t) { return t.isF32(); }))
    return false;
  auto yield = dyn_cast<linalg::YieldOp>(b.getTerminator());
  if (!yield || yield.getNumOperands() != 1)
    return false;
  Value sq = otherThanArg(yield.getOperand(0).getDefiningOp<arith::AddFOp>(),
                          b, 1);
  auto mul = sq ? sq.getDefiningOp<arith::MulFOp>() : arith::MulFOp();
  return mul && isArg(mul.getLhs(), b, 0) && isArg(mul.getRhs(), b, 0);
}

namespace {

struct RmsNormOperands {
  Value x, w, y;
  float eps;
  linalg::GenericOp sumsq;       ///< the reduction that writes the sum
  SmallVector<Operation *> dead; ///< it and its fill, when nothing else reads
};

/// The root buffer of `v` through view ops, if it is an alloc/alloca.
Value rootBuffer(Value v) {
  while (auto view = v.getDefiningOp<ViewLikeOpInterface>())
    v = view.getViewSource();
  if (v.getDefiningOp<memref::AllocOp>() || v.getDefiningOp<memref::AllocaOp>())
    return v;
  return {};
}

bool isZeroFill(linalg::FillOp fill) {
  std::optional<double> v = f32Constant(fill.getDpsInputOperand(0)->get());
  return v && *v == 0.0;
}

/// Proves that `op`'s sum-of-squares operand holds sum(x * x) over `x`: its
/// buffer is written only by a zero fill and then a sum-of-squares reduction
/// of `x`, both before `op` in its block; every other use reads it. Fills in
/// r.sumsq and r.dead; false if anything is unproven.
bool provenSumOfSquares(linalg::GenericOp op, RmsNormOperands &r) {
  Value root = rootBuffer(op.getDpsInputOperand(1)->get());
  if (!root)
    return false;
  linalg::FillOp fill;
  bool otherReaders = false;
  llvm::SetVector<Value> buffers;
  buffers.insert(root);
  for (unsigned i = 0; i < buffers.size(); ++i) {
    for (OpOperand &use : buffers[i].getUses()) {
      Operation *user = use.getOwner();
      if (user == op.getOperation() || isa<memref::DeallocOp>(user))
        continue;
      if (auto view = dyn_cast<ViewLikeOpInterface>(user)) {
        if (view.getViewSource() == buffers[i]) {
          buffers.insert(view->getResult(0));
          continue;
        }
      }
      auto dps = dyn_cast<DestinationStyleOpInterface>(user);
      bool writes = !dps || dps.isDpsInit(&use);
      if (!writes || (isa<memref::CopyOp>(user) && use.getOperandNumber() == 0) ||
          isa<memref::LoadOp>(user)) {
        otherReaders = true;
        continue;
      }
      if (user->getBlock() != op->getBlock() || !user->isBeforeInBlock(op))
        return false;
      auto f = dyn_cast<linalg::FillOp>(user);
      if (f && !fill && isZeroFill(f)) {
        fill = f;
        continue;
      }
      auto red = dyn_cast<linalg::GenericOp>(user);
      if (red && !r.sumsq && buddy::isSumOfSquares(red) &&
          red.getDpsInputOperand(0)->get() == r.x) {
        r.sumsq = red;
        continue;
      }
      return false; // another writer, or a use we cannot classify
    }
  }
  if (!fill || !r.sumsq || !fill->isBeforeInBlock(r.sumsq))
    return false;
  if (!otherReaders)
    r.dead = {fill, r.sumsq};
  return true;
}

/// The sum operand's map: the row's leading dims, as the reduction's result
/// (rank - 1 dims) or its keepdim view (a trailing 0 into a unit dim).
bool isRowBroadcast(AffineMap map, Value operand, int64_t rank) {
  auto ty = dyn_cast<MemRefType>(operand.getType());
  if (!ty || map.getNumDims() != unsigned(rank))
    return false;
  unsigned nres = map.getNumResults();
  if (nres != unsigned(rank - 1) && nres != unsigned(rank))
    return false;
  for (int64_t i = 0; i + 1 < rank; ++i)
    if (map.getResult(i) != getAffineDimExpr(i, map.getContext()))
      return false;
  if (nres == unsigned(rank)) {
    auto c = dyn_cast<AffineConstantExpr>(map.getResult(rank - 1));
    if (!c || c.getValue() != 0 || ty.getShape().back() != 1)
      return false;
  }
  return true;
}

std::optional<RmsNormOperands> match(linalg::GenericOp op) {
  std::optional<buddy::RmsNormBody> body = buddy::matchRmsNormBody(op);
  if (!body || !op.hasPureBufferSemantics())
    return std::nullopt;
  RmsNormOperands r;
  r.x = op.getDpsInputOperand(0)->get();
  r.y = op.getDpsInitOperand(0)->get();
  r.eps = float(body->eps);
  if (!isF32RowMemRef(r.x) || !isF32RowMemRef(r.y) ||
      r.x.getType() != r.y.getType())
    return std::nullopt;
  // n must be the row length: the kernel divides by the dimension it sweeps.
  std::optional<int64_t> len = staticRowLength(r.x);
  if (!len || body->n != double(*len))
    return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  int64_t rank = cast<MemRefType>(r.x.getType()).getRank();
  if (int64_t(op.getNumLoops()) != rank || !maps[0].isIdentity() ||
      !maps.back().isIdentity() ||
      !llvm::all_of(op.getIteratorTypesArray(), [](utils::IteratorType t) {
        return t == utils::IteratorType::parallel;
      }) ||
      !isRowBroadcast(maps[1], op.getDpsInputOperand(1)->get(), rank))
    return std::nullopt;
  if (body->weighted) {
    r.w = op.getDpsInputOperand(2)->get();
    auto last = AffineMap::get(rank, 0, getAffineDimExpr(rank - 1, op.getContext()));
    if (!isF32RowMemRef(r.w) || cast<MemRefType>(r.w.getType()).getRank() != 1 ||
        maps[2] != last)
      return std::nullopt;
  }
  if (!provenSumOfSquares(op, r))
    return std::nullopt;
  return r;
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

} // namespace

int64_t buddy::vectorizeRmsNorms(func::FuncOp f, int64_t vectorWidth,
                                 bool parallel) {
  SmallVector<std::pair<linalg::GenericOp, RmsNormOperands>> found;
  f.walk([&](linalg::GenericOp op) {
    if (std::optional<RmsNormOperands> m = match(op))
      found.push_back({op, std::move(*m)});
  });
  IRRewriter rewriter(f.getContext());
  for (auto &[op, operands] : found) {
    rewriter.setInsertionPoint(op);
    emitRmsNorm(rewriter, op.getLoc(), operands, vectorWidth, parallel);
    rewriter.eraseOp(op);
    for (Operation *d : llvm::reverse(operands.dead))
      rewriter.eraseOp(d);
  }
  return int64_t(found.size());
}

namespace {

struct RmsNormVectorizePass
    : buddy::impl::RmsNormVectorizeBase<RmsNormVectorizePass> {
  using RmsNormVectorizeBase::RmsNormVectorizeBase;

  void runOnOperation() override {
    if (vectorWidth < 1) {
      getOperation().emitError("buddy-rmsnorm-vectorize: vector-width must be "
                               ">= 1");
      return signalPassFailure();
    }
    buddy::vectorizeRmsNorms(getOperation(), vectorWidth, parallel);
  }
};

} // namespace
