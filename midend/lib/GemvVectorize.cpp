//===- GemvVectorize.cpp - weight-streaming f32 GEMV for small M ----------===//
//
// Rewrites f32 linalg.matmul on memrefs with a small static M (LLM decode:
// M = 1) into a kernel that reads every weight element exactly once. A and B
// may be bf16 (C is f32): their vectors are loaded as bf16, extended to f32
// and accumulated in f32 (a bf16 result is one truncf after the kernel, in the
// frontend's elementwise op).
//
//  B as (n, k) (nn.Linear):   scf.parallel over N chunks
//    scf.for n step R: acc[m][r] = 0; scf.for k step vw:
//        acc[m][r] = fma(A[m, k:k+vw], B[n+r, k:k+vw], acc[m][r])
//      masked K tail; C[m, n+r] += reduce_add(acc[m][r])
//  B as (k, n):               scf.parallel over one N range per thread
//    scf.for k step cols: scf.for n step vw:
//      C[m, n:n+vw] += sum_u bcast(A[m, k+u]) * B[k+u, n:n+vw]   (masked)
//
// See Passes.td.
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"
#include "buddy/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace buddy {
#define GEN_PASS_DEF_GEMVVECTORIZE
#include "buddy/Passes.h.inc"
} // namespace buddy

using namespace mlir;
using namespace buddy::kernel;

namespace {

struct GemvConfig {
  int64_t vw, rows, cols, chunk, threads;
};

class GemvEmitter {
public:
  GemvEmitter(OpBuilder &b, Location loc, const MatmulOperands &ops,
              int64_t m, const GemvConfig &cfg)
      : b(b), loc(loc), ops(ops), m(m), cfg(cfg), im{b, loc} {}

  void emit() {
    Value N = im.dim(ops.c, ops.batched ? 2 : 1);
    int64_t chunk = cfg.chunk;
    int64_t nStatic =
        cast<MemRefType>(ops.c.getType()).getShape()[ops.batched ? 2 : 1];
    if (!ops.transposedB && !ShapedType::isDynamic(nStatic))
      // One contiguous column range per thread: every weight row is read as
      // `threads` long contiguous pieces.
      chunk = llvm::divideCeil(
                  llvm::divideCeil(nStatic, std::max<int64_t>(cfg.threads, 1)),
                  cfg.vw) * cfg.vw;
    else if (!ops.transposedB)
      chunk = llvm::divideCeil(cfg.chunk, cfg.vw) * cfg.vw;
    // Batched (decode attention: one batch per KV head): the tasks are
    // (batch, N chunk) pairs, each on the batch's 2-D slices.
    SmallVector<Value> lbs{im.c(0)}, ubs{im.ceilDiv(N, chunk)}, steps{im.c(1)};
    if (ops.batched) {
      lbs.push_back(im.c(0));
      ubs.insert(ubs.begin(), im.dim(ops.c, 0));
      steps.push_back(im.c(1));
    }
    auto par = scf::ParallelOp::create(b, loc, lbs, ubs, steps);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(par.getBody()->getTerminator());
    ValueRange ivs = par.getInductionVars();
    Value n0 = im.mul(ivs.back(), chunk);
    Value n1 = im.min(im.add(n0, chunk), N);
    MatmulOperands slice = ops;
    if (ops.batched) {
      slice.a = batchSlice(ops.a, ivs[0]);
      slice.b = batchSlice(ops.b, ivs[0]);
      slice.c = batchSlice(ops.c, ivs[0]);
      slice.batched = false;
    }
    GemvEmitter inner(b, loc, slice, m, cfg);
    Value K = inner.im.dim(slice.a, 1);
    if (ops.transposedB)
      inner.emitRowsOfB(n0, n1, K);
    else
      inner.emitColsOfB(n0, n1, K);
  }

private:
  OpBuilder &b;
  Location loc;
  const MatmulOperands &ops;
  int64_t m;
  const GemvConfig &cfg;
  IndexMath im;

