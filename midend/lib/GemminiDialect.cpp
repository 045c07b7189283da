//===- GemminiDialect.cpp - the gemmini dialect and its verifiers ---------===//
#include "buddy/Gemmini/GemminiDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"

using namespace mlir;
using namespace buddy::gemmini;

#include "buddy/Gemmini/GemminiDialect.cpp.inc"

#define GET_OP_CLASSES
#include "buddy/Gemmini/GemminiOps.cpp.inc"

void GemminiDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "buddy/Gemmini/GemminiOps.cpp.inc"
      >();
}

namespace {
/// Two sizes agree unless both are static and differ.
bool compatible(int64_t x, int64_t y) {
  return ShapedType::isDynamic(x) || ShapedType::isDynamic(y) || x == y;
}
} // namespace

LogicalResult TileMatmulOp::verify() {
  auto a = getA().getType(), b = getB().getType(), c = getC().getType();
  if (!compatible(a.getDimSize(1), b.getDimSize(0)))
    return emitOpError("A is ") << a.getDimSize(0) << "x" << a.getDimSize(1) << " but B has "
                                << b.getDimSize(0) << " rows";
  if (!compatible(c.getDimSize(0), a.getDimSize(0)) ||
      !compatible(c.getDimSize(1), b.getDimSize(1)))
    return emitOpError("C must be MxN = ") << a.getDimSize(0) << "x" << b.getDimSize(1);
  if (Value bias = getBias()) {
    auto t = cast<MemRefType>(bias.getType());
    bool ok = t.getRank() == 1 ? compatible(t.getDimSize(0), b.getDimSize(1))
                               : compatible(t.getDimSize(0), a.getDimSize(0)) &&
                                     compatible(t.getDimSize(1), b.getDimSize(1));
    if (!ok)
      return emitOpError("bias must be N or MxN");
  }
  if (getDataflow() != "ws" && getDataflow() != "os")
    return emitOpError("dataflow must be \"ws\" or \"os\", not \"") << getDataflow() << "\"";
  if (c.getElementType().isInteger(32) && (getScale().convertToFloat() != 1.0f || getRelu()))
    return emitOpError("an i32 C is the exact sum: scale must be 1 and relu absent");
  if (!(getScale().convertToFloat() > 0.0f))
    return emitOpError("scale must be positive");
  return success();
}
