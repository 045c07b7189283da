//===- Transforms.h - transforms into and of the gemmini dialect -*- C++ -*-===//
#ifndef BUDDY_GEMMINI_TRANSFORMS_H
#define BUDDY_GEMMINI_TRANSFORMS_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Support/LLVM.h"

namespace buddy::gemmini {

/// Rewrites every int8 x int8 -> i32 `linalg.matmul`, `linalg.conv_2d_nhwc_hwcf`
/// and `linalg.conv_2d_nchw_fchw` on memrefs in `f` into `gemmini.tile_matmul`
/// with `dataflow` ("ws" or "os"); returns how many.
/// See the pass description in Passes.td.
mlir::FailureOr<unsigned> convertLinalgToGemmini(mlir::func::FuncOp f,
                                                 llvm::StringRef dataflow);

class TileMatmulOp;

/// Tile sizes in 16x16 blocks (0 = chosen from the shape and the capacities).
struct GemminiTiling {
  int64_t ti = 0, tj = 0, tk = 0;
};

/// Largest tiles that fit: C (ti x tj blocks) in the accumulator, A and B
/// (tk K blocks) together in the scratchpad.
GemminiTiling chooseTiling(int64_t m, int64_t n, int64_t k);

/// Replaces `op` by its instruction sequence, the tile/block loops as scf.for
/// (see LowerGemmini.cpp); fails above `maxInstructions` static instruction ops.
mlir::LogicalResult lowerTileMatmul(TileMatmulOp op, GemminiTiling forced,
                                    int64_t maxInstructions);
/// Lowers every gemmini.tile_matmul in `f`.
mlir::LogicalResult lowerGemmini(mlir::func::FuncOp f, GemminiTiling forced,
                                 int64_t maxInstructions);

/// Replaces every Gemmini instruction op in `f` by its RoCC instruction
/// (LLVM inline asm `.insn r 0x7b, 3, funct7, x0, rs1, rs2`); returns how many.
unsigned convertGemminiToLLVM(mlir::func::FuncOp f);

} // namespace buddy::gemmini

#endif // BUDDY_GEMMINI_TRANSFORMS_H
