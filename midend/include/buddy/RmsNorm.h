//===- RmsNorm.h - RMSNorm in linalg: the one structural contract -*- C++ -*-===//
//
// The public side of --buddy-rmsnorm-vectorize, and the single definition of
// what Buddy calls RMSNorm in linalg. The frontend (frontend/passes/rmsnorm.py
// raises Core ATen's pow/mean/add/rsqrt/mul(/mul) chain; lowering/linalg/
// normalization.py emits it) produces exactly this form, and every C++ pass
// that needs to know about RMSNorm asks these matchers. No attribute carries
// the meaning: the IR's arithmetic is the contract (docs/interfaces.md).
//
//   %ss = linalg.fill ins(0.0) outs(...)                      // f32, [..]
//   %ss = linalg.generic {maps [id, drop-last], iterators [.., reduction]}
//           ins(%x) outs(%ss) { ^bb0(%e, %acc): yield (e * e) + acc }
//   %y  = linalg.generic {maps [id, row-broadcast, [last-dim,] id],
//                         iterators all parallel}
//           ins(%x, %ss (keepdim view), [%w]) outs(...)
//           { ^bb0(%u, %s, [%wv,] %o): yield u * rsqrt(s / N + eps) [* wv] }
//
// with N and eps f32 constants and N the (static) length of x's last dim.
// Operands of mulf/addf may come in either order.
//
//===----------------------------------------------------------------------===//
#ifndef BUDDY_RMSNORM_H
#define BUDDY_RMSNORM_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"

#include <cstdint>
#include <optional>

namespace buddy {

/// The constants of an RMSNorm scale body: `u * rsqrt(s / n + eps) [* w]`.
struct RmsNormBody {
  double n = 0, eps = 0;
  bool weighted = false;
};

/// `op`'s body if it is an RMSNorm scale body (tensor or memref form; the
/// operands, maps and shapes are not checked here).
std::optional<RmsNormBody> matchRmsNormBody(mlir::linalg::GenericOp op);

/// True if `op` is a sum-of-squares reduction over its input's last dim:
/// one input, one init, iterators (parallel..., reduction), body
/// `yield (e * e) + acc`.
bool isSumOfSquares(mlir::linalg::GenericOp op);

/// Rewrites every RMSNorm scale generic on f32 memrefs of `f` whose
/// sum-of-squares operand is provably `sum(x * x)` over the same x (a zero
/// fill and a sum-of-squares reduction of x are its only writers) into one
/// vectorized kernel per row; the reduction and its fill are erased when
/// nothing else reads them. Returns the number of generics rewritten.
int64_t vectorizeRmsNorms(mlir::func::FuncOp f, int64_t vectorWidth,
                          bool parallel);

} // namespace buddy

#endif // BUDDY_RMSNORM_H
