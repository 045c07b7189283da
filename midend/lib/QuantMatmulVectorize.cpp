//===- QuantMatmulVectorize.cpp - block-quantized linear layers -----------===//
//
// Rewrites the frontend's quantized-linear linalg.generic (buddy/QuantMatmul.h:
// y[m, n] += x[m, k] * (d[n, k/B] * v[n, k] (+ mn[n, k/B])), v an i8 weight or
// a packed 4-bit one, f32 everything else) on memrefs into Vector kernels.
//
//  M <= max-rows (decode), scf.parallel over chunks of weight rows:
//    scf.for n step R: acc[m][r] = 0
//      scf.for g < K/B:                               (one scale block)
//        x_u = x[m, gB + u*vw]                        (u < B/vw, loaded once)
//        w_u = block g of row n+r as f32 vectors:     (weight bytes read once)
//              i8: sitofp(q[n+r, gB + u*vw]);
//              packed: one load of the block's B/2 bytes, low nibbles
//              (andi 15) = elements [0, B/2), high (shrui 4) = [B/2, B),
//              minus the offset (Q4_0: 8), sitofp
//        dot = sum_u x_u * w_u
//        acc[m][r] = fma(dot, bcast(d[n+r, g]), acc[m][r])
//        acc[m][r] = fma(sum_u x_u, bcast(mn[n+r, g]), acc[m][r])   (mins)
//      y[m, n+r] += reduce_add(acc[m][r])
//    The scale is applied once per block to the vector of partial dots (not
//    per weight), and with mins the x block sum is shared by all R rows.
//    Rows are prefetched `prefetch` steps ahead; tasks are balanced (>= 24
//    for a small N); decode matches of one x (q/k/v, gate/up) share one
//    scf.parallel (one fork per group; groupSiblings below).
//  int8-dot (decode, int8 activations; B = 32, K % 64 == 0, 16 f32 lanes):
//    once per GEMV (group): xq[m, k] = round(x / dx) in i8, dx = max|x|/127
//      per block, as lanes [dx(2p) x8, dx(2p+1) x8] of block pair p, and the
//      block sums s of xq likewise;
//    per block pair p of a row: the 64 weight bytes as u8 (i8: xor 0x80 =
//      w + 128; packed: nibbles reordered to x's element order), then
//      dp = dpbusd(-c * s, wu, xq[m, 64p:+64]) (16 i32 lanes, 8 per block;
//      c = 16 for i8 (128 s / 8), the offset / 8 for packed), and
//      acc = fma(sitofp(dp), [d(2p) x8, d(2p+1) x8] * dx, acc) (mins: plus
//      [mn x8, ..] * dx * s / 8).
//  M > max-rows (prefill): the weight is dequantized once into an aligned
//    f32 [N, K] buffer (vectorized, rows in an scf.parallel), then a
//    B-transposed linalg.matmul reads it, for --buddy-matmul-vectorize.
//
// See Passes.td and docs/quantization.md.
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"
#include "buddy/Passes.h"
#include "buddy/QuantMatmul.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Matchers.h"

#include <algorithm>
#include <functional>
#include <optional>

namespace buddy {
#define GEN_PASS_DEF_QUANTMATMULVECTORIZE
#include "buddy/Passes.h.inc"
} // namespace buddy

using namespace mlir;
using namespace buddy::kernel;

