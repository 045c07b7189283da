//===- GemminiConv.cpp - int8 conv_2d as the GEMM Gemmini runs ------------===//
//
// See GemminiConv.h; used by --buddy-convert-linalg-to-gemmini.
//
//===----------------------------------------------------------------------===//

#include "GemminiConv.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

using namespace mlir;
using buddy::gemmini::GemminiConv;

namespace {

bool isStaticIdentity(Value v, unsigned bits) {
  auto t = dyn_cast<MemRefType>(v.getType());
  return t && t.getRank() == 4 && t.hasStaticShape() && t.getLayout().isIdentity() &&
         t.getElementType().isSignlessInteger(bits);
}

ArrayRef<int64_t> shapeOf(Value v) { return cast<MemRefType>(v.getType()).getShape(); }

/// Between the copy into the padded buffer and the conv, nothing may write
/// the unpadded input: only memory-effect-free ops, allocations and fills of
/// fresh allocations.
bool leavesAlone(Operation *from, Operation *to) {
  for (Operation *o = from->getNextNode(); o && o != to; o = o->getNextNode()) {
    if (isMemoryEffectFree(o) || isa<memref::AllocOp>(o))
      continue;
    auto fill = dyn_cast<linalg::FillOp>(o);
    if (!fill || !fill.getOutputs()[0].getDefiningOp<memref::AllocOp>())
      return false;
  }
  return true;
}

/// `x` (read by `conv`) as a padded copy, if it is one (see PaddedInput).
std::optional<buddy::gemmini::PaddedInput> matchPadded(Operation *conv, Value x, bool nchw) {
  auto alloc = x.getDefiningOp<memref::AllocOp>();
  if (!alloc || alloc->getBlock() != conv->getBlock())
    return std::nullopt;
  buddy::gemmini::PaddedInput p;
  p.alloc = alloc;
  for (Operation *u : alloc->getUsers()) {
    if (u == conv || isa<memref::DeallocOp>(u))
      continue;
    if (auto fill = dyn_cast<linalg::FillOp>(u); fill && !p.fill &&
                                                  fill.getOutputs()[0] == x &&
                                                  fill.getInputs()[0].getDefiningOp<arith::ConstantOp>()) {
      p.fill = fill;
      p.value = fill.getInputs()[0];
      continue;
    }
    auto sub = dyn_cast<memref::SubViewOp>(u);
    if (!sub || p.subview || !sub->hasOneUse())
      return std::nullopt;
    auto copy = dyn_cast<memref::CopyOp>(*sub->user_begin());
    if (!copy || copy.getTarget() != sub.getResult())
      return std::nullopt;
    p.subview = sub;
    p.copy = copy;
    p.src = copy.getSource();
  }
  if (!p.fill || !p.copy || p.fill->getBlock() != conv->getBlock() ||
      p.copy->getBlock() != conv->getBlock() || !p.fill->isBeforeInBlock(p.copy) ||
      !p.copy->isBeforeInBlock(conv) || !leavesAlone(p.copy, conv))
    return std::nullopt;
  auto sub = cast<memref::SubViewOp>(p.subview);
  auto srcType = dyn_cast<MemRefType>(p.src.getType());
  if (!srcType || !srcType.hasStaticShape() || !sub.hasUnitStride() ||
      llvm::any_of(sub.getStaticOffsets(), ShapedType::isDynamic) ||
      ArrayRef<int64_t>(sub.getStaticSizes()) != srcType.getShape())
    return std::nullopt;
  ArrayRef<int64_t> offs = sub.getStaticOffsets();
  unsigned h = nchw ? 2 : 1, w = nchw ? 3 : 2, c = nchw ? 1 : 3;
  if (offs[0] != 0 || offs[c] != 0)
    return std::nullopt;
  p.ph = offs[h];
  p.pw = offs[w];
  return p;
}

template <typename ConvOp>
std::optional<GemminiConv> match(ConvOp op, bool nchw) {
  if (!op.hasPureBufferSemantics() || op.getInputs().size() != 2 || op.getOutputs().size() != 1)
    return std::nullopt;
  GemminiConv cv;
  cv.op = op.getOperation();
  cv.nchw = nchw;
  cv.x = op.getInputs()[0];
  cv.w = op.getInputs()[1];
  cv.out = op.getOutputs()[0];
  if (!isStaticIdentity(cv.x, 8) || !isStaticIdentity(cv.w, 8) || !isStaticIdentity(cv.out, 32))
    return std::nullopt;
  auto xs = shapeOf(cv.x), ws = shapeOf(cv.w), os = shapeOf(cv.out);
  cv.n = xs[0];
  cv.c = nchw ? xs[1] : xs[3];
  cv.oh = nchw ? os[2] : os[1];
  cv.ow = nchw ? os[3] : os[2];
  cv.f = nchw ? ws[0] : ws[3];
  cv.kh = nchw ? ws[2] : ws[0];
  cv.kw = nchw ? ws[3] : ws[1];
  auto strides = llvm::to_vector(op.getStrides().template getValues<int64_t>());
  auto dilations = llvm::to_vector(op.getDilations().template getValues<int64_t>());
  cv.sh = strides[0];
  cv.sw = strides[1];
  cv.dh = dilations[0];
  cv.dw = dilations[1];
  cv.pad = matchPadded(op.getOperation(), cv.x, nchw);
  return cv;
}

Value alloc(OpBuilder &b, Location loc, ArrayRef<int64_t> shape, Type elem) {
  return memref::AllocOp::create(b, loc, MemRefType::get(shape, elem),
                                 b.getI64IntegerAttr(64));
}

Value collapse(OpBuilder &b, Location loc, Value v, ArrayRef<ReassociationIndices> groups) {
  return memref::CollapseShapeOp::create(b, loc, v, groups);
}

/// The im2col of a padded input: for each element of `col`, the unpadded
/// input at the window position minus the padding, or the fill value where
/// that falls outside it (the load index is clamped so it stays in bounds).
void emitPaddedIm2col(OpBuilder &b, Location loc, const GemminiConv &cv, Value col,
                      AffineMap id6, ArrayRef<utils::IteratorType> iters) {
  const buddy::gemmini::PaddedInput &p = *cv.pad;
  ArrayRef<int64_t> srcShape = cast<MemRefType>(p.src.getType()).getShape();
  unsigned hDim = cv.nchw ? 2 : 1, wDim = cv.nchw ? 3 : 2;
  linalg::GenericOp::create(
      b, loc, ValueRange{}, ValueRange{col}, {id6}, iters,
      [&](OpBuilder &nb, Location l, ValueRange) {
        auto index = [&](unsigned i) -> Value { return linalg::IndexOp::create(nb, l, i); };
        auto cst = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(nb, l, v); };
        // d0 = n, d1 = oh, d2 = ow; (c, kh, kw) for NCHW, (kh, kw, c) for NHWC.
        Value kh = index(cv.nchw ? 4 : 3), kw = index(cv.nchw ? 5 : 4), c = index(cv.nchw ? 3 : 5);
        Value inside;
        auto coord = [&](Value o, int64_t s, Value k, int64_t d, int64_t pad,
                         int64_t size) -> Value {
          Value v = arith::AddIOp::create(nb, l, arith::MulIOp::create(nb, l, o, cst(s)),
                                          arith::MulIOp::create(nb, l, k, cst(d)));
          v = arith::SubIOp::create(nb, l, v, cst(pad));
          // Unsigned: a negative coordinate is outside too.
          Value in = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::ult, v, cst(size));
          inside = inside ? arith::AndIOp::create(nb, l, inside, in).getResult() : in;
          return arith::MinSIOp::create(nb, l, arith::MaxSIOp::create(nb, l, v, cst(0)),
                                        cst(size - 1));
        };
        Value ih = coord(index(1), cv.sh, kh, cv.dh, p.ph, srcShape[hDim]);
        Value iw = coord(index(2), cv.sw, kw, cv.dw, p.pw, srcShape[wDim]);
        SmallVector<Value> idx = cv.nchw ? SmallVector<Value>{index(0), c, ih, iw}
                                         : SmallVector<Value>{index(0), ih, iw, c};
        Value load = memref::LoadOp::create(nb, l, p.src, idx);
        linalg::YieldOp::create(nb, l,
                                arith::SelectOp::create(nb, l, inside, load, p.value).getResult());
      });
}

} // namespace

