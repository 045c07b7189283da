//===- RowKernel.h - loops for row-wise (last-dimension) vector kernels -*- C++ -*-===//
//
// Shared by the softmax and RMSNorm kernels: a loop nest over the rows of a
// memref (every dimension but the last; scf.parallel or scf.for) and a loop
// over one row in vectors of `vw` f32 lanes with a masked tail.
//
//===----------------------------------------------------------------------===//
#ifndef BUDDY_MIDEND_ROWKERNEL_H
#define BUDDY_MIDEND_ROWKERNEL_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

#include <optional>

namespace buddy {
namespace rowkernel {

using BodyFn =
    llvm::function_ref<void(mlir::OpBuilder &, mlir::Location, mlir::ValueRange)>;

/// f32 memref of rank >= 1 whose last dimension has stride 1.
inline bool isF32RowMemRef(mlir::Value v) {
  auto ty = llvm::dyn_cast<mlir::MemRefType>(v.getType());
  if (!ty || ty.getRank() < 1 || !ty.getElementType().isF32())
    return false;
  llvm::SmallVector<int64_t> strides;
  int64_t offset;
  if (mlir::failed(ty.getStridesAndOffset(strides, offset)))
    return false;
  return strides.back() == 1;
}

/// Below this many elements (static shapes), rows stay sequential even when
/// `parallel` is asked for: an OpenMP fork/join costs more than the work
/// (e.g. one decode row of RMSNorm, 9 softmax rows of one query).
constexpr int64_t kMinParallelElements = 16384;

/// Calls `body(b, loc, rowIvs)` once per row of `memref` (all dimensions but
/// the last), inside an scf.parallel (`parallel`, unless the static shape is
/// smaller than kMinParallelElements) or an scf.for nest.
inline void forEachRow(mlir::OpBuilder &b, mlir::Location loc,
                       mlir::Value memref, bool parallel, BodyFn body) {
  auto ty = llvm::cast<mlir::MemRefType>(memref.getType());
  int64_t rank = ty.getRank();
  if (ty.hasStaticShape() && ty.getNumElements() < kMinParallelElements)
    parallel = false;
  if (rank == 1) {
    body(b, loc, mlir::ValueRange{});
    return;
  }
  llvm::SmallVector<mlir::Value> lbs, ubs, steps;
  mlir::Value zero = mlir::arith::ConstantIndexOp::create(b, loc, 0);
  mlir::Value one = mlir::arith::ConstantIndexOp::create(b, loc, 1);
  for (int64_t d = 0; d + 1 < rank; ++d) {
    lbs.push_back(zero);
    steps.push_back(one);
    ubs.push_back(mlir::memref::DimOp::create(b, loc, memref, d));
  }
  if (parallel)
    mlir::scf::ParallelOp::create(b, loc, lbs, ubs, steps, body);
  else
    mlir::scf::buildLoopNest(b, loc, lbs, ubs, steps, body);
}

/// One vector step over a row: `j` is the first column, `mask` is null for a
/// full vector or the lane mask of the tail; returns the new loop-carried
/// values.
using ChunkFn = llvm::function_ref<llvm::SmallVector<mlir::Value>(
    mlir::OpBuilder &, mlir::Location, mlir::Value j, mlir::Value mask,
    mlir::ValueRange carried)>;

/// Walks columns [0, n) of a row in vectors of `vw` lanes: full vectors in an
/// scf.for, then one masked step for the remainder (omitted when n is a
/// static multiple of vw). Returns the final loop-carried values.
inline llvm::SmallVector<mlir::Value>
forEachChunk(mlir::OpBuilder &b, mlir::Location loc, mlir::Value n,
             std::optional<int64_t> staticN, int64_t vw,
             mlir::ValueRange init, ChunkFn step) {
  auto c = [&](int64_t v) -> mlir::Value {
    return mlir::arith::ConstantIndexOp::create(b, loc, v);
  };
  mlir::Value full = mlir::arith::SubIOp::create(
      b, loc, n, mlir::arith::RemSIOp::create(b, loc, n, c(vw)));
  auto loop = mlir::scf::ForOp::create(
      b, loc, c(0), full, c(vw), init,
      [&](mlir::OpBuilder &nb, mlir::Location l, mlir::Value j,
          mlir::ValueRange args) {
        llvm::SmallVector<mlir::Value> next = step(nb, l, j, nullptr, args);
        mlir::scf::YieldOp::create(nb, l, next);
      });
  llvm::SmallVector<mlir::Value> res(loop.getResults());
  if (staticN && *staticN % vw == 0)
    return res;
  mlir::Value rest = mlir::arith::SubIOp::create(b, loc, n, full);
  auto maskTy = mlir::VectorType::get({vw}, b.getI1Type());
  mlir::Value mask =
      mlir::vector::CreateMaskOp::create(b, loc, maskTy, mlir::ValueRange{rest});
  return step(b, loc, full, mask, res);
}

/// Row indices followed by the column.
inline llvm::SmallVector<mlir::Value> at(mlir::ValueRange row, mlir::Value j) {
  llvm::SmallVector<mlir::Value> r(row.begin(), row.end());
  r.push_back(j);
  return r;
}

inline mlir::Value splat(mlir::OpBuilder &b, mlir::Location loc,
                         mlir::VectorType ty, mlir::Value scalar) {
  return mlir::vector::BroadcastOp::create(b, loc, ty, scalar);
}

inline mlir::Value f32Const(mlir::OpBuilder &b, mlir::Location loc,
                            const llvm::APFloat &v) {
  return mlir::arith::ConstantOp::create(b, loc,
                                         b.getFloatAttr(b.getF32Type(), v));
}

inline mlir::Value f32Const(mlir::OpBuilder &b, mlir::Location loc, float v) {
  return f32Const(b, loc, llvm::APFloat(v));
}

/// vector.load, or vector.maskedload with `pad` in the masked-off lanes.
inline mlir::Value load(mlir::OpBuilder &b, mlir::Location loc,
                        mlir::VectorType ty, mlir::Value memref,
                        mlir::ValueRange idx, mlir::Value mask,
                        mlir::Value pad) {
  if (!mask)
    return mlir::vector::LoadOp::create(b, loc, ty, memref, idx);
  return mlir::vector::MaskedLoadOp::create(b, loc, ty, memref, idx, mask,
                                            splat(b, loc, ty, pad));
}

/// vector.store, or vector.maskedstore of the lanes in `mask`.
inline void store(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v,
                  mlir::Value memref, mlir::ValueRange idx, mlir::Value mask) {
  if (!mask)
    mlir::vector::StoreOp::create(b, loc, v, memref, idx);
  else
    mlir::vector::MaskedStoreOp::create(b, loc, memref, idx, mask, v);
}

/// Static size of the last dimension, if known.
inline std::optional<int64_t> staticRowLength(mlir::Value memref) {
  int64_t n = llvm::cast<mlir::MemRefType>(memref.getType()).getShape().back();
  if (mlir::ShapedType::isDynamic(n))
    return std::nullopt;
  return n;
}

} // namespace rowkernel
} // namespace buddy

#endif // BUDDY_MIDEND_ROWKERNEL_H