namespace {

/// A static 2-D memref of element type `et` (unit inner stride if asked).
bool isStatic2D(Value v, Type et, bool unitInner) {
  auto ty = dyn_cast<MemRefType>(v.getType());
  if (!ty || ty.getRank() != 2 || !ty.hasStaticShape() ||
      ty.getElementType() != et)
    return false;
  if (!unitInner)
    return true;
  SmallVector<int64_t> strides;
  int64_t offset;
  return succeeded(ty.getStridesAndOffset(strides, offset)) &&
         strides.back() == 1;
}

ArrayRef<int64_t> shapeOf(Value v) {
  return cast<MemRefType>(v.getType()).getShape();
}

/// `op` has two operands matching (f1, f2) in either order.
bool commutes(Operation *op, llvm::function_ref<bool(Value)> f1,
              llvm::function_ref<bool(Value)> f2) {
  if (!op || op->getNumOperands() != 2)
    return false;
  Value a = op->getOperand(0), b = op->getOperand(1);
  return (f1(a) && f2(b)) || (f1(b) && f2(a));
}

bool isConstInt(Value v, int64_t c) {
  APInt a;
  return matchPattern(v, m_ConstantInt(&a)) && a.getSExtValue() == c;
}

/// v == andi(shrui(q, index_cast(((linalg.index 2) mod B floordiv (B/2)) * 4)),
/// 15): the packed nibble of element k (operands of andi/muli in any order).
bool isNibble(Value v, Value q, int64_t block) {
  auto c = [](int64_t k) { return [k](Value x) { return isConstInt(x, k); }; };
  auto half = [&](Value h) {
    auto div = h.getDefiningOp<arith::DivUIOp>();
    if (!div || !isConstInt(div.getRhs(), block / 2))
      return false;
    auto rem = div.getLhs().getDefiningOp<arith::RemUIOp>();
    if (!rem || !isConstInt(rem.getRhs(), block))
      return false;
    auto idx = rem.getLhs().getDefiningOp<linalg::IndexOp>();
    return idx && idx.getDim() == 2;
  };
  auto shifted = [&](Value s) {
    auto sh = s.getDefiningOp<arith::ShRUIOp>();
    if (!sh || sh.getLhs() != q)
      return false;
    auto cast = sh.getRhs().getDefiningOp<arith::IndexCastOp>();
    if (!cast)
      return false;
    auto mul = cast.getIn().getDefiningOp<arith::MulIOp>();
    return mul && commutes(mul, c(4), half);
  };
  auto andOp = v.getDefiningOp<arith::AndIOp>();
  return andOp && commutes(andOp, c(15), shifted);
}

/// The body computes yield(acc + x * (d * sitofp(v) [+ mn])) with v = q, or
/// for packed q the nibble minus `*offset` (8 or 0, set here).
bool matchBody(linalg::GenericOp op, bool hasMin, bool packed, int64_t block,
               int64_t *offset) {
  Block &body = op.getRegion().front();
  unsigned nIn = hasMin ? 4 : 3;
  if (body.getNumArguments() != nIn + 1)
    return false;
  Value x = body.getArgument(0), q = body.getArgument(1),
        d = body.getArgument(2), mn = hasMin ? body.getArgument(3) : Value(),
        acc = body.getArgument(nIn);
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  if (yield.getNumOperands() != 1)
    return false;
  auto is = [](Value want) { return [want](Value v) { return v == want; }; };
  auto deq = [&](Value v) { // d * sitofp(q)
    auto mul = v.getDefiningOp<arith::MulFOp>();
    return mul && commutes(mul, is(d), [&](Value s) {
             auto c = s.getDefiningOp<arith::SIToFPOp>();
             if (!c || !c.getType().isF32())
               return false;
             Value in = c.getIn();
             *offset = 0;
             if (!packed)
               return in == q;
             if (auto sub = in.getDefiningOp<arith::SubIOp>()) {
               if (!isConstInt(sub.getRhs(), 8))
                 return false;
               *offset = 8;
               in = sub.getLhs();
             }
             return isNibble(in, q, block);
           });
  };
  auto weight = [&](Value v) {
    if (!hasMin)
      return deq(v);
    auto add = v.getDefiningOp<arith::AddFOp>();
    return add && commutes(add, deq, is(mn));
  };
  auto product = [&](Value v) {
    auto mul = v.getDefiningOp<arith::MulFOp>();
    return mul && commutes(mul, is(x), weight);
  };
  auto sum = yield.getOperand(0).getDefiningOp<arith::AddFOp>();
  return sum && commutes(sum, is(acc), product);
}

struct QuantEmitter {
  OpBuilder &b;
  Location loc;
  const buddy::QuantMatmulOperands &o;
  const buddy::QuantMatmulConfig &cfg;
  IndexMath im;

  QuantEmitter(OpBuilder &b, Location loc, const buddy::QuantMatmulOperands &o,
               const buddy::QuantMatmulConfig &cfg)
      : b(b), loc(loc), o(o), cfg(cfg), im{b, loc} {}

  int64_t vw() const { return cfg.vectorWidth; }
  int64_t perBlock() const { return o.block / vw(); }
  int64_t groups() const { return o.k / o.block; }
  VectorType f32Vec() const { return VectorType::get({vw()}, b.getF32Type()); }
  VectorType i8Vec() const {
    return VectorType::get({vw()}, b.getIntegerType(8));
  }
  Value zeroVec() {
    return arith::ConstantOp::create(b, loc, f32Vec(),
                                     DenseElementsAttr::get(f32Vec(), 0.0f));
  }
  Value bcast(Value s) { return vector::BroadcastOp::create(b, loc, f32Vec(), s); }
  /// sitofp(q[row, k:k+vw]) as f32 lanes.
  Value loadWeights(Value row, Value k) {
    Value qv = vector::LoadOp::create(b, loc, i8Vec(), o.q, ValueRange{row, k});
    return arith::SIToFPOp::create(b, loc, f32Vec(), qv);
  }

  Value splatI8(VectorType ty, int64_t v) {
    return arith::ConstantOp::create(
        b, loc, ty, DenseElementsAttr::get(ty, ArrayRef<APInt>{APInt(8, v)}));
  }

  /// The integer weights of block g of `row` as B/vw f32 vectors (elements
  /// gB + u*vw). Packed: one load of the block's B/2 bytes; low nibbles are
  /// elements [0, B/2), high nibbles [B/2, B) (minus the offset).
  SmallVector<Value> blockWeights(Value row, Value g, Value k0) {
    SmallVector<Value> w;
    if (!o.packed) {
      for (int64_t u = 0; u < perBlock(); ++u)
        w.push_back(loadWeights(row, im.add(k0, u * vw())));
      return w;
    }
    int64_t hb = o.block / 2;
    auto byteTy = VectorType::get({hb}, b.getIntegerType(8));
    Value bytes = vector::LoadOp::create(b, loc, byteTy, o.q,
                                         ValueRange{row, im.mul(g, hb)});
    Value halves[2] = {arith::AndIOp::create(b, loc, bytes, splatI8(byteTy, 15)),
                       arith::ShRUIOp::create(b, loc, bytes, splatI8(byteTy, 4))};
    if (o.offset)
      for (Value &h : halves)
        h = arith::SubIOp::create(b, loc, h, splatI8(byteTy, o.offset));
    for (int64_t u = 0; u < perBlock(); ++u) {
      int64_t e = u * vw();
      Value piece = halves[e / hb];
      if (vw() != hb)
        piece = vector::ExtractStridedSliceOp::create(
            b, loc, piece, ArrayRef<int64_t>{e % hb}, ArrayRef<int64_t>{vw()},
            ArrayRef<int64_t>{1});
      w.push_back(arith::SIToFPOp::create(b, loc, f32Vec(), piece));
    }
    return w;
  }

