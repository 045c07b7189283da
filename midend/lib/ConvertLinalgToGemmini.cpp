//===- ConvertLinalgToGemmini.cpp - int8 matmul/conv/batch -> gemmini -----===//
//
// int8 x int8 -> i32 `linalg.matmul` on memrefs becomes
// `gemmini.tile_matmul` (see Passes.td and docs/gemmini.md). A preceding
// zero `linalg.fill` of C is folded away (the tile op overwrites C);
// otherwise C is passed as the MxN bias, which keeps linalg's C += A @ B.
// An int8 `linalg.conv_2d_nhwc_hwcf` / `conv_2d_nchw_fchw` becomes the same
// tile op on its im2col GEMM (GemminiConv.h), with the same fill and
// requantization epilogue (bias per output channel). An int8
// `linalg.batch_matmul` becomes an scf.for over the batch of the tile op on
// rank-2 subviews of batch i (fill and rank-3 epilogue, bias per column).
//
//===----------------------------------------------------------------------===//

#include "GemminiConv.h"
#include "buddy/Gemmini/GemminiDialect.h"
#include "buddy/Gemmini/Transforms.h"
#include "buddy/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace buddy {
#define GEN_PASS_DEF_CONVERTLINALGTOGEMMINI
#include "buddy/Passes.h.inc"
} // namespace buddy

using namespace mlir;