void buddy::gemmini::erasePaddedInput(const GemminiConv &cv) {
  if (!cv.pad)
    return;
  Operation *alloc = cv.pad->alloc;
  for (Operation *u : alloc->getUsers())
    if (u != cv.pad->fill && u != cv.pad->subview && !isa<memref::DeallocOp>(u))
      return;
  cv.pad->copy->erase();
  cv.pad->subview->erase();
  cv.pad->fill->erase();
  for (Operation *u : llvm::make_early_inc_range(alloc->getUsers()))
    u->erase();
  alloc->erase();
}

std::optional<GemminiConv> buddy::gemmini::matchGemminiConv(Operation *op) {
  if (auto c = dyn_cast<linalg::Conv2DNhwcHwcfOp>(op))
    return match(c, /*nchw=*/false);
  if (auto c = dyn_cast<linalg::Conv2DNchwFchwOp>(op))
    return match(c, /*nchw=*/true);
  return std::nullopt;
}

buddy::gemmini::ConvGemmOperands
buddy::gemmini::emitConvGemmOperands(OpBuilder &b, const GemminiConv &cv) {
  Location loc = cv.op->getLoc();
  MLIRContext *ctx = b.getContext();
  Type i8 = b.getI8Type();
  ConvGemmOperands r;

  // im2col: a 6-D buffer [N, OH, OW, <K dims>] written by a copy whose input map
  // places the window; collapsed to [N*OH*OW, K].
  SmallVector<int64_t> colShape{cv.n, cv.oh, cv.ow};
  if (cv.nchw)
    colShape.append({cv.c, cv.kh, cv.kw});
  else
    colShape.append({cv.kh, cv.kw, cv.c});
  Value col = alloc(b, loc, colShape, i8);
  auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
  // d0 = n, d1 = oh, d2 = ow; the K dims follow in colShape's order.
  AffineExpr kh = cv.nchw ? d(4) : d(3), kw = cv.nchw ? d(5) : d(4), c = cv.nchw ? d(3) : d(5);
  AffineExpr ih = d(1) * cv.sh + kh * cv.dh, iw = d(2) * cv.sw + kw * cv.dw;
  SmallVector<AffineExpr> src =
      cv.nchw ? SmallVector<AffineExpr>{d(0), c, ih, iw} : SmallVector<AffineExpr>{d(0), ih, iw, c};
  SmallVector<utils::IteratorType> iters(6, utils::IteratorType::parallel);
  AffineMap id6 = AffineMap::getMultiDimIdentityMap(6, ctx);
  if (cv.pad)
    emitPaddedIm2col(b, loc, cv, col, id6, iters);
  else
    linalg::GenericOp::create(b, loc, ValueRange{cv.x}, ValueRange{col},
                              {AffineMap::get(6, 0, src, ctx), id6}, iters,
                              [](OpBuilder &nb, Location l, ValueRange args) {
                                linalg::YieldOp::create(nb, l, args[0]);
                              });
  r.a = collapse(b, loc, col, {{0, 1, 2}, {3, 4, 5}});
  r.temps.push_back(col);

  if (!cv.nchw) {
    r.b = collapse(b, loc, cv.w, {{0, 1, 2}, {3}});
    return r;
  }
  // FCHW collapsed is [F, C*KH*KW]: its transpose is B.
  int64_t k = cv.c * cv.kh * cv.kw;
  Value wt = alloc(b, loc, {k, cv.f}, i8);
  linalg::TransposeOp::create(b, loc, collapse(b, loc, cv.w, {{0}, {1, 2, 3}}), wt,
                              ArrayRef<int64_t>{1, 0});
  r.b = wt;
  r.temps.push_back(wt);
  return r;
}