  void forLoop(Value lb, Value ub, Value step,
               llvm::function_ref<void(Value)> body) {
    buddy::kernel::forLoop(b, loc, lb, ub, step, body);
  }

  SmallVector<Value>
  forLoopIter(Value lb, Value ub, Value step, ValueRange init,
              llvm::function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    return buddy::kernel::forLoopIter(b, loc, lb, ub, step, init, body);
  }

  /// scf.parallel over [0, N) in chunks of `chunk` rows; body(n0, n1).
  void parallelRows(int64_t chunk, llvm::function_ref<void(Value, Value)> body) {
    auto par = scf::ParallelOp::create(b, loc, ValueRange{im.c(0)},
                                       ValueRange{im.c(llvm::divideCeil(o.n, chunk))},
                                       ValueRange{im.c(1)});
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(par.getBody()->getTerminator());
    Value n0 = im.mul(par.getInductionVars()[0], chunk);
    Value n1 = im.min(im.add(n0, chunk), im.c(o.n));
    body(n0, n1);
  }

  // ---------------------------------------------------------------- decode
  int64_t stepRows() const { return std::max<int64_t>(1, cfg.rows / o.m); }

  /// Rows per parallel task for `n` rows in all: at most `chunk`, and small
  /// enough that they split into at least kTasks tasks (24 divides evenly
  /// among 1, 2, 3, 4, 6, 8 or 12 threads), so a small N (a 192-row K/V
  /// projection) is not split 2:1.
  int64_t gemvChunk(int64_t n) const {
    constexpr int64_t kTasks = 24;
    int64_t r = stepRows();
    int64_t most = llvm::divideCeil(cfg.chunk, r) * r;
    int64_t balanced = (n / kTasks) / r * r;
    return std::clamp<int64_t>(balanced, r, most);
  }

  void emitGemv() {
    if (int8Eligible()) {
      Int8X xq = quantizeX();
      parallelRows(gemvChunk(o.n),
                   [&](Value n0, Value n1) { emitRowRangeInt8(n0, n1, xq); });
      return;
    }
    parallelRows(gemvChunk(o.n), [&](Value n0, Value n1) { emitRowRange(n0, n1); });
  }

  /// Rows [n0, n1) in steps of stepRows() rows, the remainder one row at a
  /// time: `rows(n, r)` emits the kernel body for rows [n, n + r).
  void forRowSteps(Value n0, Value n1, llvm::function_ref<void(Value, int64_t)> rows) {
    int64_t r = stepRows();
    Value nFull = im.add(n0, im.floorTo(im.sub(n1, n0), r));
    forLoop(n0, nFull, im.c(r), [&](Value n) { rows(n, r); });
    forLoop(nFull, n1, im.c(1), [&](Value n) { rows(n, 1); });
  }

  /// The GEMV kernel on weight rows [n0, n1).
  void emitRowRange(Value n0, Value n1) {
    forRowSteps(n0, n1, [&](Value n, int64_t r) { emitRows(n, r); });
  }

  void emitRows(Value n, int64_t r) {
    int64_t m = o.m, U = perBlock();
    SmallVector<Value> rowIdx, mIdx;
    for (int64_t j = 0; j < r; ++j)
      rowIdx.push_back(im.add(n, j));
    for (int64_t i = 0; i < m; ++i)
      mIdx.push_back(im.c(i));
    SmallVector<Value> init(m * r, zeroVec());
    SmallVector<Value> acc = forLoopIter(
        im.c(0), im.c(groups()), im.c(1), init,
        [&](Value g, ValueRange it) {
          Value k0 = im.mul(g, o.block);
          SmallVector<Value> kIdx;
          for (int64_t u = 0; u < U; ++u)
            kIdx.push_back(im.add(k0, u * vw()));
          SmallVector<SmallVector<Value>> xs(m);
          SmallVector<Value> xsum(m);
          for (int64_t i = 0; i < m; ++i)
            for (int64_t u = 0; u < U; ++u) {
              xs[i].push_back(vector::LoadOp::create(b, loc, f32Vec(), o.x,
                                                     ValueRange{mIdx[i], kIdx[u]}));
              if (o.min)
                xsum[i] = u ? (Value)arith::AddFOp::create(b, loc, xsum[i], xs[i][u])
                            : xs[i][u];
            }
          SmallVector<Value> next(it.begin(), it.end());
          for (int64_t j = 0; j < r; ++j) {
            if (cfg.prefetch > 0) {
              // The same block of the row `prefetch` steps ahead (clamped to
              // the last row): the weight streams have many rows in flight
              // the hardware prefetcher does not cover.
              Value ahead = im.min(im.add(rowIdx[j], r * cfg.prefetch),
                                   im.c(o.n - 1));
              Value col = o.packed ? im.mul(g, o.block / 2) : k0;
              memref::PrefetchOp::create(b, loc, o.q, ValueRange{ahead, col},
                                         /*isWrite=*/false, /*locality=*/0,
                                         /*isDataCache=*/true);
            }
            SmallVector<Value> dot(m);
            SmallVector<Value> ws = blockWeights(rowIdx[j], g, k0);
            for (int64_t u = 0; u < U; ++u) {
              Value w = ws[u];
              for (int64_t i = 0; i < m; ++i)
                dot[i] = u ? (Value)vector::FMAOp::create(b, loc, xs[i][u], w, dot[i])
                           : (Value)arith::MulFOp::create(b, loc, xs[i][u], w);
            }
            Value d = bcast(memref::LoadOp::create(b, loc, o.scale,
                                                   ValueRange{rowIdx[j], g}));
            Value mn = o.min ? bcast(memref::LoadOp::create(
                                   b, loc, o.min, ValueRange{rowIdx[j], g}))
                             : Value();
            for (int64_t i = 0; i < m; ++i) {
              Value &a = next[i * r + j];
              a = vector::FMAOp::create(b, loc, dot[i], d, a);
              if (mn)
                a = vector::FMAOp::create(b, loc, xsum[i], mn, a);
            }
          }
          return next;
        });
    storeRows(acc, rowIdx, mIdx, r);
  }

