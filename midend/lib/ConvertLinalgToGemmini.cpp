//===- ConvertLinalgToGemmini.cpp - int8 linalg.matmul -> gemmini ---------===//
//
// int8 x int8 -> i32 `linalg.matmul` on memrefs becomes
// `gemmini.tile_matmul` (see Passes.td and docs/gemmini.md). A preceding
// zero `linalg.fill` of C is folded away (the tile op overwrites C);
// otherwise C is passed as the MxN bias, which keeps linalg's C += A @ B.
//
//===----------------------------------------------------------------------===//

#include "buddy/Gemmini/GemminiDialect.h"
#include "buddy/Gemmini/Transforms.h"
#include "buddy/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Matchers.h"

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
linalg::FillOp zeroFillBefore(linalg::MatmulOp op, Value c) {
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
  f.walk([&](linalg::MatmulOp op) {
    if (isGemminiMatmul(op))
      matmuls.push_back(op);
  });
  OpBuilder b(f.getContext());
  for (linalg::MatmulOp op : matmuls) {
    Value a = op.getInputs()[0], bm = op.getInputs()[1], c = op.getOutputs()[0];
    linalg::FillOp fill = zeroFillBefore(op, c);
    b.setInsertionPoint(op);
    auto tile = buddy::gemmini::TileMatmulOp::create(b, op.getLoc(), a, bm, c, fill ? Value() : c,
                                     b.getF32FloatAttr(1.0f), b.getStringAttr(dataflow),
                                     /*relu=*/nullptr);
    (void)tile;
    op.erase();
    if (fill)
      fill.erase();
  }
  return static_cast<unsigned>(matmuls.size());
}
