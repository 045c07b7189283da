//===- PoolingVectorize.cpp - vectorized f32 2-D max/sum pooling ----------===//
//
// Rewrites statically shaped f32 linalg.pooling_nchw_max/sum and
// linalg.pooling_nhwc_max/sum on memrefs (any strides and dilations; padding
// is already materialized by the frontend) into vector loops:
//
//  NCHW (vectorized along the output width):
//    scf.parallel (n, c, oh)
//      scf.for ow0 step vectors * vw           (+ a tail tile, masked lanes)
//        acc[v] = O[n, c, oh, ow0+v*vw : +vw]
//        scf.for kh, kw:
//          acc[v] = max|add(acc[v], X[n, c, oh*sh + kh*dh, (ow0+v*vw)*sw + kw*dw
//                                     : stride sw])
//  NHWC (vectorized along the channels):
//    scf.parallel (n, oh, ow)
//      scf.for c0 step vectors * vw            (+ a tail tile, masked lanes)
//        acc[v] = O[n, oh, ow, c0+v*vw : +vw]
//        scf.for kh, kw: acc[v] = max|add(acc[v], X[n, ih, iw, c0+v*vw : +vw])
//
// The combiner is the named op's: arith.maximumf (NaN-propagating) or
// arith.addf. Strided rows (NCHW, sw > 1) are read with two loads and an
// even-lane shuffle (sw = 2) or vector.gather. See Passes.td.
//
//===----------------------------------------------------------------------===//

#include "WindowEmitter.h"
#include "buddy/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace buddy {
#define GEN_PASS_DEF_POOLINGVECTORIZE
#include "buddy/Passes.h.inc"
} // namespace buddy

using namespace mlir;
using buddy::window::Emitter;
using buddy::window::laneCounts;

namespace {

struct Pool : buddy::window::WindowOperands {
  bool nhwc = false, isMax = false;
  int64_t kh = 1, kw = 1;
};

std::optional<Pool> matchPool(linalg::LinalgOp op) {
  Pool p;
  DenseIntElementsAttr strides, dilations;
  if (auto q = dyn_cast<linalg::PoolingNchwMaxOp>(op.getOperation())) {
    p.isMax = true;
    strides = q.getStrides();
    dilations = q.getDilations();
  } else if (auto q = dyn_cast<linalg::PoolingNchwSumOp>(op.getOperation())) {
    strides = q.getStrides();
    dilations = q.getDilations();
  } else if (auto q = dyn_cast<linalg::PoolingNhwcMaxOp>(op.getOperation())) {
    p.nhwc = p.isMax = true;
    strides = q.getStrides();
    dilations = q.getDilations();
  } else if (auto q = dyn_cast<linalg::PoolingNhwcSumOp>(op.getOperation())) {
    p.nhwc = true;
    strides = q.getStrides();
    dilations = q.getDilations();
  } else {
    return std::nullopt;
  }
  auto operands = buddy::window::windowOperands(op, strides, dilations);
  if (!operands)
    return std::nullopt;
  static_cast<buddy::window::WindowOperands &>(p) = *operands;
  // The window operand only carries the window's shape.
  auto win = dyn_cast<ShapedType>(p.window.getType());
  if (!win || win.getRank() != 2 || !win.hasStaticShape())
    return std::nullopt;
  p.kh = win.getShape()[0];
  p.kw = win.getShape()[1];
  if (!buddy::window::isStaticF32(p.x, 4) || !buddy::window::isStaticF32(p.o, 4))
    return std::nullopt;
  return p;
}

class PoolEmitter {
public:
  PoolEmitter(OpBuilder &b, Location loc, const Pool &p, int64_t vw,
              int64_t vectors)
      : e{b, loc, vw}, b(b), loc(loc), p(p), vw(vw), vectors(vectors) {}