namespace {

bool isMemRefOf(Value v, unsigned bits) {
  auto t = dyn_cast<MemRefType>(v.getType());
  return t && t.getRank() == 2 && t.getElementType().isSignlessInteger(bits);
}

/// An int8 matmul Gemmini can run: memrefs i8, i8 -> i32, signed casts, the
/// default indexing maps.
bool isGemminiMatmul(linalg::MatmulOp op) {
  if (!op.hasPureBufferSemantics() || op.getInputs().size() != 2 || op.getOutputs().size() != 1)
    return false;
  if (!isMemRefOf(op.getInputs()[0], 8) || !isMemRefOf(op.getInputs()[1], 8) ||
      !isMemRefOf(op.getOutputs()[0], 32))
    return false;
  if (op.getCast() != linalg::TypeFn::cast_signed)
    return false;
  return op.getIndexingMapsArray() == linalg::MatmulOp::getDefaultIndexingMaps(op.getContext());
}

/// The zero fill of `c` directly before `op` in its block, with nothing in
/// between touching `c`.
linalg::FillOp zeroFillBefore(Operation *op, Value c) {
  for (Operation *prev = op->getPrevNode(); prev; prev = prev->getPrevNode()) {
    if (auto fill = dyn_cast<linalg::FillOp>(prev)) {
      if (fill.getOutputs().size() == 1 && fill.getOutputs()[0] == c) {
        if (matchPattern(fill.getInputs()[0], m_Zero()))
          return fill;
        return {};
      }
    }
    if (llvm::is_contained(prev->getOperands(), c) || prev->getNumRegions() != 0)
      return {};
  }
  return {};
}


/// The requantization the tile op does on an i8 C, as a `linalg.generic` that
/// reads `acc` (identity map, any rank) and optionally an i32 bias (per channel,
/// `(d0, ...) -> (d<channelDim>)`, or identity if `fullBias`), writes an i8
/// memref of acc's shape, and computes
///   fptosi(minimumf(maximumf(roundeven(sitofp(acc [+ bias]) * scale), -128), 127)),
/// optionally followed by `arith.maxsi %i, 0 : i8` (ReLU on the int8 value, as
/// mvout applies it after saturation).
struct Requant {
  linalg::GenericOp op;
  Value bias; // null: none
  Value out;
  float scale = 1.0f;
  bool relu = false;
};

bool isF32Const(Value v, float want) {
  FloatAttr a;
  return matchPattern(v, m_Constant(&a)) && a.getValueAsDouble() == double(want);
}

std::optional<Requant> matchRequant(linalg::GenericOp g, Value acc, unsigned channelDim,
                                    bool fullBias) {
  unsigned rank = cast<MemRefType>(acc.getType()).getRank();
  if (!g.hasPureBufferSemantics() || g.getNumDpsInits() != 1 || g.getNumLoops() != rank ||
      g.getNumParallelLoops() != rank)
    return std::nullopt;
  auto ins = g.getDpsInputs();
  if (ins.empty() || ins.size() > 2 || ins[0] != acc)
    return std::nullopt;
  Value out = g.getDpsInits()[0];
  auto outType = dyn_cast<MemRefType>(out.getType());
  if (!outType || outType.getRank() != rank || !outType.getElementType().isSignlessInteger(8))
    return std::nullopt;
  auto maps = g.getIndexingMapsArray();
  MLIRContext *ctx = g.getContext();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  if (maps.front() != id || maps.back() != id)
    return std::nullopt;
  Requant r{g, Value(), out};
  if (ins.size() == 2) {
    auto bt = dyn_cast<MemRefType>(ins[1].getType());
    if (!bt || !bt.getElementType().isSignlessInteger(32))
      return std::nullopt;
    AffineMap col = AffineMap::get(rank, 0, getAffineDimExpr(channelDim, ctx), ctx);
    if (!((bt.getRank() == 1 && maps[1] == col) ||
          (fullBias && bt.getRank() == int64_t(rank) && maps[1] == id)))
      return std::nullopt;
    r.bias = ins[1];
  }
  Block &body = g.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  Value result = yield.getValues()[0];
  if (auto mx = result.getDefiningOp<arith::MaxSIOp>()) {
    if (!matchPattern(mx.getRhs(), m_Zero()))
      return std::nullopt;
    r.relu = true;
    result = mx.getLhs();
  }
  auto toI = result.getDefiningOp<arith::FPToSIOp>();
  if (!toI)
    return std::nullopt;
  auto hi = toI.getIn().getDefiningOp<arith::MinimumFOp>();
  if (!hi || !isF32Const(hi.getRhs(), 127.0f))
    return std::nullopt;
  auto lo = hi.getLhs().getDefiningOp<arith::MaximumFOp>();
  if (!lo || !isF32Const(lo.getRhs(), -128.0f))
    return std::nullopt;
  auto rnd = lo.getLhs().getDefiningOp<math::RoundEvenOp>();
  if (!rnd)
    return std::nullopt;
  auto mul = rnd.getOperand().getDefiningOp<arith::MulFOp>();
  FloatAttr scale;
  if (!mul || !matchPattern(mul.getRhs(), m_Constant(&scale)) || !mul.getType().isF32())
    return std::nullopt;
  r.scale = float(scale.getValueAsDouble());
  if (!(r.scale > 0.0f))
    return std::nullopt;
  auto toF = mul.getLhs().getDefiningOp<arith::SIToFPOp>();
  if (!toF)
    return std::nullopt;
  Value sum = toF.getIn();
  if (r.bias) {
    auto add = sum.getDefiningOp<arith::AddIOp>();
    if (!add || add.getLhs() != body.getArgument(0) || add.getRhs() != body.getArgument(1))
      return std::nullopt;
  } else if (sum != body.getArgument(0)) {
    return std::nullopt;
  }
  // Nothing else in the body (constants aside).
  size_t ops = llvm::count_if(body, [](Operation &o) { return !isa<arith::ConstantOp>(o); });
  if (ops != size_t(7 + (r.bias ? 1 : 0) + (r.relu ? 1 : 0)))
    return std::nullopt;
  return r;
}

/// The generic after `op` (a matmul or conv) in its block that requantizes C,
/// if `acc` is read by nothing else (other than the zero fill, `op` and a dealloc).
std::optional<Requant> requantAfter(Operation *op, Value acc, linalg::FillOp fill,
                                    unsigned channelDim, bool fullBias) {
  if (!fill)
    return std::nullopt;
  linalg::GenericOp g;
  for (Operation *user : acc.getUsers()) {
    if (user == op || user == fill.getOperation() || isa<memref::DeallocOp>(user))
      continue;
    auto gen = dyn_cast<linalg::GenericOp>(user);
    if (!gen || g || gen->getBlock() != op->getBlock() || !op->isBeforeInBlock(gen))
      return std::nullopt;
    g = gen;
  }
  if (!g)
    return std::nullopt;
  // The tile op will read A and B where the generic is: only memory-effect-free ops
  // (constants, index math) may sit between the matmul and the generic.
  for (Operation *o = op->getNextNode(); o && o != g.getOperation(); o = o->getNextNode())
    if (!isMemoryEffectFree(o))
      return std::nullopt;
  return matchRequant(g, acc, channelDim, fullBias);
}

/// Erases `c`'s allocation if nothing but deallocs uses it any more.
void eraseDeadAlloc(Value c) {
  auto alloc = c.getDefiningOp<memref::AllocOp>();
  if (!alloc ||
      !llvm::all_of(alloc->getUsers(), [](Operation *u) { return isa<memref::DeallocOp>(u); }))
    return;
  for (Operation *u : llvm::make_early_inc_range(alloc->getUsers()))
    u->erase();
  alloc.erase();
}

/// The tile op writing `c`: requant(A @ B + bias) as `rq` says, else the i32
/// sum, onto C itself when there is no zero fill (linalg accumulates: C is its
/// own bias).
void createTile(OpBuilder &b, Location loc, Value a, Value bm, Value c,
                const std::optional<Requant> &rq, linalg::FillOp fill, StringRef dataflow) {
  Value bias = rq ? rq->bias : (fill ? Value() : c);
  buddy::gemmini::TileMatmulOp::create(b, loc, a, bm, c, bias,
                                       b.getF32FloatAttr(rq ? rq->scale : 1.0f),
                                       b.getStringAttr(dataflow),
                                       rq && rq->relu ? b.getUnitAttr() : nullptr);
}

/// Erases the converted `op` (whose i32 output is `acc`) with the zero fill and
/// the requantizing generic folded into its tile op, and `acc`'s buffer if that
/// is dead now.
void eraseConverted(Operation *op, Value acc, linalg::FillOp fill,
                    std::optional<Requant> rq) {
  if (rq)
    rq->op.erase();
  op->erase();
  if (fill)
    fill.erase();
  if (rq)
    eraseDeadAlloc(acc);
}

/// `cv` -> im2col + filter B + gemmini.tile_matmul (+ the NCHW transposes), with
/// the zero fill and the requantizing generic folded in when they match.
void convertConv(OpBuilder &b, const buddy::gemmini::GemminiConv &cv, StringRef dataflow) {
  linalg::FillOp fill = zeroFillBefore(cv.op, cv.out);
  std::optional<Requant> rq =
      requantAfter(cv.op, cv.out, fill, cv.channelDim(), /*fullBias=*/false);
  b.setInsertionPoint(rq ? rq->op.getOperation() : cv.op);
  Location loc = cv.op->getLoc();
  buddy::gemmini::ConvGemmOperands ab = buddy::gemmini::emitConvGemmOperands(b, cv);
  Value out = rq ? rq->out : cv.out;
  Value c = buddy::gemmini::emitConvResult(b, cv, out, /*copyIn=*/!fill);
  createTile(b, loc, ab.a, ab.b, c, rq, fill, dataflow);
  buddy::gemmini::finishConvResult(b, cv, out, c);
  for (Value t : ab.temps)
    memref::DeallocOp::create(b, loc, t);
  eraseConverted(cv.op, cv.out, fill, rq);
  buddy::gemmini::erasePaddedInput(cv);
}

/// An int8 batch_matmul Gemmini can run batch by batch: static identity-layout
/// memrefs [B,M,K] i8, [B,K,N] i8 -> [B,M,N] i32, signed casts, the default maps.
bool isGemminiBatchMatmul(linalg::BatchMatmulOp op) {
  if (!op.hasPureBufferSemantics() || op.getInputs().size() != 2 || op.getOutputs().size() != 1)
    return false;
  auto staticOf = [](Value v, unsigned bits) {
    auto t = dyn_cast<MemRefType>(v.getType());
    return t && t.getRank() == 3 && t.hasStaticShape() && t.getLayout().isIdentity() &&
           t.getElementType().isSignlessInteger(bits);
  };
  if (!staticOf(op.getInputs()[0], 8) || !staticOf(op.getInputs()[1], 8) ||
      !staticOf(op.getOutputs()[0], 32))
    return false;
  if (op.getCast() != linalg::TypeFn::cast_signed)
    return false;
  return op.getIndexingMapsArray() ==
         linalg::BatchMatmulOp::getDefaultIndexingMaps(op.getContext());
}

/// Batch `i` of the [B, R, C] memref `v` as an R x C subview (the batch
/// dimension dropped; rows still back to back, at a dynamic offset).
Value batchSlice(OpBuilder &b, Location loc, Value v, Value i) {
  auto t = cast<MemRefType>(v.getType());
  int64_t rows = t.getDimSize(1), cols = t.getDimSize(2);
  auto type = MemRefType::get(
      {rows, cols}, t.getElementType(),
      StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic, {cols, 1}));
  SmallVector<OpFoldResult> offsets{i, b.getIndexAttr(0), b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes{b.getIndexAttr(1), b.getIndexAttr(rows), b.getIndexAttr(cols)};
  SmallVector<OpFoldResult> strides(3, b.getIndexAttr(1));
  return memref::SubViewOp::create(b, loc, type, v, offsets, sizes, strides);
}

/// `op` -> scf.for over the batch of gemmini.tile_matmul on the batch's
/// subviews, with the zero fill and the rank-3 requantizing generic (bias per
/// column, [N]) folded in when they match.
void convertBatchMatmul(OpBuilder &b, linalg::BatchMatmulOp op, StringRef dataflow) {
  Value a = op.getInputs()[0], bm = op.getInputs()[1], c = op.getOutputs()[0];
  linalg::FillOp fill = zeroFillBefore(op, c);
  std::optional<Requant> rq = requantAfter(op, c, fill, /*channelDim=*/2, /*fullBias=*/false);
  b.setInsertionPoint(rq ? rq->op.getOperation() : op.getOperation());
  Location loc = op.getLoc();
  int64_t batch = cast<MemRefType>(c.getType()).getDimSize(0);
  auto loop = scf::ForOp::create(b, loc, arith::ConstantIndexOp::create(b, loc, 0),
                                 arith::ConstantIndexOp::create(b, loc, batch),
                                 arith::ConstantIndexOp::create(b, loc, 1));
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(loop.getBody()->getTerminator());
    Value i = loop.getInductionVar();
    Value ai = batchSlice(b, loc, a, i);
    Value bi = batchSlice(b, loc, bm, i);
    Value ci = batchSlice(b, loc, rq ? rq->out : c, i);
    createTile(b, loc, ai, bi, ci, rq, fill, dataflow);
  }
  eraseConverted(op, c, fill, rq);
}

