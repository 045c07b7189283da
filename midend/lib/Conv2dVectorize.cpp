//===- Conv2dVectorize.cpp - register-blocked f32 2-D convolution ---------===//
//
// Rewrites statically shaped f32 linalg.conv_2d_nchw_fchw,
// linalg.conv_2d_ngchw_gfchw (grouped and depthwise) and
// linalg.conv_2d_nhwc_hwcf on memrefs (any strides and dilations; padding is
// already materialized by the frontend) into direct convolution kernels:
//
//  NCHW (vectorized along the output width):
//    scf.parallel (n, output-channel block, output-row block)
//      scf.for ow0 step ow-vectors * vw        (+ a tail tile, masked lanes)
//        acc[f][r][v] = O[n, f0+f, oh0+r, ow0+v*vw : +vw]
//        scf.for c, kh, kw:
//          x[r][v] = X[n, c, (oh0+r)*sh + kh*dh, (ow0+v*vw)*sw + kw*dw : stride sw]
//          acc[f][r][v] = fma(x[r][v], broadcast(W[f0+f, c, kh, kw]), acc)
//        O[...] = acc
//  NGCHW / GFCHW (grouped; depthwise is C = 1 per group): the NCHW kernel
//    with the group as one more parallel dimension, the reduction over the
//    group's C input channels only, and more rows per tile when a group has
//    fewer output channels than the channel block (same accumulator count).
//  NHWC / HWCF (vectorized along the output channels):
//    scf.parallel (n, oh, output-channel block)
//      scf.for ow0 step nhwc-pixels            (+ a tail tile)
//        acc[p][v] = O[n, oh, ow0+p, f0+v*vw : +vw]
//        scf.for kh, kw, c:
//          acc[p][v] = fma(broadcast(X[n, ih, (ow0+p)*sw + kw*dw, c]),
//                          W[kh, kw, c, f0+v*vw : +vw], acc)
//
// Strided input rows (NCHW, sw > 1) are read with two loads and an even-lane
// shuffle (sw = 2) or vector.gather. See Passes.td.
//
//===----------------------------------------------------------------------===//

#include "WindowEmitter.h"
#include "buddy/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace buddy {
#define GEN_PASS_DEF_CONV2DVECTORIZE
#include "buddy/Passes.h.inc"
} // namespace buddy

using namespace mlir;
using buddy::window::Emitter;
using buddy::window::laneCounts;

namespace {

struct ConvConfig {
  int64_t vw, ocBlock, owVectors, ohBlock, cBlock, nhwcPixels, nhwcOcVectors,
      threads;
  bool gemm1x1;
};

/// One matched convolution: input, filter, output and window parameters.
struct Conv : buddy::window::WindowOperands {
  bool nhwc = false;
  /// conv_2d_ngchw_gfchw: X (N, G, C, H, W), W (G, F, C, KH, KW),
  /// O (N, G, F, OH, OW); the NCHW kernel with a group index after the batch.
  bool grouped = false;
};

std::optional<Conv> matchConv(linalg::LinalgOp op) {
  Conv cv;
  DenseIntElementsAttr strides, dilations;
  if (auto c = dyn_cast<linalg::Conv2DNchwFchwOp>(op.getOperation())) {
    strides = c.getStrides();
    dilations = c.getDilations();
  } else if (auto c = dyn_cast<linalg::Conv2DNhwcHwcfOp>(op.getOperation())) {
    cv.nhwc = true;
    strides = c.getStrides();
    dilations = c.getDilations();
  } else if (auto c =
                 dyn_cast<linalg::Conv2DNgchwGfchwOp>(op.getOperation())) {
    cv.grouped = true;
    strides = c.getStrides();
    dilations = c.getDilations();
  } else {
    return std::nullopt;
  }
  auto operands = buddy::window::windowOperands(op, strides, dilations);
  if (!operands)
    return std::nullopt;
  static_cast<buddy::window::WindowOperands &>(cv) = *operands;
  // All-f32 named convolutions compute O += X * W without casts.
  int64_t rank = cv.grouped ? 5 : 4;
  if (!buddy::window::isStaticF32(cv.x, rank) ||
      !buddy::window::isStaticF32(cv.window, rank) ||
      !buddy::window::isStaticF32(cv.o, rank))
    return std::nullopt;
  return cv;
}

class ConvEmitter {
public:
  ConvEmitter(OpBuilder &b, Location loc, const Conv &cv, const ConvConfig &cfg)
      : e{b, loc, cfg.vw}, b(b), loc(loc), cv(cv), cfg(cfg) {}

