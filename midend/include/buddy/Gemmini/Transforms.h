//===- Transforms.h - transforms into and of the gemmini dialect -*- C++ -*-===//
#ifndef BUDDY_GEMMINI_TRANSFORMS_H
#define BUDDY_GEMMINI_TRANSFORMS_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Support/LLVM.h"

namespace buddy::gemmini {

/// Rewrites every int8 x int8 -> i32 `linalg.matmul` on memrefs in `f` into
/// `gemmini.tile_matmul` with `dataflow` ("ws" or "os"); returns how many.
/// See the pass description in Passes.td.
mlir::FailureOr<unsigned> convertLinalgToGemmini(mlir::func::FuncOp f,
                                                 llvm::StringRef dataflow);

} // namespace buddy::gemmini

#endif // BUDDY_GEMMINI_TRANSFORMS_H