  /// y[m, n + j] += reduce_add(acc[m * r + j]).
  void storeRows(ArrayRef<Value> acc, ArrayRef<Value> rowIdx, ArrayRef<Value> mIdx,
                 int64_t r) {
    for (int64_t i = 0; i < o.m; ++i)
      for (int64_t j = 0; j < r; ++j) {
        // reassoc: a log2(vw)-deep shuffle tree instead of vw - 1 dependent
        // scalar adds (any summation order is within the documented bound).
        Value s = vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD,
                                              acc[i * r + j],
                                              arith::FastMathFlags::reassoc);
        SmallVector<Value, 2> at{mIdx[i], rowIdx[j]};
        Value old = memref::LoadOp::create(b, loc, o.y, at);
        memref::StoreOp::create(b, loc, arith::AddFOp::create(b, loc, old, s),
                                o.y, at);
      }
  }

  // ------------------------------------------------- decode, int8 activations
  /// x quantized per block of 32 (quantizeX): xq [M, K] i8, and per block
  /// pair p the 16 lanes [v(2p) x8, v(2p+1) x8] of its scales (dx, f32) and
  /// of the sums of its quantized elements (sum, i32), [M, K/64 * 16] each.
  struct Int8X {
    Value xq, dx, sum;
  };
  static constexpr int64_t kPair = 64; ///< weights per dot product (2 blocks)

  /// Whether this match takes the int8-activation kernel of cfg.int8Dot.
  bool int8Eligible() const {
    return cfg.int8Dot == "avx512-vnni" && vw() == 16 && o.block == 32 &&
           o.k % kPair == 0 && (o.packed ? o.offset % 8 == 0 : true);
  }

  VectorType vecOf(int64_t n, Type t) const { return VectorType::get({n}, t); }
  Value splat(VectorType ty, Attribute v) {
    return arith::ConstantOp::create(b, loc, ty, SplatElementsAttr::get(ty, v));
  }