  /// Whether the kernel computes O = X * W itself (accumulators start at
  /// zero) when asked to: false for the 1x1-as-matmul form.
  bool writesWholeOutput() const {
    return cv.nhwc || !(cfg.gemm1x1 && !cv.grouped && isPointwise());
  }

  /// `zeroInit`: O is all zeros on entry (the caller drops its fill), so the
  /// accumulators start at zero instead of being loaded from O.
  void emit(bool zeroInit) {
    this->zeroInit = zeroInit;
    if (cv.nhwc)
      return emitNhwc();
    if (cfg.gemm1x1 && !cv.grouped && isPointwise())
      return emitPointwiseAsMatmul();
    emitNchw();
  }

private:
  Emitter e;
  OpBuilder &b;
  Location loc;
  const Conv &cv;
  const ConvConfig &cfg;
  bool zeroInit = false;

  Value c(int64_t v) { return e.im.c(v); }

  scf::ParallelOp parallel(ArrayRef<int64_t> ubs) {
    SmallVector<Value> lb, ub, st;
    for (int64_t u : ubs) {
      lb.push_back(c(0));
      ub.push_back(c(u));
      st.push_back(c(1));
    }
    return scf::ParallelOp::create(b, loc, lb, ub, st);
  }

  // ------------------------------------------------------ NCHW 1x1 as GEMM
  /// 1x1 kernel, stride 1: O[n] (F x OH*OW) = W (F x C) * X[n] (C x H*W).
  bool isPointwise() const {
    auto ws = buddy::window::shapeOf(cv.window);
    auto xs = buddy::window::shapeOf(cv.x), os = buddy::window::shapeOf(cv.o);
    return ws[2] == 1 && ws[3] == 1 && cv.sh == 1 && cv.sw == 1 &&
           xs[2] == os[2] && xs[3] == os[3] && isIdentity(cv.x) &&
           isIdentity(cv.window) && isIdentity(cv.o);
  }
  static bool isIdentity(Value v) {
    return cast<MemRefType>(v.getType()).getLayout().isIdentity();
  }

  /// linalg.matmul on collapsed views (one per image), left for
  /// --buddy-matmul-vectorize / --buddy-gemv-vectorize.
  void emitPointwiseAsMatmul() {
    SmallVector<ReassociationIndices> wMap{{0}, {1, 2, 3}};
    Value w2 = memref::CollapseShapeOp::create(b, loc, cv.window, wMap);
    int64_t n = buddy::window::shapeOf(cv.o)[0];
    auto one = [&](Value x, Value o) {
      // x, o: C x H x W and F x OH x OW (rank-reduced image views).
      SmallVector<ReassociationIndices> m{{0}, {1, 2}};
      Value x2 = memref::CollapseShapeOp::create(b, loc, x, m);
      Value o2 = memref::CollapseShapeOp::create(b, loc, o, m);
      linalg::MatmulOp::create(b, loc, ValueRange{w2, x2}, ValueRange{o2});
    };
    auto image = [&](Value mem, Value ni) {
      auto s = buddy::window::shapeOf(mem);
      SmallVector<OpFoldResult> offs{ni, b.getIndexAttr(0), b.getIndexAttr(0),
                                     b.getIndexAttr(0)};
      SmallVector<OpFoldResult> sizes{b.getIndexAttr(1), b.getIndexAttr(s[1]),
                                      b.getIndexAttr(s[2]),
                                      b.getIndexAttr(s[3])};
      SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
      auto ty = memref::SubViewOp::inferRankReducedResultType(
          {s[1], s[2], s[3]}, cast<MemRefType>(mem.getType()), offs, sizes,
          strides);
      return (Value)memref::SubViewOp::create(b, loc, cast<MemRefType>(ty),
                                              mem, offs, sizes, strides);
    };
    e.forLoop(0, n, 1, [&](Value ni) { one(image(cv.x, ni), image(cv.o, ni)); });
  }

