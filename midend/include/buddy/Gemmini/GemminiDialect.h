//===- GemminiDialect.h - the gemmini dialect -------------------*- C++ -*-===//
#ifndef BUDDY_GEMMINI_GEMMINIDIALECT_H
#define BUDDY_GEMMINI_GEMMINIDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"

#include "buddy/Gemmini/GemminiDialect.h.inc"

#define GET_OP_CLASSES
#include "buddy/Gemmini/GemminiOps.h.inc"

#endif // BUDDY_GEMMINI_GEMMINIDIALECT_H
