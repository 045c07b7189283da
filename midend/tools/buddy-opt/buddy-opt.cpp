//===- buddy-opt.cpp - Buddy optimizer driver -----------------------------===//
//
// A superset of mlir-opt: every upstream dialect, extension and pass, plus
// Buddy's own passes from midend/lib.
//
//===----------------------------------------------------------------------===//

#include "buddy/Gemmini/GemminiDialect.h"
#include "buddy/Passes.h"
#include "buddy/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"

#ifndef BUDDY_VERSION
#define BUDDY_VERSION "unknown"
#endif

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  buddy::registerBuddyPasses();
  buddy::registerBuddyPipelines();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  registry.insert<buddy::gemmini::GemminiDialect>();

  llvm::cl::AddExtraVersionPrinter([](llvm::raw_ostream &os) {
    os << "Buddy " << BUDDY_VERSION << " (buddy-opt, MLIR " << LLVM_VERSION_STRING
       << ")\n";
  });
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "Buddy optimizer driver: mlir-opt plus Buddy passes\n",
      registry));
}