  /// Emits the quantization of x (at the insertion point, before the
  /// parallel loop: once for all tasks).
  Int8X quantizeX() {
    Type f32 = b.getF32Type(), i32 = b.getI32Type(), i8 = b.getIntegerType(8);
    int64_t lanes = o.k / kPair * 16;
    auto stackBuf = [&](int64_t cols, Type t) {
      return memref::AllocaOp::create(b, loc, MemRefType::get({o.m, cols}, t),
                                      b.getI64IntegerAttr(64));
    };
    Int8X r{stackBuf(o.k, i8), stackBuf(lanes, f32), stackBuf(lanes, i32)};
    VectorType fv = f32Vec(), iv = vecOf(16, i32), bv = vecOf(16, i8);
    Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
    Value qmax = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(127.0f));
    for (int64_t i = 0; i < o.m; ++i) {
      Value mi = im.c(i);
      forLoop(im.c(0), im.c(groups()), im.c(1), [&](Value g) {
        Value k0 = im.mul(g, 32);
        Value v[2], amax;
        for (int h = 0; h < 2; ++h)
          v[h] = vector::LoadOp::create(b, loc, fv, o.x, ValueRange{mi, im.add(k0, 16 * h)});
        Value a = arith::MaximumFOp::create(b, loc, math::AbsFOp::create(b, loc, v[0]),
                                            math::AbsFOp::create(b, loc, v[1]));
        amax = vector::ReductionOp::create(b, loc, vector::CombiningKind::MAXIMUMF, a);
        Value d = arith::DivFOp::create(b, loc, amax, qmax);
        Value pos = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, amax, zero);
        Value inv = arith::SelectOp::create(
            b, loc, pos, arith::DivFOp::create(b, loc, qmax, amax), zero);
        Value total;
        for (int h = 0; h < 2; ++h) {
          Value q = math::RoundEvenOp::create(
              b, loc, arith::MulFOp::create(b, loc, v[h], bcast(inv)));
          Value qi = arith::FPToSIOp::create(b, loc, iv, q);
          vector::StoreOp::create(b, loc, arith::TruncIOp::create(b, loc, bv, qi), r.xq,
                                  ValueRange{mi, im.add(k0, 16 * h)});
          total = h ? (Value)arith::AddIOp::create(b, loc, total, qi) : qi;
        }
        Value sum = vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, total);
        // Lanes [8 (g mod 2), +8) of pair g / 2.
        Value lane = im.mul(g, 8);
        vector::StoreOp::create(b, loc, vector::BroadcastOp::create(b, loc, vecOf(8, f32), d),
                                r.dx, ValueRange{mi, lane});
        vector::StoreOp::create(b, loc, vector::BroadcastOp::create(b, loc, vecOf(8, i32), sum),
                                r.sum, ValueRange{mi, lane});
      });
    }
    return r;
  }

  /// [s(row, 2p) x8, s(row, 2p+1) x8] of a per-block plane (scales, mins).
  Value pairLanes(Value plane, Value row, Value p) {
    Value g0 = im.mul(p, 2);
    VectorType h = vecOf(8, b.getF32Type());
    Value s0 = memref::LoadOp::create(b, loc, plane, ValueRange{row, g0});
    Value s1 = memref::LoadOp::create(b, loc, plane, ValueRange{row, im.add(g0, 1)});
    SmallVector<int64_t> mask;
    for (int64_t l = 0; l < 16; ++l)
      mask.push_back(l);
    return vector::ShuffleOp::create(b, loc, vector::BroadcastOp::create(b, loc, h, s0),
                                     vector::BroadcastOp::create(b, loc, h, s1), mask);
  }

  /// The 64 weights of pair p of `row` as unsigned bytes in x's element order.
  Value pairWeightsU8(Value row, Value p) {
    Type i8 = b.getIntegerType(8);
    if (!o.packed) {
      VectorType t = vecOf(kPair, i8);
      Value w = vector::LoadOp::create(b, loc, t, o.q, ValueRange{row, im.mul(p, kPair)});
      return arith::XOrIOp::create(b, loc, w, splatI8(t, 0x80)); // w + 128
    }
    VectorType t = vecOf(kPair / 2, i8);
    Value bytes = vector::LoadOp::create(b, loc, t, o.q, ValueRange{row, im.mul(p, kPair / 2)});
    Value lo = arith::AndIOp::create(b, loc, bytes, splatI8(t, 15));
    Value hi = arith::ShRUIOp::create(b, loc, bytes, splatI8(t, 4));
    // Block 2p is lo[0:16] ++ hi[0:16], block 2p + 1 lo[16:32] ++ hi[16:32].
    SmallVector<int64_t> mask;
    for (int64_t blk = 0; blk < 2; ++blk)
      for (int64_t half = 0; half < 2; ++half)
        for (int64_t e = 0; e < 16; ++e)
          mask.push_back(half * 32 + blk * 16 + e);
    return vector::ShuffleOp::create(b, loc, lo, hi, mask);
  }

  /// acc + the dot products of the unsigned bytes `u` with the signed `s`,
  /// four adjacent bytes per i32 lane.
  Value dotU8S8(Value acc, Value u, Value s) {
    return LLVM::CallIntrinsicOp::create(b, loc, acc.getType(),
                                         b.getStringAttr("llvm.x86.avx512.vpdpbusd.512"),
                                         ValueRange{acc, u, s})
        .getResult(0);
  }

  void emitRowRangeInt8(Value n0, Value n1, const Int8X &xq) {
    forRowSteps(n0, n1, [&](Value n, int64_t r) { emitRowsInt8(n, r, xq); });
  }

  void emitRowsInt8(Value n, int64_t r, const Int8X &xq) {
    int64_t m = o.m;
    Type i32 = b.getI32Type(), i8 = b.getIntegerType(8);
    VectorType iv = vecOf(16, i32), fv = f32Vec();
    // The x-side correction of the unsigned weights, per lane: c * s.
    int64_t c = o.packed ? o.offset / 8 : 16;
    SmallVector<Value> rowIdx, mIdx;
    for (int64_t j = 0; j < r; ++j)
      rowIdx.push_back(im.add(n, j));
    for (int64_t i = 0; i < m; ++i)
      mIdx.push_back(im.c(i));
    SmallVector<Value> init(m * r, zeroVec());
    SmallVector<Value> acc = forLoopIter(
        im.c(0), im.c(o.k / kPair), im.c(1), init, [&](Value p, ValueRange it) {
          Value lane = im.mul(p, 16);
          SmallVector<Value> xv(m), start(m), dx(m), mins(m);
          for (int64_t i = 0; i < m; ++i) {
            xv[i] = vector::LoadOp::create(b, loc, vecOf(kPair, i8), xq.xq,
                                           ValueRange{mIdx[i], im.mul(p, kPair)});
            dx[i] = vector::LoadOp::create(b, loc, fv, xq.dx, ValueRange{mIdx[i], lane});
            Value sum = c || o.min ? (Value)vector::LoadOp::create(
                                         b, loc, iv, xq.sum, ValueRange{mIdx[i], lane})
                                   : Value();
            start[i] = c ? (Value)arith::MulIOp::create(
                               b, loc, sum, splat(iv, b.getI32IntegerAttr(-c)))
                         : splat(iv, b.getI32IntegerAttr(0));
            if (o.min) // dx * s / 8 per lane: the 8 lanes of a block add up to dx * s
              mins[i] = arith::MulFOp::create(
                  b, loc, arith::SIToFPOp::create(b, loc, fv, sum),
                  arith::MulFOp::create(b, loc, dx[i], splat(fv, b.getF32FloatAttr(0.125f))));
          }
          SmallVector<Value> next(it.begin(), it.end());
          for (int64_t j = 0; j < r; ++j) {
            if (cfg.prefetch > 0) {
              Value ahead = im.min(im.add(rowIdx[j], r * cfg.prefetch), im.c(o.n - 1));
              Value col = im.mul(p, o.packed ? kPair / 2 : kPair);
              memref::PrefetchOp::create(b, loc, o.q, ValueRange{ahead, col},
                                         /*isWrite=*/false, /*locality=*/0,
                                         /*isDataCache=*/true);
            }
            Value wu = pairWeightsU8(rowIdx[j], p);
            Value d = pairLanes(o.scale, rowIdx[j], p);
            Value mn = o.min ? pairLanes(o.min, rowIdx[j], p) : Value();
            for (int64_t i = 0; i < m; ++i) {
              Value dp = arith::SIToFPOp::create(b, loc, fv, dotU8S8(start[i], wu, xv[i]));
              Value &a = next[i * r + j];
              a = vector::FMAOp::create(b, loc, dp, arith::MulFOp::create(b, loc, d, dx[i]), a);
              if (mn)
                a = vector::FMAOp::create(b, loc, mn, mins[i], a);
            }
          }
          return next;
        });
    storeRows(acc, rowIdx, mIdx, r);
  }

  // --------------------------------------------------------------- prefill
  void emitDequantMatmul() {
    auto wTy = MemRefType::get({o.n, o.k}, b.getF32Type());
    Value w = memref::AllocOp::create(b, loc, wTy, b.getI64IntegerAttr(64));
    parallelRows(cfg.chunk, [&](Value n0, Value n1) {
      forLoop(n0, n1, im.c(1), [&](Value row) {
        forLoop(im.c(0), im.c(groups()), im.c(1), [&](Value g) {
          Value k0 = im.mul(g, o.block);
          Value d = bcast(memref::LoadOp::create(b, loc, o.scale, ValueRange{row, g}));
          Value mn = o.min ? bcast(memref::LoadOp::create(b, loc, o.min,
                                                          ValueRange{row, g}))
                           : Value();
          SmallVector<Value> ws = blockWeights(row, g, k0);
          for (int64_t u = 0; u < perBlock(); ++u) {
            Value k = im.add(k0, u * vw());
            Value q = ws[u];
            Value v = mn ? (Value)vector::FMAOp::create(b, loc, q, d, mn)
                         : (Value)arith::MulFOp::create(b, loc, q, d);
            vector::StoreOp::create(b, loc, v, w, ValueRange{row, k});
          }
        });
      });
    });
    MLIRContext *ctx = b.getContext();
    AffineExpr m = getAffineDimExpr(0, ctx), n = getAffineDimExpr(1, ctx),
               k = getAffineDimExpr(2, ctx);
    AffineExpr exprs[3][2] = {{m, k}, {n, k}, {m, n}}; // x, w as (n, k), y
    SmallVector<Attribute> maps;
    for (auto &e : exprs)
      maps.push_back(AffineMapAttr::get(AffineMap::get(3, 0, e, ctx)));
    auto mm = linalg::MatmulOp::create(b, loc, ValueRange{o.x, w}, ValueRange{o.y});
    mm.setIndexingMapsAttr(b.getArrayAttr(maps));
    memref::DeallocOp::create(b, loc, w);
  }
};

