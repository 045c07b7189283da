//===- OutlineLoopNests.cpp - one private function per top-level loop nest -===//
//
// Moves every top-level region op (scf.for / scf.parallel / scf.if nest) of a
// function into its own private, internal, noinline function and calls it, so
// that the later stages (scf-to-cf, scf-to-openmp, LLVM's opt and llc) work on
// many small functions instead of one huge one. See Passes.td.
//
//===----------------------------------------------------------------------===//

#include "buddy/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/raw_ostream.h"

namespace buddy {
#define GEN_PASS_DEF_OUTLINELOOPNESTS
#include "buddy/Passes.h.inc"
} // namespace buddy

using namespace mlir;

namespace {

/// A constant without operands: cloned into the outlined function (loop
/// bounds stay visible to LLVM) instead of becoming an argument.
bool isClonableConstant(Value v) {
  Operation *def = v.getDefiningOp();
  return def && def->getNumOperands() == 0 && def->getNumRegions() == 0 &&
         def->hasTrait<OpTrait::ConstantLike>();
}

/// Whether every use of `v` inside `op` only reads or writes elements through
/// it (loads and stores, scalar or vector): then `v` may be passed with a
/// dynamic offset, and the loop nests of different layers, which read
/// different static offsets of one buffer (the KV cache), share a function.
bool onlyAccessedInside(Value v, Operation *op) {
  for (OpOperand &use : v.getUses()) {
    Operation *user = use.getOwner();
    if (!op->isProperAncestor(user)) {
      if (user == op)
        return false; // an operand of the region op itself
      continue;       // a use elsewhere in the function
    }
    Value base;
    if (auto o = dyn_cast<memref::LoadOp>(user))
      base = o.getMemRef();
    else if (auto o = dyn_cast<memref::StoreOp>(user))
      base = o.getMemRef();
    else if (auto o = dyn_cast<vector::LoadOp>(user))
      base = o.getBase();
    else if (auto o = dyn_cast<vector::StoreOp>(user))
      base = o.getBase();
    else if (auto o = dyn_cast<vector::MaskedLoadOp>(user))
      base = o.getBase();
    else if (auto o = dyn_cast<vector::MaskedStoreOp>(user))
      base = o.getBase();
    else if (auto o = dyn_cast<vector::TransferReadOp>(user))
      base = o.getBase();
    else if (auto o = dyn_cast<vector::TransferWriteOp>(user))
      base = o.getBase();
    if (base != v)
      return false;
  }
  return true;
}

/// `t` with a dynamic offset when it has a strided layout with a static one
/// (null otherwise).
MemRefType withDynamicOffset(Type t) {
  auto m = dyn_cast<MemRefType>(t);
  if (!m)
    return {};
  auto layout = dyn_cast<StridedLayoutAttr>(m.getLayout());
  if (!layout || ShapedType::isDynamic(layout.getOffset()))
    return {};
  return MemRefType::get(
      m.getShape(), m.getElementType(),
      StridedLayoutAttr::get(m.getContext(), ShapedType::kDynamic,
                             layout.getStrides()),
      m.getMemorySpace());
}

/// Whether `op` is worth (and safe) to outline: a region op that is not
/// isolated from above, has at least `minOps` ops in its regions and yields
/// no memref (a memref made inside could be a stack allocation).
bool shouldOutline(Operation *op, int64_t minOps) {
  if (op->getNumRegions() == 0 || op->hasTrait<OpTrait::IsTerminator>() ||
      op->hasTrait<OpTrait::IsIsolatedFromAbove>() ||
      op->hasTrait<OpTrait::SymbolTable>() || isa<SymbolOpInterface>(op))
    return false;
  for (Type t : op->getResultTypes())
    if (isa<BaseMemRefType>(t))
      return false;
  int64_t count = 0;
  op->walk([&](Operation *) { ++count; });
  return count - 1 >= minOps;
}

struct OutlineLoopNestsPass
    : buddy::impl::OutlineLoopNestsBase<OutlineLoopNestsPass> {
  using Base::Base;

  /// Printed form of each outlined function -> that function.
  llvm::StringMap<func::FuncOp> unique;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    unique.clear();
    SmallVector<func::FuncOp> funcs(module.getOps<func::FuncOp>());
    for (func::FuncOp func : funcs) {
      if (func.isExternal())
        continue;
      int64_t counter = 0;
      Operation *insertAfter = func;
      for (Block &block : func.getBody()) {
        SmallVector<Operation *> ops;
        for (Operation &op : block)
          if (shouldOutline(&op, minOps))
            ops.push_back(&op);
        for (Operation *op : ops)
          insertAfter = outline(op, func, symbols, counter, insertAfter);
      }
    }
  }

