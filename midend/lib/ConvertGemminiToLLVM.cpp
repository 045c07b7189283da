//===- ConvertGemminiToLLVM.cpp - instruction ops -> RoCC inline asm ------===//
//
// Each Gemmini instruction op becomes the RoCC custom instruction it stands
// for: `llvm.inline_asm has_side_effects ".insn r 0x7b, 3, <funct7>, x0, $0,
// $1"` reading rs1, rs2 (opcode custom3, funct3 = xd|xs1|xs2 = 011: both
// sources read, no result), with a memory clobber (the accelerator reads and
// writes DRAM). See Passes.td and docs/gemmini.md.
//
//===----------------------------------------------------------------------===//

#include "buddy/Gemmini/GemminiDialect.h"
#include "buddy/Gemmini/Transforms.h"
#include "buddy/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"

#include <string>

namespace buddy {
#define GEN_PASS_DEF_CONVERTGEMMINITOLLVM
#include "buddy/Passes.h.inc"
} // namespace buddy

using namespace mlir;
namespace gm = buddy::gemmini;

namespace {

template <typename OpT> void lowerAll(func::FuncOp f, unsigned &count) {
  SmallVector<OpT> ops;
  f.walk([&](OpT op) { ops.push_back(op); });
  for (OpT op : ops) {
    OpBuilder b(op);
    std::string insn = ".insn r 0x7b, 3, " + std::to_string(OpT::kFunct) + ", x0, $0, $1";
    LLVM::InlineAsmOp::create(b, op.getLoc(), TypeRange{},
                              ValueRange{op.getRs1(), op.getRs2()}, insn, "r,r,~{memory}",
                              /*has_side_effects=*/true, /*is_align_stack=*/false,
                              LLVM::tailcallkind::TailCallKind::None, LLVM::AsmDialectAttr(),
                              ArrayAttr());
    op.erase();
    ++count;
  }
}

struct ConvertGemminiToLLVMPass
    : buddy::impl::ConvertGemminiToLLVMBase<ConvertGemminiToLLVMPass> {
  void runOnOperation() override { (void)gm::convertGemminiToLLVM(getOperation()); }
};

} // namespace

unsigned gm::convertGemminiToLLVM(func::FuncOp f) {
  unsigned n = 0;
  lowerAll<ConfigExOp>(f, n);
  lowerAll<ConfigLdOp>(f, n);
  lowerAll<ConfigStOp>(f, n);
  lowerAll<MvinOp>(f, n);
  lowerAll<Mvin2Op>(f, n);
  lowerAll<Mvin3Op>(f, n);
  lowerAll<MvoutOp>(f, n);
  lowerAll<PreloadOp>(f, n);
  lowerAll<ComputePreloadedOp>(f, n);
  lowerAll<ComputeAccumulatedOp>(f, n);
  lowerAll<FlushOp>(f, n);
  lowerAll<LoopWsOp>(f, n);
  return n;
}
