//===- ElementwiseEpilogue.h - fuse an elementwise consumer into a kernel -*- C++ -*-===//
//
// A matmul kernel holds each tile of C in vector registers before storing
// it. When the only reader of C is an elementwise linalg.generic (bias add,
// activation, residual add, ... as left by linalg elementwise fusion), the
// kernel can apply the generic's body to the registers and store the
// generic's output directly: C is never written back and read again.
//
//   matchEpilogue(matmul, C)  finds such a generic and checks it is safe;
//   EpilogueEmitter           applies its body to one vector of C.
//
//===----------------------------------------------------------------------===//
#ifndef BUDDY_MIDEND_ELEMENTWISEEPILOGUE_H
#define BUDDY_MIDEND_ELEMENTWISEEPILOGUE_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Dominance.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include <optional>

namespace buddy {
namespace kernel {

/// An elementwise linalg.generic consuming a kernel's result C.
struct Epilogue {
  mlir::linalg::GenericOp op;
  unsigned cInput; ///< which input of `op` is C
  mlir::Value out; ///< the generic's output buffer (same shape as C)
};

inline bool isScalarIntOrFloat(mlir::Type t) {
  return llvm::isa<mlir::FloatType, mlir::IntegerType>(t);
}

/// A generic whose body the epilogue can apply lane-wise: every op is an
/// elementwise-mappable arith/math op on scalars, and values from outside
/// the body are scalars (broadcast).
inline bool hasVectorizableBody(mlir::linalg::GenericOp gen) {
  mlir::Block &body = gen.getRegion().front();
  unsigned nIn = gen.getNumDpsInputs();
  if (!body.getArgument(nIn).use_empty()) // the output's old value is read
    return false;
  for (mlir::Operation &op : body.without_terminator()) {
    llvm::StringRef ns = op.getDialect() ? op.getDialect()->getNamespace() : "";
    if ((ns != "arith" && ns != "math") || op.getNumRegions() != 0)
      return false;
    bool isConst = llvm::isa<mlir::arith::ConstantOp>(op);
    if (!isConst && !op.hasTrait<mlir::OpTrait::Elementwise>())
      return false;
    for (mlir::Type t : op.getResultTypes())
      if (!isScalarIntOrFloat(t))
        return false;
    for (mlir::Value v : op.getOperands())
      if (!isScalarIntOrFloat(v.getType()))
        return false;
  }
  return true;
}

/// The memref a view-like chain starts from.
inline mlir::Value rootBuffer(mlir::Value v) {
  while (auto *def = v.getDefiningOp()) {
    auto view = llvm::dyn_cast<mlir::ViewLikeOpInterface>(def);
    if (!view)
      break;
    v = view.getViewSource();
  }
  return v;
}

/// The elementwise generic right after `kernel` (only memory-effect-free ops
/// in between) that reads `c` once through the identity map and writes a
/// buffer of C's type that no input aliases. `c` must be a local allocation
/// used by nothing but `kernel`, an optional fill, that generic and its
/// deallocation, so nobody else observes that C is never written. Every
/// value the generic uses must already exist where the kernel is emitted.
inline std::optional<Epilogue> matchEpilogue(mlir::Operation *kernel,
                                             mlir::Value c,
                                             mlir::DominanceInfo &dom) {
  using namespace mlir;
  auto cTy = llvm::dyn_cast<MemRefType>(c.getType());
  if (!cTy || !cTy.hasStaticShape() || !c.getDefiningOp<memref::AllocOp>())
    return std::nullopt;
  linalg::GenericOp gen;
  for (Operation *next = kernel->getNextNode(); next;
       next = next->getNextNode()) {
    if ((gen = llvm::dyn_cast<linalg::GenericOp>(next)))
      break;
    if (!isMemoryEffectFree(next))
      return std::nullopt;
  }
  if (!gen || !gen.hasPureBufferSemantics() || gen.getNumDpsInits() != 1 ||
      gen.getNumLoops() != static_cast<unsigned>(cTy.getRank()) ||
      gen.getNumReductionLoops() != 0 || !hasVectorizableBody(gen))
    return std::nullopt;
  Value out = gen.getDpsInitOperand(0)->get();
  if (out.getType() != c.getType() ||
      !gen.getMatchingIndexingMap(gen.getDpsInitOperand(0)).isIdentity())
    return std::nullopt;
  int64_t rank = cTy.getRank();
  std::optional<unsigned> cInput;
  Value outRoot = rootBuffer(out);
  for (OpOperand *in : gen.getDpsInputOperands()) {
    Value v = in->get();
    AffineMap map = gen.getMatchingIndexingMap(in);
    if (v == c) {
      if (cInput || !map.isIdentity())
        return std::nullopt;
      cInput = in->getOperandNumber();
      continue;
    }
    if (!llvm::isa<MemRefType>(v.getType())) {
      if (!isScalarIntOrFloat(v.getType()))
        return std::nullopt;
      continue;
    }
    // Other operands are loaded per tile: as vectors along the last
    // (contiguous) loop dim, or as broadcast scalars when they do not vary
    // along it. Their last dim must then be unit-stride.
    auto ty = llvm::cast<MemRefType>(v.getType());
    if (rootBuffer(v) == outRoot || !map.isProjectedPermutation() ||
        !isScalarIntOrFloat(ty.getElementType()))
      return std::nullopt;
    for (unsigned r = 0; r < map.getNumResults(); ++r)
      if (map.getDimPosition(r) == static_cast<unsigned>(rank - 1) &&
          r + 1 != map.getNumResults())
        return std::nullopt;
    if (ty.getRank() > 0) {
      SmallVector<int64_t> strides;
      int64_t offset;
      if (failed(ty.getStridesAndOffset(strides, offset)) ||
          strides.back() != 1)
        return std::nullopt;
    }
  }
  if (!cInput)
    return std::nullopt;
  for (Value v : gen->getOperands())
    if (!dom.properlyDominates(v, kernel))
      return std::nullopt;
  bool external = false;
  gen.getRegion().walk([&](Operation *op) {
    for (Value v : op->getOperands())
      if (v.getParentRegion() != &gen.getRegion() &&
          !dom.properlyDominates(v, kernel))
        external = true;
  });
  if (external)
    return std::nullopt;
  for (Operation *user : c.getUsers())
    if (user != kernel && user != gen.getOperation() &&
        !llvm::isa<linalg::FillOp, memref::DeallocOp>(user))
      return std::nullopt;
  return Epilogue{gen, *cInput, out};
}

/// Applies an Epilogue's body to vectors of `vw` lanes.
class EpilogueEmitter {
public:
  EpilogueEmitter(mlir::OpBuilder &b, mlir::Location loc, const Epilogue &e,
                  int64_t vw)
      : b(b), loc(loc), e(e), vw(vw) {}

