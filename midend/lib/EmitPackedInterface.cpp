//===- EmitPackedInterface.cpp - void _buddy_<f>(void **args) wrappers -----===//
//
// For every `llvm.func @_mlir_ciface_<f>` whose target `@<f>` exists in the
// module, emits `llvm.func @_buddy_<f>(%args: !llvm.ptr)` that loads the i-th
// pointer of `args` and forwards it to the C interface: memref arguments are
// passed as the descriptor pointer, scalar arguments are loaded through it.
// A non-void result is stored through the pointer following the arguments.
// See Passes.td and docs/interfaces.md (the compiled-model ABI).
//
//===----------------------------------------------------------------------===//

#include "buddy/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"

namespace buddy {
#define GEN_PASS_DEF_EMITPACKEDINTERFACE
#include "buddy/Passes.h.inc"
} // namespace buddy

using namespace mlir;

namespace {

constexpr llvm::StringLiteral kCifacePrefix = "_mlir_ciface_";
constexpr llvm::StringLiteral kPackedPrefix = "_buddy_";

/// Loads `args[index]` (a pointer) inside the wrapper body.
Value loadArgPointer(OpBuilder &b, Location loc, Value args, int32_t index) {
  auto ptrTy = LLVM::LLVMPointerType::get(b.getContext());
  Value slot = LLVM::GEPOp::create(b, loc, ptrTy, ptrTy, args,
                                   ArrayRef<LLVM::GEPArg>{index});
  return LLVM::LoadOp::create(b, loc, ptrTy, slot);
}

struct EmitPackedInterfacePass
    : buddy::impl::EmitPackedInterfaceBase<EmitPackedInterfacePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<LLVM::LLVMFuncOp> cifaces;
    for (auto func : module.getOps<LLVM::LLVMFuncOp>())
      if (func.getName().starts_with(kCifacePrefix))
        cifaces.push_back(func);

    for (LLVM::LLVMFuncOp ciface : cifaces) {
      StringRef name = ciface.getName().drop_front(kCifacePrefix.size());
      auto target = symbols.lookup<LLVM::LLVMFuncOp>(name);
      if (!target)
        continue; // a ciface without its function: not ours to wrap
      if (SymbolTable::getSymbolVisibility(target) ==
          SymbolTable::Visibility::Private)
        continue; // private functions are not entry points
      std::string packedName = (kPackedPrefix + name).str();
      if (Operation *existing = symbols.lookup(packedName)) {
        existing->emitError() << "cannot emit the packed interface of @"
                              << name << ": symbol @" << packedName
                              << " already exists";
        return signalPassFailure();
      }
      if (ciface.isVarArg()) {
        ciface.emitError() << "cannot emit a packed interface for variadic @"
                           << ciface.getName();
        return signalPassFailure();
      }
      emitWrapper(ciface, packedName, symbols);
    }
  }

  void emitWrapper(LLVM::LLVMFuncOp ciface, StringRef packedName,
                   SymbolTable &symbols) {
    MLIRContext *ctx = &getContext();
    Location loc = ciface.getLoc();
    OpBuilder b(ctx);
    b.setInsertionPointAfter(ciface);
    auto ptrTy = LLVM::LLVMPointerType::get(ctx);
    auto voidTy = LLVM::LLVMVoidType::get(ctx);
    auto wrapperTy = LLVM::LLVMFunctionType::get(voidTy, {ptrTy});
    auto wrapper = LLVM::LLVMFuncOp::create(b, loc, packedName, wrapperTy);
    symbols.insert(wrapper);

    Block *entry = wrapper.addEntryBlock(b);
    b.setInsertionPointToStart(entry);
    Value args = entry->getArgument(0);

    LLVM::LLVMFunctionType cifaceTy = ciface.getFunctionType();
    SmallVector<Value> operands;
    for (auto [i, type] : llvm::enumerate(cifaceTy.getParams())) {
      Value p = loadArgPointer(b, loc, args, static_cast<int32_t>(i));
      // Memref descriptors (and any pointer) are passed as-is; scalars are
      // read from the slot the caller points at.
      operands.push_back(isa<LLVM::LLVMPointerType>(type)
                             ? p
                             : LLVM::LoadOp::create(b, loc, type, p).getResult());
    }
    auto call = LLVM::CallOp::create(b, loc, ciface, operands);
    Type resultTy = cifaceTy.getReturnType();
    if (!isa<LLVM::LLVMVoidType>(resultTy)) {
      Value out = loadArgPointer(b, loc, args,
                                 static_cast<int32_t>(cifaceTy.getNumParams()));
      LLVM::StoreOp::create(b, loc, call.getResult(), out);
    }
    LLVM::ReturnOp::create(b, loc, ValueRange{});
  }
};

} // namespace
