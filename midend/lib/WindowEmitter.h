//===- WindowEmitter.h - IR helpers for sliding-window kernels -*- C++ -*-===//
//
// Shared by the convolution and pooling vectorization passes: static
// f32 memref checks, stride/dilation attributes, loops carrying vector
// accumulators, static tail splits, and loads of `count` elements of a row
// read with a stride (1: contiguous, 2: two loads + even-lane shuffle,
// otherwise vector.gather).
//
//===----------------------------------------------------------------------===//
#ifndef BUDDY_MIDEND_WINDOWEMITTER_H
#define BUDDY_MIDEND_WINDOWEMITTER_H

#include "KernelEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"

#include <array>
#include <optional>

namespace buddy {
namespace window {

/// A statically shaped f32 memref of `rank` whose innermost stride is 1.
inline bool isStaticF32(mlir::Value v, int64_t rank) {
  auto ty = llvm::dyn_cast<mlir::MemRefType>(v.getType());
  return ty && ty.hasStaticShape() &&
         buddy::kernel::isF32UnitStrideMemRef(v, rank);
}

inline llvm::ArrayRef<int64_t> shapeOf(mlir::Value v) {
  return llvm::cast<mlir::MemRefType>(v.getType()).getShape();
}

/// The two values of a 2-D strides/dilations attribute (absent: 1, 1).
inline std::optional<std::array<int64_t, 2>>
pair(mlir::DenseIntElementsAttr attr) {
  if (!attr)
    return std::array<int64_t, 2>{1, 1};
  if (attr.getNumElements() != 2)
    return std::nullopt;
  auto it = attr.getValues<int64_t>();
  std::array<int64_t, 2> r{it[0], it[1]};
  if (r[0] < 1 || r[1] < 1)
    return std::nullopt;
  return r;
}

/// What 2-D convolutions and poolings share: input, window (filter or
/// window-shape operand) and output buffers, strides and dilations.
struct WindowOperands {
  mlir::Value x, window, o;
  int64_t sh = 1, sw = 1, dh = 1, dw = 1;
};

/// The operands of a named conv/pooling op on buffers (two inputs, one init)
/// with static 2-D `strides` and `dilations`; std::nullopt otherwise.
inline std::optional<WindowOperands>
windowOperands(mlir::linalg::LinalgOp op, mlir::DenseIntElementsAttr strides,
               mlir::DenseIntElementsAttr dilations) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1)
    return std::nullopt;
  auto s = pair(strides), d = pair(dilations);
  if (!s || !d)
    return std::nullopt;
  WindowOperands w;
  w.sh = (*s)[0];
  w.sw = (*s)[1];
  w.dh = (*d)[0];
  w.dw = (*d)[1];
  w.x = op.getDpsInputOperand(0)->get();
  w.window = op.getDpsInputOperand(1)->get();
  w.o = op.getDpsInitOperand(0)->get();
  return w;
}

/// Builds IR at the builder's insertion point.
struct Emitter {
  mlir::OpBuilder &b;
  mlir::Location loc;
  int64_t vw;
  buddy::kernel::IndexMath im{b, loc};

  mlir::VectorType vecTy() const {
    return mlir::VectorType::get({vw}, b.getF32Type());
  }
  mlir::Value splat(float v) {
    return mlir::arith::ConstantOp::create(
        b, loc, vecTy(), mlir::DenseElementsAttr::get(vecTy(), v));
  }
  mlir::Value constMask(int64_t count) {
    auto ty = mlir::VectorType::get({vw}, b.getI1Type());
    return mlir::vector::ConstantMaskOp::create(b, loc, ty,
                                                llvm::ArrayRef<int64_t>{count});
  }

  /// scf.for lb..ub (static) carrying `init`; `body` returns the next values.
  llvm::SmallVector<mlir::Value> forIter(
      int64_t lb, int64_t ub, int64_t step, mlir::ValueRange init,
      llvm::function_ref<llvm::SmallVector<mlir::Value>(mlir::Value,
                                                        mlir::ValueRange)>
          body) {
    return forIter(im.c(lb), im.c(ub), step, init, body);
  }
  llvm::SmallVector<mlir::Value> forIter(
      mlir::Value lb, mlir::Value ub, int64_t step, mlir::ValueRange init,
      llvm::function_ref<llvm::SmallVector<mlir::Value>(mlir::Value,
                                                        mlir::ValueRange)>
          body) {
    auto f = mlir::scf::ForOp::create(b, loc, lb, ub, im.c(step), init);
    mlir::OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(f.getBody());
    llvm::SmallVector<mlir::Value> next =
        body(f.getInductionVar(), f.getRegionIterArgs());
    mlir::scf::YieldOp::create(b, loc, next);
    return llvm::SmallVector<mlir::Value>(f.getResults());
  }