  // ---------------------------------------------------------------- NCHW
  /// Dimensions before the channel one: batch, then (grouped) the group.
  int64_t leadDims() const { return cv.grouped ? 2 : 1; }

  void emitNchw() {
    auto xs = buddy::window::shapeOf(cv.x), os = buddy::window::shapeOf(cv.o);
    int64_t l = leadDims();
    int64_t n = os[0], groups = cv.grouped ? os[1] : 1;
    int64_t f = os[l], oh = os[l + 1], ow = os[l + 2];
    int64_t vw = cfg.vw;
    int64_t owVecs = llvm::divideCeil(ow, vw);
    int64_t wb = std::min(cfg.owVectors, owVecs);
    int64_t fb = std::min(cfg.ocBlock, f);
    // Narrow rows: keep the accumulator count by blocking more rows; so do
    // groups with fewer output channels than the channel block (depthwise).
    int64_t rows = cfg.ohBlock * std::max<int64_t>(1, cfg.owVectors / wb);
    if (cv.grouped)
      rows *= std::max<int64_t>(1, cfg.ocBlock / fb);
    int64_t hb = std::min(oh, rows);
    int64_t fBlocks = llvm::divideCeil(f, fb);
    if (n * groups * fBlocks * llvm::divideCeil(oh, hb) < 2 * cfg.threads)
      hb = 1; // too few parallel tasks otherwise
    int64_t hBlocks = llvm::divideCeil(oh, hb);
    int64_t cin = xs[l];
    int64_t cb = channelBlock(cin);
    auto par = cv.grouped ? parallel({n, groups, fBlocks, hBlocks})
                          : parallel({n, fBlocks, hBlocks});
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(par.getBody()->getTerminator());
    Value ni = par.getInductionVars()[0];
    Value gi = cv.grouped ? par.getInductionVars()[1] : Value();
    Value fi = par.getInductionVars()[l];
    Value hi = par.getInductionVars()[l + 1];
    Value f0 = e.im.mul(fi, fb), oh0 = e.im.mul(hi, hb);
    e.staticSplit(fi, fBlocks, fb, f % fb, [&](int64_t fCount) {
      e.staticSplit(hi, hBlocks, hb, oh % hb, [&](int64_t hCount) {
        int64_t step = wb * vw;
        int64_t owFull = (ow / step) * step;
        // Input channels in blocks of cb: the rows and filter taps one block
        // of tiles reads stay in L1; the accumulators go through O between
        // blocks.
        // With zeroInit the first block starts from zero (peeled).
        auto block = [&](Value c0, bool fromZero) {
          e.forLoop(0, owFull, step, [&](Value ow0) {
            nchwTile(ni, gi, f0, fCount, oh0, hCount, ow0,
                     SmallVector<int64_t>(wb, vw), c0, cb, fromZero);
          });
          if (owFull < ow)
            nchwTile(ni, gi, f0, fCount, oh0, hCount, c(owFull),
                     laneCounts(ow - owFull, vw), c0, cb, fromZero);
        };
        if (zeroInit)
          block(c(0), true);
        if (!zeroInit || cb < cin)
          e.forLoop(zeroInit ? cb : 0, cin, cb,
                    [&](Value c0) { block(c0, false); });
      });
    });
  }

