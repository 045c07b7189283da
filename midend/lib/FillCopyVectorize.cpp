//===- FillCopyVectorize.cpp - vector rows for linalg.fill / linalg.copy --===//
//
// Rewrites linalg.fill and linalg.copy on statically shaped memrefs with a
// unit inner stride (e.g. the frontend's zero-padded conv input: a fill of
// the padded buffer, then a copy into its interior subview) into row loops
// of vector.store / vector.load (see Passes.td):
//
//   (trailing dims contiguous in every operand collapsed into one row)
//   scf.parallel (outer dims) | (row chunks when there is one row)
//     scf.for j step unroll * vw:  unroll x (load) store vector<vw>
//     remaining full vectors, then one masked tail (vector.maskedstore)
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"
#include "buddy/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace buddy {
#define GEN_PASS_DEF_FILLCOPYVECTORIZE
#include "buddy/Passes.h.inc"
} // namespace buddy

using namespace mlir;

namespace {

constexpr int64_t kUnroll = 4;
/// Elements per parallel task when the whole operand is one row.
constexpr int64_t kChunkVectors = 256;

/// Static shape and strides of `v` if it is a memref with both static and a
/// unit inner stride (the offset may be dynamic).
std::optional<std::pair<SmallVector<int64_t>, SmallVector<int64_t>>>
rowLayout(Value v) {
  auto t = dyn_cast<MemRefType>(v.getType());
  if (!t || !t.hasStaticShape() || t.getRank() == 0)
    return std::nullopt;
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(t.getStridesAndOffset(strides, offset)))
    return std::nullopt;
  if (strides.back() != 1 || llvm::any_of(strides, ShapedType::isDynamic))
    return std::nullopt;
  return std::make_pair(SmallVector<int64_t>(t.getShape()), strides);
}

/// Number of trailing dimensions that are contiguous in every operand.
int64_t contiguousTail(ArrayRef<std::pair<SmallVector<int64_t>,
                                          SmallVector<int64_t>>> ls) {
  int64_t rank = ls.front().first.size();
  int64_t k = 1;
  for (; k < rank; ++k) {
    int64_t i = rank - 1 - k; // dim i joins dims i+1.. if contiguous
    bool ok = llvm::all_of(ls, [&](const auto &l) {
      return l.second[i] == l.second[i + 1] * l.first[i + 1];
    });
    if (!ok)
      break;
  }
  return k;
}

class RowEmitter {
public:
  RowEmitter(OpBuilder &b, Location loc, int64_t lanes, bool parallel,
             int64_t minParallel)
      : b(b), loc(loc), lanes(lanes), parallel(parallel),
        minParallel(minParallel) {}

  /// Writes every element of `dst` from `src` (a copy) or `value` (a fill).
  void emit(Value dst, Value src, Value value, int64_t tail) {
    auto dt = cast<MemRefType>(dst.getType());
    int64_t rank = dt.getRank();
    // Collapse the contiguous trailing dims into one row.
    if (tail > 1) {
      auto re = buddy::kernel::collapseTrailing(rank, tail);
      dst = memref::CollapseShapeOp::create(b, loc, dst, re);
      if (src)
        src = memref::CollapseShapeOp::create(b, loc, src, re);
    }
    this->dst = dst;
    this->src = src;
    vecTy = VectorType::get({lanes}, dt.getElementType());
    if (value)
      splat = vector::BroadcastOp::create(b, loc, vecTy, value);
    if (src)
      pad = arith::ConstantOp::create(
          b, loc, vecTy, b.getZeroAttr(vecTy));
    auto shape = cast<MemRefType>(dst.getType()).getShape();
    int64_t total = dt.getNumElements();
    int64_t len = shape.back();
    SmallVector<int64_t> outer(shape.begin(), shape.end() - 1);
    bool par = parallel && total >= minParallel;
    int64_t full = (len / lanes) * lanes;
    int64_t unrolled = (full / (kUnroll * lanes)) * (kUnroll * lanes);
    if (outer.empty() && par && unrolled > kChunkVectors * lanes) {
      // One long row: parallel over chunks of it, then the rest.
      int64_t chunk = kChunkVectors * lanes;
      int64_t chunks = llvm::divideCeil(unrolled, chunk);
      auto p = scf::ParallelOp::create(b, loc, ValueRange{c(0)},
                                       ValueRange{c(chunks)}, ValueRange{c(1)});
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPoint(p.getBody()->getTerminator());
      Value lo = arith::MulIOp::create(b, loc, p.getInductionVars()[0],
                                       c(chunk));
      Value hi = arith::MinSIOp::create(
          b, loc, arith::AddIOp::create(b, loc, lo, c(chunk)), c(unrolled));
      unrolledLoop({}, lo, hi);
      b.setInsertionPointAfter(p);
      rest({}, unrolled, full, len);
      return;
    }
    auto body = [&](ValueRange ivs) {
      if (unrolled > 0)
        unrolledLoop(ivs, c(0), c(unrolled));
      rest(ivs, unrolled, full, len);
    };
    if (outer.empty())
      return body({});
    SmallVector<Value> lb, ub, st;
    for (int64_t u : outer) {
      lb.push_back(c(0));
      ub.push_back(c(u));
      st.push_back(c(1));
    }
    OpBuilder::InsertionGuard g(b);
    if (par) {
      auto p = scf::ParallelOp::create(b, loc, lb, ub, st);
      b.setInsertionPoint(p.getBody()->getTerminator());
      body(p.getInductionVars());
      return;
    }
    scf::LoopNest nest = scf::buildLoopNest(b, loc, lb, ub, st);
    b.setInsertionPoint(nest.loops.back().getBody()->getTerminator());
    SmallVector<Value> ivs;
    for (scf::ForOp l : nest.loops)
      ivs.push_back(l.getInductionVar());
    body(ivs);
  }

private:
  OpBuilder &b;
  Location loc;
  int64_t lanes;
  bool parallel;
  int64_t minParallel;
  Value dst, src, splat, pad;
  VectorType vecTy;