struct QuantMatmulVectorizePass
    : buddy::impl::QuantMatmulVectorizeBase<QuantMatmulVectorizePass> {
  using QuantMatmulVectorizeBase::QuantMatmulVectorizeBase;

  void runOnOperation() override {
    if (vectorWidth <= 0 || maxRows < 0 || rows <= 0 || chunk <= 0 ||
        prefetch < 0) {
      getOperation().emitError()
          << "buddy-quant-matmul-vectorize: vector-width, rows and chunk must "
             "be positive, max-rows and prefetch non-negative";
      return signalPassFailure();
    }
    if (int8Dot != "none" && int8Dot != "avx512-vnni") {
      getOperation().emitError()
          << "buddy-quant-matmul-vectorize: int8-dot must be none or "
             "avx512-vnni, got '"
          << int8Dot << "'";
      return signalPassFailure();
    }
    buddy::vectorizeQuantMatmuls(getOperation(),
                                 {vectorWidth, maxRows, rows, chunk, prefetch,
                                  groupSiblings, int8Dot});
  }
};

} // namespace

std::optional<buddy::QuantMatmulOperands>
buddy::matchQuantMatmul(linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInits() != 1 ||
      op.getNumLoops() != 3)
    return std::nullopt;
  unsigned nIn = op.getNumDpsInputs();
  if (nIn != 3 && nIn != 4)
    return std::nullopt;
  auto its = op.getIteratorTypesArray();
  if (its[0] != utils::IteratorType::parallel ||
      its[1] != utils::IteratorType::parallel ||
      its[2] != utils::IteratorType::reduction)
    return std::nullopt;
  MLIRContext *ctx = op.getContext();
  AffineExpr m = getAffineDimExpr(0, ctx), n = getAffineDimExpr(1, ctx),
             k = getAffineDimExpr(2, ctx);
  auto map = [&](ArrayRef<AffineExpr> e) { return AffineMap::get(3, 0, e, ctx); };
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  if (maps[0] != map({m, k}) || maps[nIn] != map({m, n}))
    return std::nullopt;
  // The scale (and min) map: (n, k floordiv B) with a constant B > 0.
  AffineMap sm = maps[2];
  if (sm.getNumResults() != 2 || sm.getResult(0) != n)
    return std::nullopt;
  auto fd = dyn_cast<AffineBinaryOpExpr>(sm.getResult(1));
  if (!fd || fd.getKind() != AffineExprKind::FloorDiv || fd.getLHS() != k)
    return std::nullopt;
  auto bc = dyn_cast<AffineConstantExpr>(fd.getRHS());
  if (!bc || bc.getValue() <= 0)
    return std::nullopt;
  if (nIn == 4 && maps[3] != sm)
    return std::nullopt;
  int64_t block = bc.getValue();
  bool packed;
  if (maps[1] == map({n, k}))
    packed = false;
  else if (block % 2 == 0 &&
           maps[1] == map({n, k.floorDiv(block) * (block / 2) + k % (block / 2)}))
    packed = true;
  else
    return std::nullopt;

  QuantMatmulOperands r;
  r.x = op.getDpsInputOperand(0)->get();
  r.q = op.getDpsInputOperand(1)->get();
  r.scale = op.getDpsInputOperand(2)->get();
  r.min = nIn == 4 ? op.getDpsInputOperand(3)->get() : Value();
  r.y = op.getDpsInitOperand(0)->get();
  r.block = block;
  r.packed = packed;
  Builder b(ctx);
  Type f32 = b.getF32Type(), i8 = b.getIntegerType(8);
  if (!isStatic2D(r.x, f32, true) || !isStatic2D(r.q, i8, true) ||
      !isStatic2D(r.scale, f32, false) || !isStatic2D(r.y, f32, true) ||
      (r.min && !isStatic2D(r.min, f32, false)))
    return std::nullopt;
  r.m = shapeOf(r.x)[0];
  r.k = shapeOf(r.x)[1];
  r.n = shapeOf(r.q)[0];
  int64_t groups = r.k / r.block;
  if (r.k % r.block || shapeOf(r.q)[1] != (packed ? r.k / 2 : r.k) ||
      shapeOf(r.y)[0] != r.m ||
      shapeOf(r.y)[1] != r.n || shapeOf(r.scale)[0] != r.n ||
      shapeOf(r.scale)[1] != groups ||
      (r.min && shapeOf(r.min) != shapeOf(r.scale)))
    return std::nullopt;
  if (!matchBody(op, static_cast<bool>(r.min), packed, block, &r.offset))
    return std::nullopt;
  return r;
}

