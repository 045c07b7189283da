//===- Passes.td - Buddy midend pass declarations ----------*- tablegen -*-===//
//
// Every Buddy pass is declared here and implemented in its own file under
// midend/lib/. `buddy-opt --help` lists them next to the upstream passes.
//
//===----------------------------------------------------------------------===//

#ifndef BUDDY_PASSES_TD
#define BUDDY_PASSES_TD

include "mlir/Pass/PassBase.td"

def FoldTransposeIntoMatmul
    : Pass<"buddy-fold-transpose-into-matmul", "mlir::func::FuncOp"> {
  let summary = "Fold linalg.transpose producers into the indexing maps of "
                "linalg.matmul / linalg.batch_matmul";
  let description = [{
    PyTorch's `x @ W.T` (every `nn.Linear`) reaches Linalg as a
    `linalg.transpose` of the weight followed by a `linalg.matmul`. The
    transpose materializes a full copy of the weight. This pass rewrites the
    matmul to read the transpose's input directly, by permuting the operand's
    indexing map, e.g.

      %t = linalg.transpose ins(%w : tensor<NxK>) outs(...) permutation = [1, 0]
      %r = linalg.matmul ins(%x, %t : ...) outs(...)
    =>
      %r = linalg.matmul indexing_maps = [(m,n,k)->(m,k), (m,n,k)->(n,k), (m,n,k)->(m,n)]
             ins(%x, %w : ...) outs(...)

    Both inputs are handled, for `linalg.matmul` and `linalg.batch_matmul`.
    The transpose is left for dead-code elimination (it is erased here when it
    has no other use).
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect"];
}

def EmitPackedInterface
    : Pass<"buddy-emit-packed-interface", "mlir::ModuleOp"> {
  let summary = "Emit `void _buddy_<f>(void **args)` wrappers around the C "
                "interfaces of lowered functions";
  let description = [{
    Runs on a module already lowered to the LLVM dialect. For every
    `llvm.func @_mlir_ciface_<f>` whose function `@<f>` is in the module and
    not private (request those with `llvm.emit_c_interface` or
    `--llvm-request-c-wrappers` before `--convert-func-to-llvm`), emits

      llvm.func @_buddy_<f>(%args: !llvm.ptr)

    which loads the i-th pointer of `args` and passes it to the C interface:
    memref arguments as the pointer to their descriptor
    (`StridedMemRefType<T, N>`), scalar arguments loaded through it. A
    non-void C-interface result is stored through `args[<number of params>]`.
    This is the compiled-model ABI of docs/interfaces.md: one symbol per
    model, callable with a single `void **`.
  }];
  let dependentDialects = ["mlir::LLVM::LLVMDialect"];
}

def MatmulVectorize
    : Pass<"buddy-matmul-vectorize", "mlir::func::FuncOp"> {
  let summary = "Blocked, B-packed, register-tiled f32 GEMM for "
                "linalg.matmul / linalg.batch_matmul on memrefs";
  let description = [{
    Replaces f32 `linalg.matmul` and `linalg.batch_matmul` on memrefs (with the
    standard maps, or B read as (n, k) as produced by
    `--buddy-fold-transpose-into-matmul`) by a BLIS-style loop nest:
    an `scf.parallel` over (batch, N panels; plus M parts when there are
    fewer tasks than `threads`), a K cache block of `kc`, packing of the B
    panel into a zero-padded `[nc/nr][kc][nr]` buffer (B as (n, k): in-register
    `vector.transpose` of vector-width square tiles), and an
    `mr` x `nr` register-blocked micro-kernel of `vector.broadcast` +
    `vector.fma` on `vector<vector-width x f32>` accumulators. M tails use a
    one-row kernel, N tails masked loads/stores of C, K tails the loop bound.
    A `linalg.fill` of C right before the matmul is folded: the first K block
    starts from the fill value instead of reading C back.
    Lower the `scf.parallel` with `--convert-scf-to-openmp` for threads.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect",
                           "mlir::memref::MemRefDialect",
                           "mlir::scf::SCFDialect",
                           "mlir::vector::VectorDialect"];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", "16",
           "f32 lanes per vector (16 = AVX-512, 8 = AVX2/NEON x2, 4 = SSE/NEON)">,
    Option<"mr", "mr", "int64_t", "8", "Rows of the register tile">,
    Option<"nr", "nr", "int64_t", "32",
           "Columns of the register tile (a multiple of vector-width)">,
    Option<"kc", "kc", "int64_t", "256", "K cache block">,
    Option<"nc", "nc", "int64_t", "256", "Maximum N panel per parallel task">,
    Option<"threads", "threads", "int64_t", "2",
           "Thread count the N panels are balanced for">,
    Option<"minRows", "min-rows", "int64_t", "1",
           "Leave matmuls with static M below this to other passes">,
  ];
}

def GemvVectorize
    : Pass<"buddy-gemv-vectorize", "mlir::func::FuncOp"> {
  let summary = "Bandwidth-oriented f32 GEMV for linalg.matmul with a small "
                "static M (decode)";
  let description = [{
    Replaces an f32 `linalg.matmul` on memrefs whose static M is at most
    `max-rows` by a kernel that streams the weight exactly once:
    * B read as (n, k) (nn.Linear after --buddy-fold-transpose-into-matmul):
      `rows` weight rows at a time, vectorized along the contiguous K with
      `vector.fma` into per-(m, row) accumulators, masked K tail, then
      `vector.reduction <add>` into C;
    * B read as (k, n): weight rows streamed contiguously, `cols` rows at a
      time: C[m, n:n+vw] += sum of `vector.broadcast`(A[m, k+u]) * B[k+u, n:n+vw]
      (C stays in cache), masked N tail; N split in one range per thread.
    N is split across threads by an `scf.parallel` (chunks of `chunk` rows of
    B for the (n, k) layout), lowered with --convert-scf-to-openmp.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect",
                           "mlir::memref::MemRefDialect",
                           "mlir::scf::SCFDialect",
                           "mlir::vector::VectorDialect"];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", "16", "f32 lanes per vector">,
    Option<"maxRows", "max-rows", "int64_t", "4", "Largest static M handled">,
    Option<"rows", "rows", "int64_t", "8",
           "Weight rows per step for the (n, k) layout (divided by M)">,
    Option<"cols", "cols", "int64_t", "4",
           "Weight rows per step for the (k, n) layout">,
    Option<"chunk", "chunk", "int64_t", "64",
           "Output columns per parallel task for the (n, k) layout">,
    Option<"threads", "threads", "int64_t", "2",
           "Threads the (k, n) layout's N ranges are split for">,
  ];
}

def MemRefCopyToLinalg
    : Pass<"buddy-memref-copy-to-linalg", "mlir::func::FuncOp"> {
  let summary = "Rewrite memref.copy as linalg.copy so copies lower to loops";
  let description = [{
    Bufferization and `buffer-results-to-out-params` materialize copies as
    `memref.copy`, which `finalize-memref-to-llvm` turns into a call to the
    `memrefCopy` runtime function whenever a layout is not the identity. A
    compiled model would then need MLIR's C runner library at load time, and
    a cross-compiled one would need it built for the target. This pass turns
    each `memref.copy` into `linalg.copy`, which later lowers to plain loops
    that LLVM vectorizes, so compiled code has no runtime-library dependency.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect"];
}

#endif // BUDDY_PASSES_TD