  Value c(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }

  SmallVector<Value> at(ValueRange ivs, Value j) {
    SmallVector<Value> r(ivs.begin(), ivs.end());
    r.push_back(j);
    return r;
  }

  /// One vector at column `j` (`count` lanes).
  void move(ValueRange ivs, Value j, int64_t count) {
    SmallVector<Value> idx = at(ivs, j);
    if (count == lanes) {
      Value v = src ? vector::LoadOp::create(b, loc, vecTy, src, idx)
                    : splat;
      vector::StoreOp::create(b, loc, v, dst, idx);
      return;
    }
    Value mask = vector::ConstantMaskOp::create(
        b, loc, VectorType::get({lanes}, b.getI1Type()),
        ArrayRef<int64_t>{count});
    Value v = src ? vector::MaskedLoadOp::create(b, loc, vecTy, src, idx, mask,
                                                 pad)
                  : splat;
    vector::MaskedStoreOp::create(b, loc, dst, idx, mask, v);
  }

  void unrolledLoop(ValueRange ivs, Value lo, Value hi) {
    auto f = scf::ForOp::create(b, loc, lo, hi, c(kUnroll * lanes));
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(f.getBody()->getTerminator());
    SmallVector<Value> outer(ivs.begin(), ivs.end());
    Value j = f.getInductionVar();
    for (int64_t u = 0; u < kUnroll; ++u)
      move(outer, u ? arith::AddIOp::create(b, loc, j, c(u * lanes)) : j,
           lanes);
  }

  /// Full vectors from `from` to `full`, then the masked tail up to `len`.
  void rest(ValueRange ivs, int64_t from, int64_t full, int64_t len) {
    for (int64_t j = from; j < full; j += lanes)
      move(ivs, c(j), lanes);
    if (full < len)
      move(ivs, c(full), len - full);
  }
};

struct FillCopyVectorizePass
    : buddy::impl::FillCopyVectorizeBase<FillCopyVectorizePass> {
  using FillCopyVectorizeBase::FillCopyVectorizeBase;

  void runOnOperation() override {
    if (vectorWidth <= 0 || minParallel < 0) {
      getOperation().emitError()
          << "buddy-fill-copy-vectorize: vector-width must be positive";
      return signalPassFailure();
    }
    SmallVector<Operation *> work;
    getOperation().walk([&](Operation *op) {
      if (isa<linalg::FillOp, linalg::CopyOp>(op) &&
          cast<linalg::LinalgOp>(op).hasPureBufferSemantics())
        work.push_back(op);
    });
    for (Operation *op : work)
      if (rewrite(op))
        op->erase();
  }

  /// Emits the row loops for `op`; false (op kept) if it does not qualify.
  bool rewrite(Operation *op) {
    Value dst, src, value;
    if (auto f = dyn_cast<linalg::FillOp>(op)) {
      dst = f.getOutputs()[0];
      value = f.getInputs()[0];
    } else {
      auto c = cast<linalg::CopyOp>(op);
      dst = c.getOutputs()[0];
      src = c.getInputs()[0];
    }
    auto dt = dyn_cast<MemRefType>(dst.getType());
    if (!dt)
      return false;
    Type elt = dt.getElementType();
    if (!elt.isIntOrFloat() || elt.getIntOrFloatBitWidth() % 8 != 0 ||
        elt.getIntOrFloatBitWidth() > 32 ||
        (value && value.getType() != elt))
      return false;
    SmallVector<std::pair<SmallVector<int64_t>, SmallVector<int64_t>>> ls;
    for (Value v : {dst, src}) {
      if (!v)
        continue;
      auto l = rowLayout(v);
      if (!l)
        return false;
      ls.push_back(*l);
    }
    if (src && (ls[0].first != ls[1].first ||
                cast<MemRefType>(src.getType()).getElementType() != elt))
      return false;
    // Lanes: the target's vector width in bytes (vector-width f32 lanes).
    int64_t lanes = vectorWidth * 32 / elt.getIntOrFloatBitWidth();
    OpBuilder b(op);
    RowEmitter(b, op->getLoc(), lanes, parallel, minParallel)
        .emit(dst, src, value, contiguousTail(ls));
    return true;
  }
};

} // namespace