namespace {

/// The buffer a memref value views (through view-like ops).
Value rootOf(Value v) {
  while (Operation *def = v.getDefiningOp()) {
    auto view = dyn_cast<ViewLikeOpInterface>(def);
    if (!view)
      break;
    v = view.getViewSource();
  }
  return v;
}

/// Decode GEMVs of one block that read the same x (q/k/v, gate/up): run as one
/// scf.parallel, so a layer forks once per group instead of once per matrix.
struct GemvGroup {
  SmallVector<std::pair<linalg::GenericOp, buddy::QuantMatmulOperands>> members;
  SmallVector<Operation *> hoist; ///< later members' allocs and fills, in order
};

/// `op` (strictly between the group's first member and `next`) can stay where
/// it is while `next` is computed at the group's first member: a view or an
/// allocation; or a linalg op that writes neither x nor anything `next`
/// reads or writes, and reads nothing `next` writes (the fill of next's y
/// aside, which `collect` hoists).
bool commutesWithNext(Operation *op, Value xRoot, const buddy::QuantMatmulOperands &next) {
  if (isa<memref::AllocOp, ViewLikeOpInterface>(op))
    return true;
  auto lin = dyn_cast<linalg::LinalgOp>(op);
  if (!lin || !lin.hasPureBufferSemantics())
    return false;
  SmallVector<Value> nextIn{xRoot, rootOf(next.q), rootOf(next.scale)};
  if (next.min)
    nextIn.push_back(rootOf(next.min));
  Value yRoot = rootOf(next.y);
  for (OpOperand &init : lin.getDpsInitsMutable()) {
    Value r = rootOf(init.get());
    if (r == yRoot || llvm::is_contained(nextIn, r))
      return false;
  }
  for (OpOperand *in : lin.getDpsInputOperands())
    if (rootOf(in->get()) == yRoot)
      return false;
  return true;
}

/// next's y as its own buffer: a memref.alloc (static shape, no operands) or
/// an argument of the function (an output buffer), whose other users before
/// `next` are at most one linalg.fill; the alloc and the fill (if after
/// `first`) go to `hoist`.
bool hoistableY(linalg::GenericOp first, linalg::GenericOp next, Value y,
                SmallVector<Operation *> &hoist) {
  auto alloc = y.getDefiningOp<memref::AllocOp>();
  auto arg = dyn_cast<BlockArgument>(y);
  bool funcArg = arg && isa<func::FuncOp>(arg.getOwner()->getParentOp());
  if (!funcArg && (!alloc || alloc->getNumOperands() != 0 ||
                   alloc->getBlock() != next->getBlock()))
    return false;
  Operation *fill = nullptr;
  for (Operation *user : y.getUsers()) {
    if (user == next || next->isBeforeInBlock(user))
      continue;
    auto f = dyn_cast<linalg::FillOp>(user);
    if (!f || fill || f.getDpsInitOperand(0)->get() != y ||
        f->getBlock() != next->getBlock())
      return false;
    Value v = f.getDpsInputOperand(0)->get();
    if (Operation *d = v.getDefiningOp(); d && !d->isBeforeInBlock(first))
      return false; // the fill value must be available at the group
    fill = user;
  }
  if (alloc && first->isBeforeInBlock(alloc))
    hoist.push_back(alloc);
  if (fill && first->isBeforeInBlock(fill))
    hoist.push_back(fill);
  return true;
}

bool definedBefore(Value v, Operation *op) {
  Operation *d = v.getDefiningOp();
  return !d ? cast<BlockArgument>(v).getOwner() == op->getBlock() ||
                  cast<BlockArgument>(v).getOwner()->getParentOp()->isProperAncestor(op)
            : d->getBlock() == op->getBlock() && d->isBeforeInBlock(op);
}

/// Splits the decode matches, in IR order, into groups of siblings.
SmallVector<GemvGroup>
groupSiblings(ArrayRef<std::pair<linalg::GenericOp, buddy::QuantMatmulOperands>> gemvs) {
  SmallVector<GemvGroup> groups;
  for (const auto &item : gemvs) {
    linalg::GenericOp op = item.first;
    const buddy::QuantMatmulOperands &qm = item.second;
    if (!groups.empty()) {
      GemvGroup &g = groups.back();
      auto [first, fq] = g.members.front();
      auto [last, lq] = g.members.back();
      SmallVector<Operation *> hoist;
      bool ok = op->getBlock() == first->getBlock() && qm.x == fq.x &&
                qm.m == fq.m && qm.k == fq.k && definedBefore(qm.q, first) &&
                definedBefore(qm.scale, first) &&
                (!qm.min || definedBefore(qm.min, first)) &&
                hoistableY(first, op, qm.y, hoist);
      for (Operation *it = last->getNextNode(); ok && it != op.getOperation();
           it = it->getNextNode())
        ok = llvm::is_contained(hoist, it) || commutesWithNext(it, rootOf(qm.x), qm);
      // Ops between earlier members were checked against those members; the
      // new one must also commute with them.
      for (size_t i = 0; ok && i + 1 < g.members.size(); ++i)
        for (Operation *it = g.members[i].first->getNextNode();
             ok && it != g.members[i + 1].first; it = it->getNextNode())
          ok = llvm::is_contained(g.hoist, it) || commutesWithNext(it, rootOf(qm.x), qm);
      if (ok) {
        g.members.push_back(item);
        g.hoist.append(hoist);
        continue;
      }
    }
    groups.push_back(GemvGroup{{item}, {}});
  }
  return groups;
}

/// One scf.parallel over the tasks of every member (a common chunk of rows,
/// so the tasks are the same size), an scf.if chain picking the member.
void emitGroup(const GemvGroup &g, const buddy::QuantMatmulConfig &cfg) {
  linalg::GenericOp first = g.members.front().first;
  for (Operation *h : g.hoist)
    h->moveBefore(first);
  OpBuilder b(first);
  Location loc = first.getLoc();
  IndexMath im{b, loc};
  int64_t total = 0;
  for (auto &m : g.members)
    total += m.second.n;
  // A common task size (rows) from the group's total rows.
  buddy::QuantMatmulOperands all = g.members.front().second;
  all.n = total;
  int64_t chunk = QuantEmitter(b, loc, all, cfg).gemvChunk(total);
  SmallVector<int64_t> ends;
  int64_t tasks = 0;
  for (auto &m : g.members)
    ends.push_back(tasks += llvm::divideCeil(m.second.n, chunk));
  // int8 activations: x is quantized once for the whole group (all members
  // read it), when every member takes the int8 kernel.
  bool int8 = llvm::all_of(g.members, [&](auto &m) {
    return QuantEmitter(b, loc, m.second, cfg).int8Eligible();
  });
  std::optional<QuantEmitter::Int8X> xq;
  if (int8)
    xq = QuantEmitter(b, loc, g.members.front().second, cfg).quantizeX();
  auto par = scf::ParallelOp::create(b, loc, ValueRange{im.c(0)}, ValueRange{im.c(tasks)},
                                     ValueRange{im.c(1)});
  b.setInsertionPoint(par.getBody()->getTerminator());
  Value t = par.getInductionVars()[0];
  std::function<void(size_t)> emitFrom = [&](size_t i) {
    const buddy::QuantMatmulOperands &o = g.members[i].second;
    auto body = [&]() {
      Value n0 = im.mul(im.sub(t, im.c(i ? ends[i - 1] : 0)), chunk);
      Value n1 = im.min(im.add(n0, chunk), im.c(o.n));
      linalg::GenericOp member = g.members[i].first;
      QuantEmitter e(b, member.getLoc(), o, cfg);
      if (xq)
        e.emitRowRangeInt8(n0, n1, *xq);
      else
        e.emitRowRange(n0, n1);
    };
    if (i + 1 == g.members.size())
      return body();
    Value here = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, t, im.c(ends[i]));
    auto ifOp = scf::IfOp::create(b, loc, here, /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    body();
    b.setInsertionPoint(ifOp.elseBlock()->getTerminator());
    emitFrom(i + 1);
  };
  emitFrom(0);
  for (auto &m : g.members)
    m.first->erase();
}

} // namespace

