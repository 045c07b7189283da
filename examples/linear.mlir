// nn.Linear as Core ATen lowers it: y = x @ W^T. Try:
//   buddy-opt examples/linear.mlir --buddy-fold-transpose-into-matmul
func.func @linear(%x: tensor<8x576xf32>, %w: tensor<1536x576xf32>) -> tensor<8x1536xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<576x1536xf32>
  %wt = linalg.transpose ins(%w : tensor<1536x576xf32>) outs(%e : tensor<576x1536xf32>) permutation = [1, 0]
  %acc0 = tensor.empty() : tensor<8x1536xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<8x1536xf32>) -> tensor<8x1536xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<8x576xf32>, tensor<576x1536xf32>) outs(%acc : tensor<8x1536xf32>) -> tensor<8x1536xf32>
  return %y : tensor<8x1536xf32>
}