  mlir::VectorType vec(mlir::Type t) const {
    return mlir::VectorType::get({vw}, t);
  }

  /// The output vector for C's lanes `acc` at loop indices `ivs` (the last
  /// one is the first lane's column); `mask` guards loads past the edge.
  mlir::Value apply(mlir::Value acc, llvm::ArrayRef<mlir::Value> ivs,
                    mlir::Value mask) {
    using namespace mlir;
    linalg::GenericOp gen = e.op;
    Block &body = gen.getRegion().front();
    IRMapping map;
    unsigned last = ivs.size() - 1;
    for (OpOperand *in : gen.getDpsInputOperands()) {
      unsigned n = in->getOperandNumber();
      BlockArgument arg = body.getArgument(n);
      Value v = in->get();
      if (n == e.cInput) {
        map.map(arg, acc);
        continue;
      }
      if (!llvm::isa<MemRefType>(v.getType())) {
        map.map(arg, vector::BroadcastOp::create(b, loc, vec(v.getType()), v));
        continue;
      }
      AffineMap m = gen.getMatchingIndexingMap(in);
      SmallVector<Value> idx;
      bool alongLanes = false;
      for (unsigned r = 0; r < m.getNumResults(); ++r) {
        unsigned d = m.getDimPosition(r);
        idx.push_back(ivs[d]);
        alongLanes |= d == last;
      }
      Type et = arg.getType();
      if (alongLanes) {
        Value pad = arith::ConstantOp::create(
            b, loc, vec(et), DenseElementsAttr::get(vec(et), b.getZeroAttr(et)));
        map.map(arg, vector::MaskedLoadOp::create(b, loc, vec(et), v, idx,
                                                  mask, pad));
      } else {
        Value s = memref::LoadOp::create(b, loc, v, idx);
        map.map(arg, vector::BroadcastOp::create(b, loc, vec(et), s));
      }
    }
    for (Operation &op : body.without_terminator()) {
      if (auto cst = llvm::dyn_cast<arith::ConstantOp>(op)) {
        auto ty = vec(cst.getType());
        map.map(cst.getResult(),
                arith::ConstantOp::create(
                    b, loc, ty,
                    DenseElementsAttr::get(ty, llvm::cast<TypedAttr>(
                                                   cst.getValue()))));
        continue;
      }
      OperationState st(loc, op.getName());
      for (Value v : op.getOperands()) {
        if (map.contains(v))
          st.addOperands(map.lookup(v));
        else // a scalar defined outside the body
          st.addOperands(
              vector::BroadcastOp::create(b, loc, vec(v.getType()), v)
                  .getResult());
      }
      for (Type t : op.getResultTypes())
        st.addTypes(vec(t));
      st.addAttributes(op.getAttrs());
      Operation *clone = b.create(st);
      map.map(op.getResults(), clone->getResults());
    }
    Value y = body.getTerminator()->getOperand(0);
    return map.contains(y) ? map.lookup(y)
                           : vector::BroadcastOp::create(b, loc, vec(y.getType()), y)
                                 .getResult();
  }

private:
  mlir::OpBuilder &b;
  mlir::Location loc;
  const Epilogue &e;
  int64_t vw;
};

} // namespace kernel
} // namespace buddy

#endif // BUDDY_MIDEND_ELEMENTWISEEPILOGUE_H