int64_t buddy::vectorizeQuantMatmuls(func::FuncOp f,
                                     const QuantMatmulConfig &cfg) {
  SmallVector<std::pair<linalg::GenericOp, QuantMatmulOperands>> gemvs, gemms;
  f.walk([&](linalg::GenericOp op) {
    auto qm = matchQuantMatmul(op);
    if (qm && (qm->packed ? qm->block / 2 : qm->block) % cfg.vectorWidth == 0 &&
        qm->m >= 1)
      (qm->m <= cfg.maxRows ? gemvs : gemms).emplace_back(op, *qm);
  });
  for (auto &[op, qm] : gemms) {
    OpBuilder b(op);
    QuantEmitter(b, op.getLoc(), qm, cfg).emitDequantMatmul();
    op->erase();
  }
  SmallVector<GemvGroup> groups;
  if (cfg.groupSiblings)
    groups = groupSiblings(gemvs);
  else
    for (auto &item : gemvs)
      groups.push_back(GemvGroup{{item}, {}});
  for (GemvGroup &g : groups) {
    if (g.members.size() == 1) {
      auto [op, qm] = g.members.front();
      OpBuilder b(op);
      QuantEmitter(b, op.getLoc(), qm, cfg).emitGemv();
      op->erase();
    } else {
      emitGroup(g, cfg);
    }
  }
  return static_cast<int64_t>(gemvs.size() + gemms.size());
}