  /// Replaces `op` by a call to a new function placed after `insertAfter`;
  /// returns the new function.
  Operation *outline(Operation *op, func::FuncOp parent, SymbolTable &symbols,
                     int64_t &counter, Operation *insertAfter) {
    MLIRContext *ctx = &getContext();
    // Values the op reads from the enclosing function, in first-use order.
    llvm::SetVector<Value> captured;
    for (Value v : op->getOperands())
      captured.insert(v);
    getUsedValuesDefinedAbove(op->getRegions(), captured);
    SmallVector<Value> args, constants;
    for (Value v : captured)
      (isClonableConstant(v) ? constants : args).push_back(v);

    // Argument types: static offsets made dynamic where only loads and
    // stores see them (casts at the call site).
    SmallVector<Type> argTypes;
    for (Value v : args) {
      MemRefType dynamic = withDynamicOffset(v.getType());
      argTypes.push_back(dynamic && onlyAccessedInside(v, op) ? dynamic
                                                              : v.getType());
    }
    auto fnType = FunctionType::get(ctx, argTypes, op->getResultTypes());
    OpBuilder b(ctx);
    b.setInsertionPointAfter(insertAfter);
    Location loc = op->getLoc();
    // Named once it is known to be new (see `unique`).
    auto fn = func::FuncOp::create(b, loc, "__buddy_outlined", fnType);
    fn.setPrivate();
    // Internal linkage (private alone lowers to an external llvm.func) and
    // noinline: LLVM would otherwise inline every single-call function back
    // into the one big function this pass exists to split.
    fn->setAttr("llvm.linkage",
                LLVM::LinkageAttr::get(ctx, LLVM::Linkage::Internal));
    fn->setAttr("passthrough",
                b.getArrayAttr({b.getStringAttr("noinline")}));

    // The clone reads the arguments through loads and stores only, which
    // accept any layout: no cast inside.
    Block *entry = fn.addEntryBlock();
    b.setInsertionPointToStart(entry);
    IRMapping map;
    for (auto [v, arg] : llvm::zip(args, entry->getArguments()))
      map.map(v, arg);
    for (Value c : constants)
      map.map(c, b.clone(*c.getDefiningOp())->getResult(
                     cast<OpResult>(c).getResultNumber()));
    Operation *copy = b.clone(*op, map);
    func::ReturnOp::create(b, loc, copy->getResults());

    // The same loop nest (every layer of a model has the same ones) becomes
    // one function: its printed form, with the placeholder name, is the key.
    func::FuncOp callee = fn;
    bool isNew = true;
    if (dedupe) {
      std::string key;
      llvm::raw_string_ostream os(key);
      fn->print(os, OpPrintingFlags().useLocalScope().assumeVerified());
      auto [it, inserted] = unique.try_emplace(std::move(key), fn);
      if (!inserted) {
        callee = it->second;
        isNew = false;
      }
    }
    if (isNew) {
      std::string name;
      do {
        name = (parent.getName() + "__outlined" + llvm::Twine(counter++)).str();
      } while (symbols.lookup(name));
      fn.setName(name);
      symbols.insert(fn);
    } else {
      fn.erase();
    }

    b.setInsertionPoint(op);
    SmallVector<Value> operands;
    for (auto [v, t] : llvm::zip(args, argTypes))
      operands.push_back(v.getType() == t
                             ? v
                             : memref::CastOp::create(b, loc, t, v).getResult());
    auto call = func::CallOp::create(b, loc, callee, operands);
    op->replaceAllUsesWith(call.getResults());
    op->erase();
    return isNew ? callee.getOperation() : insertAfter;
  }
};

} // namespace
