//===- RenameEntry.cpp - give a model's entry function its own name -------===//
//
// Renames the entry function `@<from>` (default `@forward`) of a module to
// `@<to>` and updates every symbol use, so the lowered module exports
// `<to>`, `_mlir_ciface_<to>` and `_buddy_<to>` instead of the `forward`
// symbols every imported graph has: several compiled graphs can then be
// linked into one executable (see Passes.td and docs/interfaces.md).
//
//===----------------------------------------------------------------------===//

#include "buddy/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"

namespace buddy {
#define GEN_PASS_DEF_RENAMEENTRY
#include "buddy/Passes.h.inc"
} // namespace buddy

using namespace mlir;

namespace {

/// A C identifier: the name ends up in `_buddy_<to>`, a C symbol.
bool isCIdentifier(StringRef name) {
  if (name.empty() || !(llvm::isAlpha(name[0]) || name[0] == '_'))
    return false;
  return llvm::all_of(name, [](char c) { return llvm::isAlnum(c) || c == '_'; });
}

struct RenameEntryPass : buddy::impl::RenameEntryBase<RenameEntryPass> {
  using RenameEntryBase::RenameEntryBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (!isCIdentifier(to)) {
      module.emitError() << "buddy-rename-entry: to='" << to
                         << "' is not a C identifier ([A-Za-z_][A-Za-z0-9_]*)";
      return signalPassFailure();
    }
    if (to == from)
      return;
    SymbolTable symbols(module);
    Operation *entry = symbols.lookup(from);
    if (!entry) {
      module.emitError() << "buddy-rename-entry: no symbol @" << from
                         << " to rename to @" << to;
      return signalPassFailure();
    }
    if (SymbolTable::getSymbolVisibility(entry) ==
        SymbolTable::Visibility::Private) {
      entry->emitError() << "buddy-rename-entry: @" << from
                         << " is private, not an entry point";
      return signalPassFailure();
    }
    if (Operation *existing = symbols.lookup(to)) {
      existing->emitError() << "buddy-rename-entry: cannot rename @" << from
                            << " to @" << to << ": the symbol already exists";
      return signalPassFailure();
    }
    if (failed(symbols.rename(entry, to))) {
      entry->emitError() << "buddy-rename-entry: renaming @" << from
                         << " to @" << to << " failed (unknown symbol uses)";
      return signalPassFailure();
    }
  }
};

} // namespace
