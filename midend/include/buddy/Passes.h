//===- Passes.h - Buddy midend passes ---------------------------*- C++ -*-===//
#ifndef BUDDY_PASSES_H
#define BUDDY_PASSES_H

#include "buddy/Gemmini/GemminiDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Pass/Pass.h"

namespace buddy {

#define GEN_PASS_DECL
#include "buddy/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "buddy/Passes.h.inc"

} // namespace buddy

#endif // BUDDY_PASSES_H
