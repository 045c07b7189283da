// RUN: buddy-opt %s --buddy-fold-transpose-into-matmul | FileCheck %s

// nn.Linear: x @ W^T. The weight transpose disappears into matmul's B map.
// CHECK-DAG: #[[A:.+]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[BT:.+]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[C:.+]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[AT:.+]] = affine_map<(d0, d1, d2) -> (d2, d0)>
// CHECK-DAG: #[[BKT:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
// CHECK-LABEL: func.func @linear
//  CHECK-SAME: (%[[X:.+]]: tensor<4x8xf32>, %[[W:.+]]: tensor<16x8xf32>
//   CHECK-NOT: linalg.transpose
//       CHECK: linalg.matmul indexing_maps = [#[[A]], #[[BT]], #[[C]]] ins(%[[X]], %[[W]] : tensor<4x8xf32>, tensor<16x8xf32>)
func.func @linear(%x: tensor<4x8xf32>, %w: tensor<16x8xf32>, %acc: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %e = tensor.empty() : tensor<8x16xf32>
  %wt = linalg.transpose ins(%w : tensor<16x8xf32>) outs(%e : tensor<8x16xf32>) permutation = [1, 0]
  %r = linalg.matmul ins(%x, %wt : tensor<4x8xf32>, tensor<8x16xf32>) outs(%acc : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %r : tensor<4x16xf32>
}

// Both operands transposed: A^T is read as (k, m).
// CHECK-LABEL: func.func @both
//       CHECK: linalg.matmul indexing_maps = [#[[AT]], #[[BT]], #[[C]]] ins(%{{.+}}, %{{.+}} : tensor<8x4xf32>, tensor<16x8xf32>)
func.func @both(%a: tensor<8x4xf32>, %w: tensor<16x8xf32>, %acc: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %e0 = tensor.empty() : tensor<4x8xf32>
  %at = linalg.transpose ins(%a : tensor<8x4xf32>) outs(%e0 : tensor<4x8xf32>) permutation = [1, 0]
  %e1 = tensor.empty() : tensor<8x16xf32>
  %wt = linalg.transpose ins(%w : tensor<16x8xf32>) outs(%e1 : tensor<8x16xf32>) permutation = [1, 0]
  %r = linalg.matmul ins(%at, %wt : tensor<4x8xf32>, tensor<8x16xf32>) outs(%acc : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %r : tensor<4x16xf32>
}

// Attention scores Q @ K^T as a batch matmul over a (0, 2, 1) transpose.
// CHECK-LABEL: func.func @scores
//   CHECK-NOT: linalg.transpose
//       CHECK: linalg.batch_matmul indexing_maps = [#{{.+}}, #[[BKT]], #{{.+}}] ins(%{{.+}}, %{{.+}} : tensor<2x5x8xf32>, tensor<2x7x8xf32>)
func.func @scores(%q: tensor<2x5x8xf32>, %k: tensor<2x7x8xf32>, %acc: tensor<2x5x7xf32>) -> tensor<2x5x7xf32> {
  %e = tensor.empty() : tensor<2x8x7xf32>
  %kt = linalg.transpose ins(%k : tensor<2x7x8xf32>) outs(%e : tensor<2x8x7xf32>) permutation = [0, 2, 1]
  %r = linalg.batch_matmul ins(%q, %kt : tensor<2x5x8xf32>, tensor<2x8x7xf32>) outs(%acc : tensor<2x5x7xf32>) -> tensor<2x5x7xf32>
  return %r : tensor<2x5x7xf32>
}

// A transpose with another user stays for that user; the matmul still folds.
// CHECK-LABEL: func.func @shared
//       CHECK: %[[T:.+]] = linalg.transpose
//       CHECK: linalg.matmul indexing_maps = [#[[A]], #[[BT]], #[[C]]]
//       CHECK: return %{{.+}}, %[[T]]
func.func @shared(%x: tensor<4x8xf32>, %w: tensor<16x8xf32>, %acc: tensor<4x16xf32>) -> (tensor<4x16xf32>, tensor<8x16xf32>) {
  %e = tensor.empty() : tensor<8x16xf32>
  %wt = linalg.transpose ins(%w : tensor<16x8xf32>) outs(%e : tensor<8x16xf32>) permutation = [1, 0]
  %r = linalg.matmul ins(%x, %wt : tensor<4x8xf32>, tensor<8x16xf32>) outs(%acc : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %r, %wt : tensor<4x16xf32>, tensor<8x16xf32>
}

// Not a transpose: nothing changes.
// CHECK-LABEL: func.func @plain
//       CHECK: linalg.matmul ins(
func.func @plain(%x: tensor<4x8xf32>, %w: tensor<8x16xf32>, %acc: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %r = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%acc : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %r : tensor<4x16xf32>
}

// A transpose that moves the batch dimension cannot fold into batch_matmul (its maps must keep
// the batch dimension first); it stays.
// CHECK-LABEL: func.func @batch_moved
//       CHECK: %[[T:.+]] = linalg.transpose
//       CHECK: linalg.batch_matmul ins(%{{.+}}, %[[T]] :
func.func @batch_moved(%q: tensor<2x5x8xf32>, %k: tensor<8x2x7xf32>, %acc: tensor<2x5x7xf32>) -> tensor<2x5x7xf32> {
  %e = tensor.empty() : tensor<2x8x7xf32>
  %kt = linalg.transpose ins(%k : tensor<8x2x7xf32>) outs(%e : tensor<2x8x7xf32>) permutation = [1, 0, 2]
  %r = linalg.batch_matmul ins(%q, %kt : tensor<2x5x8xf32>, tensor<2x8x7xf32>) outs(%acc : tensor<2x5x7xf32>) -> tensor<2x5x7xf32>
  return %r : tensor<2x5x7xf32>
}
