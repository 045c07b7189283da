//===- KernelEmitter.h - small IR-building helpers for CPU kernels -*- C++ -*-===//
//
// Shared by the matmul/GEMV vectorization passes: index arithmetic, masks,
// scf.for builders and recognition of f32 matmul-like linalg ops on memrefs
// (plain or B-transposed; bf16 inputs on request).
//
//===----------------------------------------------------------------------===//
#ifndef BUDDY_MIDEND_KERNELEMITTER_H
#define BUDDY_MIDEND_KERNELEMITTER_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

#include <optional>

namespace buddy {
namespace kernel {

/// Index arithmetic bound to one builder/location.
struct IndexMath {
  mlir::OpBuilder &b;
  mlir::Location loc;

  mlir::Value c(int64_t v) const {
    return mlir::arith::ConstantIndexOp::create(b, loc, v);
  }
  mlir::Value add(mlir::Value x, mlir::Value y) const {
    return mlir::arith::AddIOp::create(b, loc, x, y);
  }
  mlir::Value add(mlir::Value x, int64_t y) const {
    return y == 0 ? x : add(x, c(y));
  }
  mlir::Value sub(mlir::Value x, mlir::Value y) const {
    return mlir::arith::SubIOp::create(b, loc, x, y);
  }
  mlir::Value mul(mlir::Value x, mlir::Value y) const {
    return mlir::arith::MulIOp::create(b, loc, x, y);
  }
  mlir::Value mul(mlir::Value x, int64_t y) const { return mul(x, c(y)); }
  mlir::Value min(mlir::Value x, mlir::Value y) const {
    return mlir::arith::MinSIOp::create(b, loc, x, y);
  }
  mlir::Value rem(mlir::Value x, int64_t y) const {
    return mlir::arith::RemSIOp::create(b, loc, x, c(y));
  }
  mlir::Value ceilDiv(mlir::Value x, int64_t y) const {
    return mlir::arith::CeilDivSIOp::create(b, loc, x, c(y));
  }
  /// x rounded down to a multiple of y (x >= 0).
  mlir::Value floorTo(mlir::Value x, int64_t y) const {
    return sub(x, rem(x, y));
  }
  mlir::Value dim(mlir::Value memref, int64_t d) const {
    return mlir::memref::DimOp::create(b, loc, memref, d);
  }
  /// vector<n x i1> with the first `count` lanes set (count is clamped).
  mlir::Value mask(int64_t n, mlir::Value count) const {
    auto ty = mlir::VectorType::get({n}, b.getI1Type());
    return mlir::vector::CreateMaskOp::create(b, loc, ty,
                                              mlir::ValueRange{count});
  }
};

/// A matmul-like op on f32 memrefs: C[b?, m, n] += A[b?, m, k] * B[b?, k, n]
/// (or B[b?, n, k] when `transposedB`).
struct MatmulOperands {
  mlir::Value a, b, c;
  bool batched = false;
  bool transposedB = false;
};

inline bool isF32UnitStrideMemRef(mlir::Value v, int64_t rank,
                                  bool allowBF16 = false) {
  auto ty = llvm::dyn_cast<mlir::MemRefType>(v.getType());
  if (!ty || ty.getRank() != rank ||
      !(ty.getElementType().isF32() ||
        (allowBF16 && ty.getElementType().isBF16())))
    return false;
  llvm::SmallVector<int64_t> strides;
  int64_t offset;
  if (mlir::failed(ty.getStridesAndOffset(strides, offset)))
    return false;
  return strides.back() == 1;
}

/// Recognizes linalg.matmul / linalg.batch_matmul on memrefs with the
/// standard maps or the B-transposed maps (as produced by
/// --buddy-fold-transpose-into-matmul). Returns std::nullopt otherwise.
/// With `allowBF16Inputs`, A and B may also be bf16 (C stays f32): the named
/// op then extends them to f32 before the multiply-add (the frontend's bf16
/// matmuls accumulate in f32 and truncate in a separate elementwise op).
inline std::optional<MatmulOperands>
matchMatmul(mlir::linalg::LinalgOp op, bool allowBF16Inputs = false) {
  bool batched;
  if (llvm::isa<mlir::linalg::MatmulOp>(op.getOperation()))
    batched = false;
  else if (llvm::isa<mlir::linalg::BatchMatmulOp>(op.getOperation()))
    batched = true;
  else
    return std::nullopt;
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1)
    return std::nullopt;
  mlir::MLIRContext *ctx = op->getContext();
  unsigned nd = batched ? 4 : 3;
  // Iteration dims: [b,] m, n, k.
  unsigned off = batched ? 1 : 0;
  auto d = [&](unsigned i) { return mlir::getAffineDimExpr(i, ctx); };
  auto map = [&](llvm::ArrayRef<mlir::AffineExpr> r) {
    llvm::SmallVector<mlir::AffineExpr> res;
    if (batched)
      res.push_back(d(0));
    res.append(r.begin(), r.end());
    return mlir::AffineMap::get(nd, 0, res, ctx);
  };
  mlir::AffineExpr m = d(off), n = d(off + 1), k = d(off + 2);
  llvm::SmallVector<mlir::AffineMap> maps = op.getIndexingMapsArray();
  if (maps.size() != 3 || maps[0] != map({m, k}) || maps[2] != map({m, n}))
    return std::nullopt;
  MatmulOperands r;
  r.batched = batched;
  if (maps[1] == map({k, n}))
    r.transposedB = false;
  else if (maps[1] == map({n, k}))
    r.transposedB = true;
  else
    return std::nullopt;
  r.a = op.getDpsInputOperand(0)->get();
  r.b = op.getDpsInputOperand(1)->get();
  r.c = op.getDpsInitOperand(0)->get();
  int64_t rank = batched ? 3 : 2;
  if (!isF32UnitStrideMemRef(r.a, rank, allowBF16Inputs) ||
      !isF32UnitStrideMemRef(r.b, rank, allowBF16Inputs) ||
      !isF32UnitStrideMemRef(r.c, rank))
    return std::nullopt;
  // Named matmuls with f32 (or, when allowed, bf16) inputs and an f32 output
  // compute C += f32(A) * f32(B).
  return r;
}

/// Indices with an optional leading batch index.
inline llvm::SmallVector<mlir::Value> idx(mlir::Value batch, mlir::Value i,
                                          mlir::Value j) {
  llvm::SmallVector<mlir::Value> r;
  if (batch)
    r.push_back(batch);
  r.push_back(i);
  r.push_back(j);
  return r;
}

/// scf.for lb..ub step `step`; body(iv) builds its body (insertion point
/// restored after).
inline void forLoop(mlir::OpBuilder &b, mlir::Location loc, mlir::Value lb,
                    mlir::Value ub, mlir::Value step,
                    llvm::function_ref<void(mlir::Value)> body) {
  auto f = mlir::scf::ForOp::create(b, loc, lb, ub, step);
  mlir::OpBuilder::InsertionGuard g(b);
  b.setInsertionPoint(f.getBody()->getTerminator());
  body(f.getInductionVar());
}

/// scf.for carrying `init`: body(iv, iter) returns the next values; returns
/// the loop's results.
inline llvm::SmallVector<mlir::Value>
forLoopIter(mlir::OpBuilder &b, mlir::Location loc, mlir::Value lb,
            mlir::Value ub, mlir::Value step, mlir::ValueRange init,
            llvm::function_ref<llvm::SmallVector<mlir::Value>(mlir::Value,
                                                              mlir::ValueRange)>
                body) {
  auto f = mlir::scf::ForOp::create(
      b, loc, lb, ub, step, init,
      [&](mlir::OpBuilder &inner, mlir::Location, mlir::Value iv,
          mlir::ValueRange iter) {
        mlir::OpBuilder::InsertionGuard g(b);
        b.setInsertionPoint(inner.getInsertionBlock(), inner.getInsertionPoint());
        mlir::scf::YieldOp::create(b, loc, body(iv, iter));
      });
  return llvm::SmallVector<mlir::Value>(f.getResults());
}

/// The reassociation of memref.collapse_shape that keeps the first
/// `rank - k` dims and merges the last `k` into one.
inline llvm::SmallVector<mlir::ReassociationIndices>
collapseTrailing(int64_t rank, int64_t k) {
  llvm::SmallVector<mlir::ReassociationIndices> re;
  for (int64_t i = 0; i < rank - k; ++i)
    re.push_back({i});
  mlir::ReassociationIndices last;
  for (int64_t i = rank - k; i < rank; ++i)
    last.push_back(i);
  re.push_back(last);
  return re;
}

} // namespace kernel
} // namespace buddy

#endif // BUDDY_MIDEND_KERNELEMITTER_H