Value buddy::gemmini::emitConvResult(OpBuilder &b, const GemminiConv &cv, Value out,
                                     bool copyIn) {
  Location loc = cv.op->getLoc();
  if (!cv.nchw)
    return collapse(b, loc, out, {{0, 1, 2}, {3}});
  // [N, OH*OW, F], the transpose of the output's [N, F, OH*OW].
  Type elem = cast<MemRefType>(out.getType()).getElementType();
  Value buf = alloc(b, loc, {cv.n, cv.oh * cv.ow, cv.f}, elem);
  if (copyIn)
    linalg::TransposeOp::create(b, loc, collapse(b, loc, out, {{0}, {1}, {2, 3}}), buf,
                                ArrayRef<int64_t>{0, 2, 1});
  return collapse(b, loc, buf, {{0, 1}, {2}});
}

void buddy::gemmini::finishConvResult(OpBuilder &b, const GemminiConv &cv, Value out,
                                      Value result) {
  if (!cv.nchw)
    return;
  Location loc = cv.op->getLoc();
  Value buf = result.getDefiningOp<memref::CollapseShapeOp>().getSrc();
  linalg::TransposeOp::create(b, loc, buf, collapse(b, loc, out, {{0}, {1}, {2, 3}}),
                              ArrayRef<int64_t>{0, 2, 1});
  memref::DeallocOp::create(b, loc, buf);
}