  /// The rank-reduced 2-D slice memref[batch, :, :].
  Value batchSlice(Value memref, Value batch) {
    auto ty = cast<MemRefType>(memref.getType());
    SmallVector<OpFoldResult> offsets{batch, b.getIndexAttr(0), b.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes{b.getIndexAttr(1)}, strides(3, b.getIndexAttr(1));
    for (int64_t d = 1; d < 3; ++d)
      sizes.push_back(ty.isDynamicDim(d) ? OpFoldResult(im.dim(memref, d))
                                         : OpFoldResult(b.getIndexAttr(ty.getDimSize(d))));
    auto sliceTy = memref::SubViewOp::inferRankReducedResultType(
        ty.getShape().drop_front(), ty, offsets, sizes, strides);
    return memref::SubViewOp::create(b, loc, cast<MemRefType>(sliceTy), memref,
                                     offsets, sizes, strides);
  }

  VectorType vecTy() const { return VectorType::get({cfg.vw}, b.getF32Type()); }
  Value zeroVec() {
    return arith::ConstantOp::create(b, loc, vecTy(),
                                     DenseElementsAttr::get(vecTy(), 0.0f));
  }

  static Type elemTy(Value memref) {
    return cast<MemRefType>(memref.getType()).getElementType();
  }

  /// f32 vector of `vw` elements of `memref` at `idx` (masked lanes are 0):
  /// a bf16 operand is loaded as bf16 and extended.
  Value loadF32(Value memref, ValueRange idx, Value mask) {
    Type et = elemTy(memref);
    if (et.isF32())
      return mask ? (Value)vector::MaskedLoadOp::create(b, loc, vecTy(), memref,
                                                        idx, mask, zeroVec())
                  : (Value)vector::LoadOp::create(b, loc, vecTy(), memref, idx);
    auto ty = VectorType::get({cfg.vw}, et);
    Value v;
    if (mask) {
      Value pad = arith::ConstantOp::create(
          b, loc, ty, DenseElementsAttr::get(ty, b.getFloatAttr(et, 0.0)));
      v = vector::MaskedLoadOp::create(b, loc, ty, memref, idx, mask, pad);
    } else {
      v = vector::LoadOp::create(b, loc, ty, memref, idx);
    }
    return arith::ExtFOp::create(b, loc, vecTy(), v);
  }

  /// memref[idx] as an f32 scalar.
  Value loadScalarF32(Value memref, ValueRange idx) {
    Value s = memref::LoadOp::create(b, loc, memref, idx);
    return elemTy(memref).isF32()
               ? s
               : (Value)arith::ExtFOp::create(b, loc, b.getF32Type(), s);
  }

  void forLoop(Value lb, Value ub, Value step,
               llvm::function_ref<void(Value)> body) {
    buddy::kernel::forLoop(b, loc, lb, ub, step, body);
  }

  /// for (ub - lb) / step iterations carrying `init`, body returns next.
  SmallVector<Value>
  forLoopIter(Value lb, Value ub, Value step, ValueRange init,
              llvm::function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    return buddy::kernel::forLoopIter(b, loc, lb, ub, step, init, body);
  }

  /// C[m, n] += sum_k A[m, k] * B[n, k] for n in [n0, n1).
  void emitRowsOfB(Value n0, Value n1, Value K) {
    int64_t r = std::max<int64_t>(1, cfg.rows / m);
    Value nFull = im.add(n0, im.floorTo(im.sub(n1, n0), r));
    forLoop(n0, nFull, im.c(r), [&](Value n) { emitDotRows(n, r, K); });
    forLoop(nFull, n1, im.c(1), [&](Value n) { emitDotRows(n, 1, K); });
  }

  void emitDotRows(Value n, int64_t r, Value K) {
    SmallVector<Value> rowsIdx, mIdx;
    for (int64_t i = 0; i < r; ++i)
      rowsIdx.push_back(im.add(n, i));
    for (int64_t i = 0; i < m; ++i)
      mIdx.push_back(im.c(i));
    Value zero = zeroVec();
    SmallVector<Value> init(m * r, zero);
    auto step = [&](Value k, ValueRange acc, Value mask) {
      SmallVector<Value> x, w, next;
      for (int64_t i = 0; i < m; ++i)
        x.push_back(loadF32(ops.a, ValueRange{mIdx[i], k}, mask));
      for (int64_t j = 0; j < r; ++j)
        w.push_back(loadF32(ops.b, ValueRange{rowsIdx[j], k}, mask));
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < r; ++j)
          next.push_back(
              vector::FMAOp::create(b, loc, x[i], w[j], acc[i * r + j]));
      return next;
    };
    Value kFull = im.floorTo(K, cfg.vw);
    SmallVector<Value> acc = forLoopIter(
        im.c(0), kFull, im.c(cfg.vw), init,
        [&](Value k, ValueRange it) { return step(k, it, Value()); });
    acc = step(kFull, acc, im.mask(cfg.vw, im.sub(K, kFull)));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < r; ++j) {
        Value s = vector::ReductionOp::create(b, loc,
                                              vector::CombiningKind::ADD,
                                              acc[i * r + j]);
        Value old = memref::LoadOp::create(b, loc, ops.c,
                                           ValueRange{mIdx[i], rowsIdx[j]});
        Value sum = arith::AddFOp::create(b, loc, old, s);
        memref::StoreOp::create(b, loc, sum, ops.c,
                                ValueRange{mIdx[i], rowsIdx[j]});
      }
  }

