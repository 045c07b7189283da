//===- MemRefCopyToLinalg.cpp - memref.copy -> linalg.copy ----------------===//
//
// Rewrites memref.copy into linalg.copy so that copies lower to loops instead
// of calls into MLIR's C runner library (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "buddy/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"

namespace buddy {
#define GEN_PASS_DEF_MEMREFCOPYTOLINALG
#include "buddy/Passes.h.inc"
} // namespace buddy

using namespace mlir;

namespace {

struct MemRefCopyToLinalgPass
    : buddy::impl::MemRefCopyToLinalgBase<MemRefCopyToLinalgPass> {
  void runOnOperation() override {
    SmallVector<memref::CopyOp> copies;
    getOperation().walk([&](memref::CopyOp op) { copies.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (memref::CopyOp op : copies) {
      auto srcType = dyn_cast<MemRefType>(op.getSource().getType());
      auto dstType = dyn_cast<MemRefType>(op.getTarget().getType());
      // Unranked copies have no loop nest; leave them to the runtime call.
      if (!srcType || !dstType)
        continue;
      rewriter.setInsertionPoint(op);
      rewriter.replaceOpWithNewOp<linalg::CopyOp>(op, op.getSource(),
                                                  op.getTarget());
    }
  }
};

} // namespace