  /// The largest divisor of `cin` not above the c-block option, or `cin`
  /// (no blocking) when that divisor is below half of it.
  int64_t channelBlock(int64_t cin) {
    if (cfg.cBlock <= 0 || cin <= cfg.cBlock)
      return cin;
    for (int64_t d = cfg.cBlock; d >= (cfg.cBlock + 1) / 2; --d)
      if (cin % d == 0)
        return d;
    return cin;
  }

  /// `g`: the group index of a grouped convolution (null otherwise), a
  /// leading index of the input, filter and output.
  void nchwTile(Value n, Value g, Value f0, int64_t fCount, Value oh0,
                int64_t hCount, Value ow0, ArrayRef<int64_t> lanes, Value c0,
                int64_t cCount, bool fromZero) {
    auto ws = buddy::window::shapeOf(cv.window);
    int64_t kh = ws[ws.size() - 2], kw = ws[ws.size() - 1];
    // Image (input/output) and filter indices with the group's in front.
    auto image = [&](Value ch, Value row) {
      return g ? SmallVector<Value>{n, g, ch, row}
               : SmallVector<Value>{n, ch, row};
    };
    auto filter = [&](Value fo, Value ci, Value khi, Value kwi) {
      return g ? SmallVector<Value>{g, fo, ci, khi, kwi}
               : SmallVector<Value>{fo, ci, khi, kwi};
    };
    int64_t nv = lanes.size(), vw = cfg.vw;
    Value zero = e.splat(0.0f);
    SmallVector<Value> fIdx, ohIdx, owIdx;
    for (int64_t i = 0; i < fCount; ++i)
      fIdx.push_back(e.im.add(f0, i));
    for (int64_t r = 0; r < hCount; ++r)
      ohIdx.push_back(e.im.add(oh0, r));
    for (int64_t v = 0; v < nv; ++v)
      owIdx.push_back(e.im.add(ow0, v * vw));
    auto at = [&](int64_t i, int64_t r, int64_t v) {
      return (i * hCount + r) * nv + v;
    };
    SmallVector<Value> init(fCount * hCount * nv);
    for (int64_t i = 0; i < fCount; ++i)
      for (int64_t r = 0; r < hCount; ++r)
        for (int64_t v = 0; v < nv; ++v)
          init[at(i, r, v)] =
              fromZero ? zero
                       : e.loadRow(cv.o, image(fIdx[i], ohIdx[r]), owIdx[v],
                                   1, lanes[v], zero);
    // Input column of each vector's first lane (kw = 0).
    SmallVector<Value> iw0;
    for (int64_t v = 0; v < nv; ++v)
      iw0.push_back(e.im.mul(owIdx[v], cv.sw));
    SmallVector<Value> ih0;
    for (int64_t r = 0; r < hCount; ++r)
      ih0.push_back(e.im.mul(ohIdx[r], cv.sh));
    SmallVector<Value> acc = e.forIter(
        c0, e.im.add(c0, cCount), 1, init, [&](Value ci, ValueRange a0) {
          return e.forIter(0, kh, 1, a0, [&](Value khi, ValueRange a1) {
            Value dh = e.im.mul(khi, cv.dh);
            return e.forIter(0, kw, 1, a1, [&](Value kwi, ValueRange a2) {
              Value dw = e.im.mul(kwi, cv.dw);
              SmallVector<Value> xv(hCount * nv);
              for (int64_t r = 0; r < hCount; ++r) {
                Value ih = e.im.add(ih0[r], dh);
                for (int64_t v = 0; v < nv; ++v)
                  xv[r * nv + v] = e.loadRow(cv.x, image(ci, ih),
                                             e.im.add(iw0[v], dw), cv.sw,
                                             lanes[v], zero);
              }
              SmallVector<Value> next(a2.begin(), a2.end());
              for (int64_t i = 0; i < fCount; ++i) {
                Value s = memref::LoadOp::create(
                    b, loc, cv.window, filter(fIdx[i], ci, khi, kwi));
                Value wv = vector::BroadcastOp::create(b, loc, e.vecTy(), s);
                for (int64_t r = 0; r < hCount; ++r)
                  for (int64_t v = 0; v < nv; ++v)
                    next[at(i, r, v)] = vector::FMAOp::create(
                        b, loc, xv[r * nv + v], wv, next[at(i, r, v)]);
              }
              return next;
            });
          });
        });
    for (int64_t i = 0; i < fCount; ++i)
      for (int64_t r = 0; r < hCount; ++r)
        for (int64_t v = 0; v < nv; ++v)
          e.storeRow(acc[at(i, r, v)], cv.o, image(fIdx[i], ohIdx[r]),
                     owIdx[v], lanes[v]);
  }