  /// scf.for lb..ub (static) without carried values.
  void forLoop(int64_t lb, int64_t ub, int64_t step,
               llvm::function_ref<void(mlir::Value)> body) {
    if (lb >= ub)
      return;
    auto f = mlir::scf::ForOp::create(b, loc, im.c(lb), im.c(ub), im.c(step));
    mlir::OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(f.getBody()->getTerminator());
    body(f.getInductionVar());
  }

  /// `blocks` blocks of `full` items indexed by `iv`, the last one holding
  /// only `rem` (0: all full): calls fn(full) or fn(rem) under an scf.if.
  void staticSplit(mlir::Value iv, int64_t blocks, int64_t full, int64_t rem,
                   llvm::function_ref<void(int64_t)> fn) {
    if (rem == 0) {
      fn(full);
      return;
    }
    if (blocks == 1) {
      fn(rem);
      return;
    }
    mlir::Value isLast = mlir::arith::CmpIOp::create(
        b, loc, mlir::arith::CmpIPredicate::eq, iv, im.c(blocks - 1));
    auto ifOp = mlir::scf::IfOp::create(b, loc, isLast, /*withElse=*/true);
    mlir::OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    fn(rem);
    b.setInsertionPoint(ifOp.elseBlock()->getTerminator());
    fn(full);
  }

  /// Lanes i < count hold mem[idx..., w + i * stride]; the other lanes are
  /// unspecified (`pad` or neighbouring elements). Never reads beyond
  /// w + (count - 1) * stride.
  mlir::Value loadRow(mlir::Value mem, llvm::ArrayRef<mlir::Value> idx,
                      mlir::Value w, int64_t stride, int64_t count,
                      mlir::Value pad) {
    llvm::SmallVector<mlir::Value> at(idx.begin(), idx.end());
    at.push_back(w);
    if (stride == 1) {
      if (count == vw)
        return mlir::vector::LoadOp::create(b, loc, vecTy(), mem, at);
      return mlir::vector::MaskedLoadOp::create(b, loc, vecTy(), mem, at,
                                                constMask(count), pad);
    }
    if (stride == 2) {
      // Elements w .. w + 2 * (count - 1): two contiguous (masked) loads,
      // then the even lanes of their concatenation.
      int64_t span = 2 * (count - 1) + 1;
      mlir::Value lo =
          span >= vw
              ? (mlir::Value)mlir::vector::LoadOp::create(b, loc, vecTy(), mem,
                                                          at)
              : (mlir::Value)mlir::vector::MaskedLoadOp::create(
                    b, loc, vecTy(), mem, at, constMask(span), pad);
      mlir::Value hi = pad;
      if (span > vw) {
        at.back() = im.add(w, vw);
        hi = mlir::vector::MaskedLoadOp::create(b, loc, vecTy(), mem, at,
                                                constMask(span - vw), pad);
      }
      llvm::SmallVector<int64_t> even;
      for (int64_t i = 0; i < vw; ++i)
        even.push_back(2 * i);
      return mlir::vector::ShuffleOp::create(b, loc, lo, hi, even);
    }
    llvm::SmallVector<int32_t> offs;
    for (int64_t i = 0; i < vw; ++i)
      offs.push_back(static_cast<int32_t>(i * stride));
    auto offTy = mlir::VectorType::get({vw}, b.getI32Type());
    mlir::Value offVec = mlir::arith::ConstantOp::create(
        b, loc, offTy, mlir::DenseElementsAttr::get(offTy, llvm::ArrayRef(offs)));
    return mlir::vector::GatherOp::create(b, loc, vecTy(), mem, at, offVec,
                                          constMask(count), pad);
  }

  /// Lanes i < count of `v` stored to mem[idx..., w + i].
  void storeRow(mlir::Value v, mlir::Value mem, llvm::ArrayRef<mlir::Value> idx,
                mlir::Value w, int64_t count) {
    llvm::SmallVector<mlir::Value> at(idx.begin(), idx.end());
    at.push_back(w);
    if (count == vw)
      mlir::vector::StoreOp::create(b, loc, v, mem, at);
    else
      mlir::vector::MaskedStoreOp::create(b, loc, mem, at, constMask(count), v);
  }
};

/// Splits `n` elements into vector lane counts: full vectors, then one partial.
inline llvm::SmallVector<int64_t> laneCounts(int64_t n, int64_t vw) {
  llvm::SmallVector<int64_t> r(n / vw, vw);
  if (n % vw)
    r.push_back(n % vw);
  return r;
}

} // namespace window
} // namespace buddy

#endif // BUDDY_MIDEND_WINDOWEMITTER_H
