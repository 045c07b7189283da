//===- GemminiConv.h - int8 conv_2d as the GEMM Gemmini runs -----*- C++ -*-===//
//
// The operands of the im2col GEMM of an int8 `linalg.conv_2d_nhwc_hwcf` or
// `linalg.conv_2d_nchw_fchw` (memrefs, static shapes, identity layouts):
//
//   A = im2col(x)  [N*OH*OW, K]  one row per output pixel (n, oh, ow)
//   B = filter     [K, F]        K in (kh, kw, c) order for HWCF (a view),
//                                (c, kh, kw) for FCHW (a transposed copy)
//   C              [N*OH*OW, F]  a view of an NHWC output; for NCHW a
//                                buffer transposed into the output after.
//
// The im2col is a `linalg.generic` (strides and dilations in its input map)
// and the transposes are `linalg.transpose`: they run on the core. A padded
// input (a buffer only filled with a constant, the unpadded input copied into
// a subview of it, then read by the conv alone) folds into the im2col: it
// reads the unpadded input where the window is inside it and writes the fill
// value elsewhere, and the padded buffer goes.
//
//===----------------------------------------------------------------------===//
#ifndef BUDDY_MIDEND_GEMMINICONV_H
#define BUDDY_MIDEND_GEMMINICONV_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Operation.h"

#include <optional>

namespace buddy::gemmini {

/// The padding of a conv input: `src` copied at (ph, pw) into a buffer
/// filled with `value`.
struct PaddedInput {
  mlir::Value src, value;
  int64_t ph = 0, pw = 0;
  mlir::Operation *alloc = nullptr, *fill = nullptr, *subview = nullptr, *copy = nullptr;
};

struct GemminiConv {
  mlir::Operation *op = nullptr; // the linalg conv
  bool nchw = false;
  mlir::Value x, w, out;         // input, filter, i32 output
  int64_t n = 0, c = 0, oh = 0, ow = 0, f = 0, kh = 0, kw = 0;
  int64_t sh = 1, sw = 1, dh = 1, dw = 1;
  std::optional<PaddedInput> pad; // x is a padded copy of pad->src
  /// The output dimension of the channels (F): 3 for NHWC, 1 for NCHW.
  unsigned channelDim() const { return nchw ? 1 : 3; }
};

/// `op` if it is an int8 x int8 -> i32 conv_2d (NHWC/HWCF or NCHW/FCHW) on
/// static identity-layout memrefs.
std::optional<GemminiConv> matchGemminiConv(mlir::Operation *op);

/// The GEMM operands, built at `b`'s insertion point; `temps` are the buffers
/// to deallocate after the tile op.
struct ConvGemmOperands {
  mlir::Value a, b;
  llvm::SmallVector<mlir::Value> temps;
};
ConvGemmOperands emitConvGemmOperands(mlir::OpBuilder &b, const GemminiConv &cv);

/// After the conv is gone: erases the padded buffer of `cv.pad` (its fill,
/// copy, deallocs) if nothing else reads it.
void erasePaddedInput(const GemminiConv &cv);

/// C [N*OH*OW, F] for writing `out` (shaped like the conv output, any element
/// type): a view of it (NHWC) or a new buffer (NCHW; `out` is copied in when
/// `copyIn`, the tile op then accumulating onto it). `finishConvResult` writes
/// that buffer back into `out` and frees it (nothing for NHWC).
mlir::Value emitConvResult(mlir::OpBuilder &b, const GemminiConv &cv, mlir::Value out,
                           bool copyIn);
void finishConvResult(mlir::OpBuilder &b, const GemminiConv &cv, mlir::Value out,
                      mlir::Value result);

} // namespace buddy::gemmini

#endif // BUDDY_MIDEND_GEMMINICONV_H