  /// C[m, n0:n1] += A[m, :] * B[:, n0:n1], vectorized along N. The weight
  /// rows are streamed contiguously: for each group of `cols` rows of B, the
  /// C slice (L1/L2 resident) is updated with `cols` fused multiply-adds.
  void emitColsOfB(Value n0, Value n1, Value K) {
    int64_t kb = cfg.cols;
    Value kFull = im.floorTo(K, kb);
    forLoop(im.c(0), kFull, im.c(kb), [&](Value k) { emitRowUpdate(k, kb, n0, n1); });
    forLoop(kFull, K, im.c(1), [&](Value k) { emitRowUpdate(k, 1, n0, n1); });
  }

  void emitRowUpdate(Value k, int64_t kb, Value n0, Value n1) {
    SmallVector<Value> kIdx;
    for (int64_t u = 0; u < kb; ++u)
      kIdx.push_back(im.add(k, u));
    SmallVector<SmallVector<Value>> aBcast(m);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t u = 0; u < kb; ++u) {
        Value s = loadScalarF32(ops.a, ValueRange{im.c(i), kIdx[u]});
        aBcast[i].push_back(vector::BroadcastOp::create(b, loc, vecTy(), s));
      }
    Value zero = zeroVec();
    forLoop(n0, n1, im.c(cfg.vw), [&](Value n) {
      Value mask = im.mask(cfg.vw, im.sub(n1, n));
      SmallVector<Value> w;
      for (int64_t u = 0; u < kb; ++u)
        w.push_back(loadF32(ops.b, ValueRange{kIdx[u], n}, mask));
      for (int64_t i = 0; i < m; ++i) {
        Value mi = im.c(i);
        Value acc = vector::MaskedLoadOp::create(
            b, loc, vecTy(), ops.c, ValueRange{mi, n}, mask, zero);
        for (int64_t u = 0; u < kb; ++u)
          acc = vector::FMAOp::create(b, loc, aBcast[i][u], w[u], acc);
        vector::MaskedStoreOp::create(b, loc, ops.c, ValueRange{mi, n}, mask,
                                      acc);
      }
    });
  }
};

struct GemvVectorizePass : buddy::impl::GemvVectorizeBase<GemvVectorizePass> {
  using GemvVectorizeBase::GemvVectorizeBase;

  void runOnOperation() override {
    if (vectorWidth <= 0 || maxRows <= 0 || rows <= 0 || cols <= 0 ||
        chunk <= 0 || threads <= 0) {
      getOperation().emitError()
          << "buddy-gemv-vectorize: all options must be positive";
      return signalPassFailure();
    }
    GemvConfig cfg{vectorWidth, rows, cols, chunk, threads};
    SmallVector<std::tuple<linalg::LinalgOp, MatmulOperands, int64_t>> work;
    getOperation().walk([&](linalg::LinalgOp op) {
      auto mm = matchMatmul(op, /*allowBF16Inputs=*/true);
      if (!mm)
        return;
      int64_t mDim =
          cast<MemRefType>(mm->c.getType()).getShape()[mm->batched ? 1 : 0];
      if (ShapedType::isDynamic(mDim) || mDim < 1 || mDim > maxRows)
        return;
      work.emplace_back(op, *mm, mDim);
    });
    for (auto &[op, mm, mDim] : work) {
      OpBuilder b(op);
      GemvEmitter(b, op.getLoc(), mm, mDim, cfg).emit();
      op->erase();
    }
  }
};

} // namespace