struct ConvertLinalgToGemminiPass
    : buddy::impl::ConvertLinalgToGemminiBase<ConvertLinalgToGemminiPass> {
  using ConvertLinalgToGemminiBase::ConvertLinalgToGemminiBase;
  void runOnOperation() override {
    if (failed(buddy::gemmini::convertLinalgToGemmini(getOperation(), dataflow)))
      signalPassFailure();
  }
};

} // namespace

FailureOr<unsigned> buddy::gemmini::convertLinalgToGemmini(func::FuncOp f,
                                                           StringRef dataflow) {
  if (dataflow != "ws" && dataflow != "os") {
    f.emitError() << "buddy-convert-linalg-to-gemmini: dataflow must be ws or os, not '"
                  << dataflow << "'";
    return failure();
  }
  SmallVector<linalg::MatmulOp> matmuls;
  SmallVector<linalg::BatchMatmulOp> batchMatmuls;
  SmallVector<buddy::gemmini::GemminiConv> convs;
  f.walk([&](Operation *op) {
    if (auto mm = dyn_cast<linalg::MatmulOp>(op); mm && isGemminiMatmul(mm))
      matmuls.push_back(mm);
    else if (auto bmm = dyn_cast<linalg::BatchMatmulOp>(op); bmm && isGemminiBatchMatmul(bmm))
      batchMatmuls.push_back(bmm);
    else if (auto cv = buddy::gemmini::matchGemminiConv(op))
      convs.push_back(*cv);
  });
  OpBuilder b(f.getContext());
  for (const buddy::gemmini::GemminiConv &cv : convs)
    convertConv(b, cv, dataflow);
  for (linalg::BatchMatmulOp op : batchMatmuls)
    convertBatchMatmul(b, op, dataflow);
  for (linalg::MatmulOp op : matmuls) {
    Value c = op.getOutputs()[0];
    linalg::FillOp fill = zeroFillBefore(op, c);
    // With a requant: C = requant(A @ B + bias) straight into the i8 output.
    std::optional<Requant> rq = requantAfter(op, c, fill, /*channelDim=*/1, /*fullBias=*/true);
    b.setInsertionPoint(rq ? rq->op.getOperation() : op.getOperation());
    createTile(b, op.getLoc(), op.getInputs()[0], op.getInputs()[1], rq ? rq->out : c, rq, fill,
               dataflow);
    eraseConverted(op, c, fill, rq);
  }
  return static_cast<unsigned>(matmuls.size() + batchMatmuls.size() + convs.size());
}