  // ---------------------------------------------------------------- NHWC
  void emitNhwc() {
    auto os = buddy::window::shapeOf(cv.o);
    int64_t n = os[0], oh = os[1], ow = os[2], f = os[3];
    int64_t vw = cfg.vw;
    int64_t fStep = cfg.nhwcOcVectors * vw;
    int64_t fBlocks = llvm::divideCeil(f, fStep);
    int64_t pb = std::min(cfg.nhwcPixels, ow);
    auto par = parallel({n, oh, fBlocks});
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(par.getBody()->getTerminator());
    Value ni = par.getInductionVars()[0];
    Value ohi = par.getInductionVars()[1];
    Value fi = par.getInductionVars()[2];
    Value f0 = e.im.mul(fi, fStep);
    e.staticSplit(fi, fBlocks, fStep, f % fStep, [&](int64_t fCount) {
      SmallVector<int64_t> lanes = laneCounts(fCount, vw);
      int64_t owFull = (ow / pb) * pb;
      e.forLoop(0, owFull, pb, [&](Value ow0) {
        nhwcTile(ni, ohi, ow0, pb, f0, lanes);
      });
      if (owFull < ow)
        nhwcTile(ni, ohi, c(owFull), ow - owFull, f0, lanes);
    });
  }

  void nhwcTile(Value n, Value oh, Value ow0, int64_t pCount, Value f0,
                ArrayRef<int64_t> lanes) {
    auto xs = buddy::window::shapeOf(cv.x), ws = buddy::window::shapeOf(cv.window);
    int64_t cin = xs[3], kh = ws[0], kw = ws[1];
    int64_t nv = lanes.size(), vw = cfg.vw;
    Value zero = e.splat(0.0f);
    SmallVector<Value> owIdx, fIdx;
    for (int64_t p = 0; p < pCount; ++p)
      owIdx.push_back(e.im.add(ow0, p));
    for (int64_t v = 0; v < nv; ++v)
      fIdx.push_back(e.im.add(f0, v * vw));
    SmallVector<Value> init;
    for (int64_t p = 0; p < pCount; ++p)
      for (int64_t v = 0; v < nv; ++v)
        init.push_back(zeroInit ? zero
                                : e.loadRow(cv.o, {n, oh, owIdx[p]}, fIdx[v],
                                            1, lanes[v], zero));
    Value ih0 = e.im.mul(oh, cv.sh);
    SmallVector<Value> iw0;
    for (int64_t p = 0; p < pCount; ++p)
      iw0.push_back(e.im.mul(owIdx[p], cv.sw));
    SmallVector<Value> acc = e.forIter(
        0, kh, 1, init, [&](Value khi, ValueRange a0) {
          Value ih = e.im.add(ih0, e.im.mul(khi, cv.dh));
          return e.forIter(0, kw, 1, a0, [&](Value kwi, ValueRange a1) {
            Value dw = e.im.mul(kwi, cv.dw);
            SmallVector<Value> iw;
            for (int64_t p = 0; p < pCount; ++p)
              iw.push_back(e.im.add(iw0[p], dw));
            return e.forIter(0, cin, 1, a1, [&](Value ci, ValueRange a2) {
              SmallVector<Value> wv;
              for (int64_t v = 0; v < nv; ++v)
                wv.push_back(
                    e.loadRow(cv.window, {khi, kwi, ci}, fIdx[v], 1, lanes[v], zero));
              SmallVector<Value> next(a2.begin(), a2.end());
              for (int64_t p = 0; p < pCount; ++p) {
                Value s = memref::LoadOp::create(b, loc, cv.x,
                                                 ValueRange{n, ih, iw[p], ci});
                Value xv = vector::BroadcastOp::create(b, loc, e.vecTy(), s);
                for (int64_t v = 0; v < nv; ++v)
                  next[p * nv + v] =
                      vector::FMAOp::create(b, loc, xv, wv[v], next[p * nv + v]);
              }
              return next;
            });
          });
        });
    for (int64_t p = 0; p < pCount; ++p)
      for (int64_t v = 0; v < nv; ++v)
        e.storeRow(acc[p * nv + v], cv.o, {n, oh, owIdx[p]}, fIdx[v], lanes[v]);
  }
};

/// `v` without full reshapes (expand/collapse_shape) in front.
Value reshapeRoot(Value v) {
  while (true) {
    if (auto e = v.getDefiningOp<memref::ExpandShapeOp>())
      v = e.getSrc();
    else if (auto c = v.getDefiningOp<memref::CollapseShapeOp>())
      v = c.getSrc();
    else
      return v;
  }
}

/// The linalg.fill with +0.0 of all of `out` (the same buffer up to full
/// reshapes) that is the last thing to touch memory before `op` in its
/// block, i.e. only ops without memory effects other than allocation (views,
/// constants, allocs) lie in between; null otherwise.
linalg::FillOp zeroFillOf(Operation *op, Value out) {
  Value root = reshapeRoot(out);
  for (Operation *p = op->getPrevNode(); p; p = p->getPrevNode()) {
    if (auto fill = dyn_cast<linalg::FillOp>(p)) {
      if (!fill.hasPureBufferSemantics() ||
          reshapeRoot(fill.getOutputs()[0]) != root)
        return nullptr;
      FloatAttr f;
      if (!matchPattern(fill.getInputs()[0], m_Constant(&f)) ||
          !f.getValue().isPosZero())
        return nullptr;
      return fill;
    }
    auto mem = dyn_cast<MemoryEffectOpInterface>(p);
    if (!mem || p->getNumRegions() != 0)
      return nullptr;
    SmallVector<MemoryEffects::EffectInstance> effects;
    mem.getEffects(effects);
    if (llvm::any_of(effects, [](const MemoryEffects::EffectInstance &ef) {
          return !isa<MemoryEffects::Allocate>(ef.getEffect());
        }))
      return nullptr;
  }
  return nullptr;
}

struct Conv2dVectorizePass
    : buddy::impl::Conv2dVectorizeBase<Conv2dVectorizePass> {
  using Conv2dVectorizeBase::Conv2dVectorizeBase;

  void runOnOperation() override {
    if (vectorWidth <= 0 || ocBlock <= 0 || owVectors <= 0 || ohBlock <= 0 ||
        cBlock < 0 ||
        nhwcPixels <= 0 || nhwcOcVectors <= 0 || threads <= 0) {
      getOperation().emitError()
          << "buddy-conv2d-vectorize: all options must be positive";
      return signalPassFailure();
    }
    ConvConfig cfg{vectorWidth, ocBlock,       owVectors, ohBlock, cBlock,
                   nhwcPixels,  nhwcOcVectors, threads,   gemm1x1};
    SmallVector<std::pair<linalg::LinalgOp, Conv>> work;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (auto cv = matchConv(op))
        work.emplace_back(op, *cv);
    });
    for (auto &[op, cv] : work) {
      OpBuilder b(op);
      ConvEmitter emitter(b, op.getLoc(), cv, cfg);
      linalg::FillOp fill =
          emitter.writesWholeOutput() ? zeroFillOf(op, cv.o) : nullptr;
      emitter.emit(/*zeroInit=*/fill != nullptr);
      op->erase();
      if (fill)
        fill->erase();
    }
  }
};

} // namespace
