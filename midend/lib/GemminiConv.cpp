//===- GemminiConv.cpp - int8 conv_2d as the GEMM Gemmini runs ------------===//
//
// See GemminiConv.h; used by --buddy-convert-linalg-to-gemmini.
//
//===----------------------------------------------------------------------===//

#include "GemminiConv.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using buddy::gemmini::GemminiConv;

namespace {

bool isStaticIdentity(Value v, unsigned bits) {
  auto t = dyn_cast<MemRefType>(v.getType());
  return t && t.getRank() == 4 && t.hasStaticShape() && t.getLayout().isIdentity() &&
         t.getElementType().isSignlessInteger(bits);
}

ArrayRef<int64_t> shapeOf(Value v) { return cast<MemRefType>(v.getType()).getShape(); }

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
  return cv;
}

Value alloc(OpBuilder &b, Location loc, ArrayRef<int64_t> shape, Type elem) {
  return memref::AllocOp::create(b, loc, MemRefType::get(shape, elem),
                                 b.getI64IntegerAttr(64));
}

Value collapse(OpBuilder &b, Location loc, Value v, ArrayRef<ReassociationIndices> groups) {
  return memref::CollapseShapeOp::create(b, loc, v, groups);
}

} // namespace

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
  SmallVector<AffineMap> maps{AffineMap::get(6, 0, src, ctx),
                              AffineMap::getMultiDimIdentityMap(6, ctx)};
  SmallVector<utils::IteratorType> iters(6, utils::IteratorType::parallel);
  linalg::GenericOp::create(b, loc, ValueRange{cv.x}, ValueRange{col}, maps, iters,
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
