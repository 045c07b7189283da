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

#endif // BUDDY_PASSES_TD
