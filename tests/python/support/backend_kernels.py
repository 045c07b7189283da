"""Hand-written tensor-level MLIR kernels and their NumPy references, shared by
the backend tests (native and cross targets)."""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import numpy as np


class Kernel(NamedTuple):
    name: str
    mlir: str
    num_params: int
    reference: Callable[..., Sequence[np.ndarray]]  # (params..., inputs...) -> outputs
    atol: float


# nn.Linear + tanh: a param (weight), a transpose, matmul, an elementwise libm
# call, two outputs.
LINEAR_TANH = """
func.func @forward(%w: tensor<16x8xf32>, %x: tensor<4x8xf32>) -> (tensor<4x16xf32>, tensor<4x8xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8x16xf32>
  %wt = linalg.transpose ins(%w : tensor<16x8xf32>) outs(%e : tensor<8x16xf32>) permutation = [1, 0]
  %acc0 = tensor.empty() : tensor<4x16xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<4x16xf32>) -> tensor<4x16xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<4x8xf32>, tensor<8x16xf32>) outs(%acc : tensor<4x16xf32>) -> tensor<4x16xf32>
  %t0 = tensor.empty() : tensor<4x8xf32>
  %t = linalg.generic {indexing_maps = [affine_map<(i,j)->(i,j)>, affine_map<(i,j)->(i,j)>],
                       iterator_types = ["parallel","parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%t0 : tensor<4x8xf32>) {
  ^bb0(%a: f32, %b: f32):
    %v = math.tanh %a : f32
    linalg.yield %v : f32
  } -> tensor<4x8xf32>
  return %y, %t : tensor<4x16xf32>, tensor<4x8xf32>
}
"""

# x * a + b: the vectorizable kernel (FMA in the loop body).
FMA = """
#id = affine_map<(i, j) -> (i, j)>
func.func @forward(%x: tensor<32x64xf32>, %a: tensor<32x64xf32>, %b: tensor<32x64xf32>) -> tensor<32x64xf32> {
  %e = tensor.empty() : tensor<32x64xf32>
  %r = linalg.generic {indexing_maps = [#id, #id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %a, %b : tensor<32x64xf32>, tensor<32x64xf32>, tensor<32x64xf32>) outs(%e : tensor<32x64xf32>) {
  ^bb0(%xi: f32, %ai: f32, %bi: f32, %o: f32):
    %m = arith.mulf %xi, %ai : f32
    %s = arith.addf %m, %bi : f32
    linalg.yield %s : f32
  } -> tensor<32x64xf32>
  return %r : tensor<32x64xf32>
}
"""

# Row softmax (exp, max and sum reductions) plus a rank-0 total and an i32
# elementwise op: reductions, rank-0 descriptors, integer dtypes.
SOFTMAX_SUM_I32 = """
#id = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (i)>
#all = affine_map<(i, j) -> ()>
func.func @forward(%x: tensor<5x33xf32>, %n: tensor<5x33xi32>) -> (tensor<5x33xf32>, tensor<f32>, tensor<5x33xi32>) {
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %m0 = tensor.empty() : tensor<5xf32>
  %mi = linalg.fill ins(%ninf : f32) outs(%m0 : tensor<5xf32>) -> tensor<5xf32>
  %max = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<5x33xf32>) outs(%mi : tensor<5xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.maximumf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<5xf32>
  %e0 = tensor.empty() : tensor<5x33xf32>
  %ex = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %max : tensor<5x33xf32>, tensor<5xf32>) outs(%e0 : tensor<5x33xf32>) {
  ^bb0(%a: f32, %m: f32, %o: f32):
    %d = arith.subf %a, %m : f32
    %r = math.exp %d : f32
    linalg.yield %r : f32
  } -> tensor<5x33xf32>
  %si = linalg.fill ins(%zero : f32) outs(%m0 : tensor<5xf32>) -> tensor<5xf32>
  %sum = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%ex : tensor<5x33xf32>) outs(%si : tensor<5xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<5xf32>
  %sm = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%ex, %sum : tensor<5x33xf32>, tensor<5xf32>) outs(%e0 : tensor<5x33xf32>) {
  ^bb0(%a: f32, %s: f32, %o: f32):
    %r = arith.divf %a, %s : f32
    linalg.yield %r : f32
  } -> tensor<5x33xf32>
  %t0 = tensor.empty() : tensor<f32>
  %ti = linalg.fill ins(%zero : f32) outs(%t0 : tensor<f32>) -> tensor<f32>
  %tot = linalg.generic {indexing_maps = [#id, #all], iterator_types = ["reduction", "reduction"]}
      ins(%x : tensor<5x33xf32>) outs(%ti : tensor<f32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  %i0 = tensor.empty() : tensor<5x33xi32>
  %sq = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%n : tensor<5x33xi32>) outs(%i0 : tensor<5x33xi32>) {
  ^bb0(%a: i32, %o: i32):
    %c3 = arith.constant 3 : i32
    %p = arith.muli %a, %a : i32
    %r = arith.subi %p, %c3 : i32
    linalg.yield %r : i32
  } -> tensor<5x33xi32>
  return %sm, %tot, %sq : tensor<5x33xf32>, tensor<f32>, tensor<5x33xi32>
}
"""


def _softmax_ref(x: np.ndarray, n: np.ndarray) -> list[np.ndarray]:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return [e / e.sum(axis=1, keepdims=True), np.array(x.sum(dtype=np.float64), dtype=np.float32),
            n * n - 3]


KERNELS = [
    Kernel("linear_tanh", LINEAR_TANH, 1, lambda w, x: [x @ w.T, np.tanh(x)], 1e-5),
    Kernel("fma", FMA, 0, lambda x, a, b: [x * a + b], 1e-6),
    Kernel("softmax_sum_i32", SOFTMAX_SUM_I32, 0, _softmax_ref, 1e-5),
]


def check_outputs(kernel: Kernel, got: Sequence[np.ndarray], args: Sequence[np.ndarray]) -> None:
    want = kernel.reference(*args)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        if np.issubdtype(w.dtype, np.integer):
            np.testing.assert_array_equal(g, w)
        else:
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=kernel.atol)