  void emit() {
    auto os = buddy::window::shapeOf(p.o);
    // NCHW: (n, c, oh) parallel, ow vectorized; NHWC: (n, oh, ow), c.
    int64_t inner = os[3];
    SmallVector<Value> lb, ub, st;
    for (int i = 0; i < 3; ++i) {
      lb.push_back(e.im.c(0));
      ub.push_back(e.im.c(os[i]));
      st.push_back(e.im.c(1));
    }
    auto par = scf::ParallelOp::create(b, loc, lb, ub, st);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(par.getBody()->getTerminator());
    ValueRange iv = par.getInductionVars();
    int64_t step =
        std::min<int64_t>(vectors, llvm::divideCeil(inner, vw)) * vw;
    int64_t full = (inner / step) * step;
    e.forLoop(0, full, step, [&](Value i0) {
      tile(iv, i0, SmallVector<int64_t>(step / vw, vw));
    });
    if (full < inner)
      tile(iv, e.im.c(full), laneCounts(inner - full, vw));
  }

private:
  Emitter e;
  OpBuilder &b;
  Location loc;
  const Pool &p;
  int64_t vw, vectors;

  Value combine(Value acc, Value x) {
    if (p.isMax)
      return arith::MaximumFOp::create(b, loc, acc, x);
    return arith::AddFOp::create(b, loc, acc, x);
  }

  void tile(ValueRange iv, Value i0, ArrayRef<int64_t> lanes) {
    int64_t nv = lanes.size();
    Value pad = e.splat(0.0f);
    SmallVector<Value> outIdx(iv.begin(), iv.end());
    SmallVector<Value> at;
    for (int64_t v = 0; v < nv; ++v)
      at.push_back(e.im.add(i0, v * vw));
    SmallVector<Value> init;
    for (int64_t v = 0; v < nv; ++v)
      init.push_back(e.loadRow(p.o, outIdx, at[v], 1, lanes[v], pad));
    // NCHW: iv = (n, c, oh); NHWC: iv = (n, oh, ow).
    Value ihBase = e.im.mul(p.nhwc ? iv[1] : iv[2], p.sh);
    SmallVector<Value> iwBase;
    if (p.nhwc)
      iwBase.push_back(e.im.mul(iv[2], p.sw));
    else
      for (int64_t v = 0; v < nv; ++v)
        iwBase.push_back(e.im.mul(at[v], p.sw));
    SmallVector<Value> acc = e.forIter(
        0, p.kh, 1, init, [&](Value khi, ValueRange a0) {
          Value ih = e.im.add(ihBase, e.im.mul(khi, p.dh));
          return e.forIter(0, p.kw, 1, a0, [&](Value kwi, ValueRange a1) {
            Value dw = e.im.mul(kwi, p.dw);
            SmallVector<Value> next;
            for (int64_t v = 0; v < nv; ++v) {
              Value x;
              if (p.nhwc)
                x = e.loadRow(p.x, {iv[0], ih, e.im.add(iwBase[0], dw)}, at[v],
                              1, lanes[v], pad);
              else
                x = e.loadRow(p.x, {iv[0], iv[1], ih},
                              e.im.add(iwBase[v], dw), p.sw, lanes[v], pad);
              next.push_back(combine(a1[v], x));
            }
            return next;
          });
        });
    for (int64_t v = 0; v < nv; ++v)
      e.storeRow(acc[v], p.o, outIdx, at[v], lanes[v]);
  }
};

struct PoolingVectorizePass
    : buddy::impl::PoolingVectorizeBase<PoolingVectorizePass> {
  using PoolingVectorizeBase::PoolingVectorizeBase;

  void runOnOperation() override {
    if (vectorWidth <= 0 || vectors <= 0) {
      getOperation().emitError()
          << "buddy-pooling-vectorize: all options must be positive";
      return signalPassFailure();
    }
    SmallVector<std::pair<linalg::LinalgOp, Pool>> work;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (auto p = matchPool(op))
        work.emplace_back(op, *p);
    });
    for (auto &[op, p] : work) {
      OpBuilder b(op);
      PoolEmitter(b, op.getLoc(), p, vectorWidth, vectors).emit();
      op->erase();
    }
  }
};

} // namespace
