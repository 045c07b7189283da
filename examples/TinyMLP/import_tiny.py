"""Import script for buddy_add_model(): a 2-layer MLP, y = relu(x W1^T + b1) W2^T,
as tensor-level MLIR with its weights inlined as constants (no weight file).

The weights follow the formula in tiny-main.cpp, which checks the compiled
model against a plain C++ evaluation.
"""

from __future__ import annotations

IN, HIDDEN, OUT, BATCH = 8, 16, 4, 2


def weight(layer: int, i: int, j: int) -> float:
    return ((i * 7 + j * 3 + layer * 5) % 11 - 5) / 10.0


def _dense(layer: int, rows: int, cols: int) -> str:
    body = ", ".join("[" + ", ".join(f"{weight(layer, i, j):.1f}" for j in range(cols)) + "]"
                     for i in range(rows))
    return f"dense<[{body}]> : tensor<{rows}x{cols}xf32>"


def build_model() -> str:
    b1 = ", ".join(f"{(i % 5 - 2) / 10.0:.1f}" for i in range(HIDDEN))
    return f"""
#id = affine_map<(i, j) -> (i, j)>
#col = affine_map<(i, j) -> (j)>
func.func @forward(%x: tensor<{BATCH}x{IN}xf32>) -> tensor<{BATCH}x{OUT}xf32> {{
  %w1 = arith.constant {_dense(1, HIDDEN, IN)}
  %b1 = arith.constant dense<[{b1}]> : tensor<{HIDDEN}xf32>
  %w2 = arith.constant {_dense(2, OUT, HIDDEN)}
  %zero = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<{IN}x{HIDDEN}xf32>
  %w1t = linalg.transpose ins(%w1 : tensor<{HIDDEN}x{IN}xf32>) outs(%e1 : tensor<{IN}x{HIDDEN}xf32>) permutation = [1, 0]
  %h0 = tensor.empty() : tensor<{BATCH}x{HIDDEN}xf32>
  %hz = linalg.fill ins(%zero : f32) outs(%h0 : tensor<{BATCH}x{HIDDEN}xf32>) -> tensor<{BATCH}x{HIDDEN}xf32>
  %h = linalg.matmul ins(%x, %w1t : tensor<{BATCH}x{IN}xf32>, tensor<{IN}x{HIDDEN}xf32>) outs(%hz : tensor<{BATCH}x{HIDDEN}xf32>) -> tensor<{BATCH}x{HIDDEN}xf32>
  %r = linalg.generic {{indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}}
      ins(%h, %b1 : tensor<{BATCH}x{HIDDEN}xf32>, tensor<{HIDDEN}xf32>) outs(%h0 : tensor<{BATCH}x{HIDDEN}xf32>) {{
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    %m = arith.maximumf %s, %zero : f32
    linalg.yield %m : f32
  }} -> tensor<{BATCH}x{HIDDEN}xf32>
  %e2 = tensor.empty() : tensor<{HIDDEN}x{OUT}xf32>
  %w2t = linalg.transpose ins(%w2 : tensor<{OUT}x{HIDDEN}xf32>) outs(%e2 : tensor<{HIDDEN}x{OUT}xf32>) permutation = [1, 0]
  %y0 = tensor.empty() : tensor<{BATCH}x{OUT}xf32>
  %yz = linalg.fill ins(%zero : f32) outs(%y0 : tensor<{BATCH}x{OUT}xf32>) -> tensor<{BATCH}x{OUT}xf32>
  %y = linalg.matmul ins(%r, %w2t : tensor<{BATCH}x{HIDDEN}xf32>, tensor<{HIDDEN}x{OUT}xf32>) outs(%yz : tensor<{BATCH}x{OUT}xf32>) -> tensor<{BATCH}x{OUT}xf32>
  return %y : tensor<{BATCH}x{OUT}xf32>
}}
"""
