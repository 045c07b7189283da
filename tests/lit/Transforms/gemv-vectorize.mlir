// RUN: buddy-opt %s --buddy-gemv-vectorize="rows=4 cols=2 vector-width=16 chunk=32 threads=2" --canonicalize --cse | FileCheck %s

// nn.Linear decode, W as (n, k): 4 weight rows per step, dot products along
// the contiguous K (100 = 6*16 + masked tail of 4), reduced into C.
// CHECK-LABEL: func.func @linear_decode
//   CHECK-NOT: linalg.matmul
//       CHECK: scf.parallel (%{{.+}}) = (%c0) to (%c4) step (%c1)
//       CHECK:   scf.for %[[N:.+]] =
//       CHECK:     %{{.+}}:4 = scf.for %[[K:.+]] = %c0 to %c96 step %c16 iter_args
//       CHECK:       vector.load %arg0[%c0, %[[K]]] : memref<1x100xf32>, vector<16xf32>
//       CHECK-COUNT-4: vector.load %arg1
//       CHECK-COUNT-4: vector.fma
//       CHECK:     vector.constant_mask [4] : vector<16xi1>
//       CHECK:     vector.maskedload %arg0[%c0, %c96]
//       CHECK-COUNT-4: vector.reduction <add>
//       CHECK:   scf.for
//       CHECK:     vector.reduction <add>
func.func @linear_decode(%x: memref<1x100xf32>, %w: memref<120x100xf32>, %y: memref<1x120xf32>) {
  linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
    ins(%x, %w : memref<1x100xf32>, memref<120x100xf32>) outs(%y : memref<1x120xf32>)
  return
}

// W as (k, n): one contiguous N range per thread (40 -> 2 x 32 columns),
// 2 weight rows per step streamed contiguously into C, K tail of one row
// (its single-trip loop is folded by canonicalize).
// CHECK-LABEL: func.func @plain_decode
//       CHECK: scf.parallel (%{{.+}}) = (%c0) to (%c2) step (%c1)
//       CHECK:   scf.for %{{.+}} = %c0 to %c6 step %c2
//       CHECK:     vector.broadcast
//       CHECK:     vector.broadcast
//       CHECK:     scf.for
//       CHECK:       vector.create_mask
//       CHECK-COUNT-2: vector.maskedload %arg1
//       CHECK:       vector.maskedload %arg2
//       CHECK-COUNT-2: vector.fma
//       CHECK:       vector.maskedstore %arg2
//       CHECK:   memref.load %arg0[%c0, %c6]
//       CHECK:   scf.for
//       CHECK:     vector.fma
//   CHECK-NOT:     vector.fma
//       CHECK:     vector.maskedstore %arg2
func.func @plain_decode(%x: memref<1x7xf32>, %w: memref<7x40xf32>, %y: memref<1x40xf32>) {
  linalg.matmul ins(%x, %w : memref<1x7xf32>, memref<7x40xf32>) outs(%y : memref<1x40xf32>)
  return
}

// M above max-rows and dynamic M are left for buddy-matmul-vectorize.
// CHECK-LABEL: func.func @too_many_rows
//       CHECK: linalg.matmul
//       CHECK: linalg.matmul
func.func @too_many_rows(%a: memref<8x16xf32>, %b: memref<16x16xf32>, %c: memref<8x16xf32>,
                         %da: memref<?x16xf32>, %dc: memref<?x16xf32>) {
  linalg.matmul ins(%a, %b : memref<8x16xf32>, memref<16x16xf32>) outs(%c : memref<8x16xf32>)
  linalg.matmul ins(%da, %b : memref<?x16xf32>, memref<16x16xf32>) outs(%dc : memref<?x16xf32>)
  return
}

// Decode attention (one batch per KV head, M = 3 query heads of the group): scores =
// q k^T with the cache as (n, k), then probs v with the cache as (k, n). The tasks are
// (batch, N chunk) pairs of an scf.parallel, each running the 2-D kernel on the batch's
// rank-reduced subviews (no packed copy of the 512-position cache, as the GEMM would make).
// CHECK-LABEL: func.func @attention_decode
//       CHECK: scf.parallel (%[[B:.+]], %[[J:.+]]) = (%c0, %c0) to (%c3, %c16) step (%c1, %c1)
//       CHECK:   memref.subview %arg0[%[[B]], 0, 0] [1, 3, 64] [1, 1, 1] : memref<3x3x64xf32> to memref<3x64xf32, strided<[64, 1], offset: ?>>
//       CHECK:   memref.subview %arg1[%[[B]], 0, 0] [1, 512, 64] [1, 1, 1] : memref<3x512x64xf32> to memref<512x64xf32, strided<[64, 1], offset: ?>>
//       CHECK:   vector.fma
//       CHECK:   vector.reduction <add>
//       CHECK: scf.parallel (%[[B2:.+]], %[[J2:.+]]) = (%c0, %c0) to (%c3, %c2) step (%c1, %c1)
//       CHECK:   memref.subview %arg3[%[[B2]], 0, 0] [1, 512, 64] [1, 1, 1] : memref<3x512x64xf32> to memref<512x64xf32, strided<[64, 1], offset: ?>>
//       CHECK:   vector.broadcast
//       CHECK:   vector.maskedload
//       CHECK:   vector.fma
//       CHECK:   vector.maskedstore
//   CHECK-NOT: linalg.batch_matmul
func.func @attention_decode(%q: memref<3x3x64xf32>, %k: memref<3x512x64xf32>, %s: memref<3x3x512xf32>,
                            %v: memref<3x512x64xf32>, %o: memref<3x3x64xf32>) {
  linalg.batch_matmul indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>, affine_map<(b, m, n, k) -> (b, n, k)>, affine_map<(b, m, n, k) -> (b, m, n)>]
    ins(%q, %k : memref<3x3x64xf32>, memref<3x512x64xf32>) outs(%s : memref<3x3x512xf32>)
  linalg.batch_matmul ins(%s, %v : memref<3x3x512xf32>, memref<3x512x64xf32>) outs(%o : memref<3x3x64xf32>)
  return
}
