// RUN: buddy-opt %s --buddy-quant-matmul-vectorize="vector-width=16 rows=4 chunk=4" --canonicalize --cse | FileCheck %s
// RUN: buddy-opt %s --buddy-quant-matmul-vectorize="vector-width=8 rows=4 chunk=4" --canonicalize --cse | FileCheck %s --check-prefix=V8
// RUN: buddy-opt %s --buddy-quant-matmul-vectorize --canonicalize --cse | FileCheck %s --check-prefix=DEF
// RUN: buddy-opt %s --buddy-quant-matmul-vectorize="prefetch=0" --canonicalize --cse | FileCheck %s --check-prefix=NOPF

// The frontend's quantized linear layer (buddy.quant_linear): y[m, n] += x[m, k] *
// (d[n, k/32] * sitofp(q[n, k]) (+ mn[n, k/32])), here Q4_1-style with mins, M = 2, N = 9
// (3 parallel tasks of 4 rows; rows=4 / M=2 = 2 weight rows per step, so 1 row is a tail),
// K = 64 (2 blocks of 32 = 2 vectors of 16 each). The operands of mulf/addf appear in
// another order than the frontend's: the match is structural, not textual.
// CHECK-LABEL: func.func @q41_two_rows
//   CHECK-NOT: linalg.generic
//       CHECK: scf.parallel
//       CHECK:   scf.for
//       CHECK:     %{{.+}}:4 = scf.for %[[G:.+]] = %c0 to %c2 step %c1 iter_args({{.+}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
//       CHECK:       %[[K0:.+]] = arith.muli %[[G]], %c32
//       CHECK:       vector.load %arg0[%c0, %[[K0]]] : memref<2x64xf32>, vector<16xf32>
//       CHECK:       arith.addf {{.+}} : vector<16xf32>
//       CHECK:       %[[Q:.+]] = vector.load %arg1[{{.+}}, %[[K0]]] : memref<9x64xi8>, vector<16xi8>
//       CHECK:       arith.sitofp %[[Q]] : vector<16xi8> to vector<16xf32>
//       CHECK:       vector.fma {{.+}} : vector<16xf32>
//       CHECK:       memref.load %arg2[{{.+}}, %[[G]]] : memref<9x2xf32>
//       CHECK:       vector.broadcast {{.+}} : f32 to vector<16xf32>
//       CHECK:       memref.load %arg3[{{.+}}, %[[G]]] : memref<9x2xf32>
//       CHECK:       vector.broadcast {{.+}} : f32 to vector<16xf32>
//       CHECK:       vector.fma
//       CHECK:       vector.fma
//       CHECK:       scf.yield
//       CHECK:     vector.reduction <add>, %{{.+}} fastmath<reassoc> : vector<16xf32> into f32
//       CHECK:     memref.load %arg4
//       CHECK:     memref.store {{.+}}, %arg4
//       CHECK:   scf.for
//       CHECK:     scf.for {{.+}} -> (vector<16xf32>, vector<16xf32>)
//       CHECK:   scf.reduce
#x = affine_map<(m, n, k) -> (m, k)>
#q = affine_map<(m, n, k) -> (n, k)>
#s = affine_map<(m, n, k) -> (n, k floordiv 32)>
#s8 = affine_map<(m, n, k) -> (n, k floordiv 8)>
#y = affine_map<(m, n, k) -> (m, n)>
func.func @q41_two_rows(%x: memref<2x64xf32>, %q: memref<9x64xi8>, %d: memref<9x2xf32>, %mn: memref<9x2xf32>, %y: memref<2x9xf32>) {
  linalg.generic {indexing_maps = [#x, #q, #s, #s, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %q, %d, %mn : memref<2x64xf32>, memref<9x64xi8>, memref<9x2xf32>, memref<9x2xf32>) outs(%y : memref<2x9xf32>) {
  ^bb0(%a: f32, %w: i8, %sc: f32, %m: f32, %acc: f32):
    %wf = arith.sitofp %w : i8 to f32
    %dw = arith.mulf %wf, %sc : f32
    %ww = arith.addf %m, %dw : f32
    %p = arith.mulf %ww, %a : f32
    %r = arith.addf %p, %acc : f32
    linalg.yield %r : f32
  }
  return
}

// Packed 4-bit weights (GGUF Q4_0 as the frontend emits it): q is [N, K/2] read at
// (n, (k floordiv 32) * 16 + k mod 16), the body picks the nibble with linalg.index and
// subtracts 8. The kernel loads the 16 bytes of a block once, splits them with andi/shrui
// into its two 16-element halves and subtracts 8 lane-wise.
// CHECK-LABEL: func.func @q40_packed
//   CHECK-NOT: linalg.generic
//       CHECK: scf.for {{.+}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
//       CHECK:   %[[B:.+]] = vector.load %arg1[{{.+}}] : memref<8x32xi8>, vector<16xi8>
//       CHECK:   %[[LO:.+]] = arith.andi %[[B]], %{{.+}} : vector<16xi8>
//       CHECK:   %[[HI:.+]] = arith.shrui %[[B]], %{{.+}} : vector<16xi8>
//       CHECK:   %[[LO8:.+]] = arith.subi %[[LO]], %{{.+}} : vector<16xi8>
//       CHECK:   %[[HI8:.+]] = arith.subi %[[HI]], %{{.+}} : vector<16xi8>
//       CHECK:   arith.sitofp %[[LO8]] : vector<16xi8> to vector<16xf32>
//       CHECK:   arith.sitofp %[[HI8]] : vector<16xi8> to vector<16xf32>
// With 8 lanes, each half is cut into two vectors (elements 0-7, 8-15 | 16-23, 24-31).
// V8-LABEL: func.func @q40_packed
//       V8: vector.load %arg1[{{.+}}] : memref<8x32xi8>, vector<16xi8>
//       V8: vector.extract_strided_slice %{{.+}} {offsets = [0], sizes = [8], strides = [1]} : vector<16xi8> to vector<8xi8>
//       V8: vector.extract_strided_slice %{{.+}} {offsets = [8], sizes = [8], strides = [1]} : vector<16xi8> to vector<8xi8>
//       V8: vector.extract_strided_slice %{{.+}} {offsets = [0], sizes = [8], strides = [1]} : vector<16xi8> to vector<8xi8>
//       V8: vector.extract_strided_slice %{{.+}} {offsets = [8], sizes = [8], strides = [1]} : vector<16xi8> to vector<8xi8>
//       V8: arith.sitofp {{.+}} : vector<8xi8> to vector<8xf32>
#qp = affine_map<(m, n, k) -> (n, (k floordiv 32) * 16 + k mod 16)>
func.func @q40_packed(%x: memref<1x64xf32>, %q: memref<8x32xi8>, %d: memref<8x2xf32>, %y: memref<1x8xf32>) {
  linalg.generic {indexing_maps = [#x, #qp, #s, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %q, %d : memref<1x64xf32>, memref<8x32xi8>, memref<8x2xf32>) outs(%y : memref<1x8xf32>) {
  ^bb0(%a: f32, %b: i8, %sc: f32, %acc: f32):
    %k = linalg.index 2 : index
    %c32 = arith.constant 32 : index
    %c16 = arith.constant 16 : index
    %c4 = arith.constant 4 : index
    %km = arith.remui %k, %c32 : index
    %h = arith.divui %km, %c16 : index
    %sh = arith.muli %h, %c4 : index
    %sh8 = arith.index_cast %sh : index to i8
    %t = arith.shrui %b, %sh8 : i8
    %c15 = arith.constant 15 : i8
    %nib = arith.andi %c15, %t : i8
    %c8 = arith.constant 8 : i8
    %v = arith.subi %nib, %c8 : i8
    %wf = arith.sitofp %v : i8 to f32
    %dw = arith.mulf %sc, %wf : f32
    %p = arith.mulf %a, %dw : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  return
}

// M = 8 > max-rows (prefill): the weight is dequantized once into an aligned f32 buffer
// (rows in parallel, vectorized), then a B-transposed linalg.matmul reads it (for
// --buddy-matmul-vectorize), and the buffer is freed.
// Decode defaults (rows=4, chunk=64, prefetch=2) on a Q8_0 K/V projection, N = 192:
// 64-row chunks would make 3 tasks (2:1 on two threads); the kernel takes 8-row chunks,
// 24 tasks. Each block of each weight row prefetches the same block of the row 2 steps
// (8 rows) ahead, clamped to the last row (191). prefetch=0 emits none.
// DEF-LABEL: func.func @q80_kv_decode
//       DEF:   %[[C191:.+]] = arith.constant 191 : index
//       DEF:   scf.parallel (%[[T:.+]]) = (%c0) to (%c24) step (%c1)
//       DEF:     %[[N0:.+]] = arith.muli %[[T]], %c8
//       DEF:     scf.for %[[N:.+]] = %[[N0]] to %{{.+}} step %c4
//       DEF:       scf.for %[[G:.+]] = %c0 to %c2 step %c1 iter_args
//       DEF:         %[[K0:.+]] = arith.muli %[[G]], %c32
//       DEF:         %[[AH:.+]] = arith.addi %[[N]], %c8
//       DEF:         %[[CL:.+]] = arith.minsi %[[AH]], %[[C191]]
//       DEF:         memref.prefetch %arg1[%[[CL]], %[[K0]]], read, locality<0>, data : memref<192x64xi8>
//       DEF:         vector.load %arg1[%[[N]], %[[K0]]] : memref<192x64xi8>, vector<16xi8>
// NOPF-LABEL: func.func @q80_kv_decode
//   NOPF-NOT: memref.prefetch
//       NOPF: return
func.func @q80_kv_decode(%x: memref<1x64xf32>, %q: memref<192x64xi8>, %d: memref<192x2xf32>, %y: memref<1x192xf32>) {
  linalg.generic {indexing_maps = [#x, #q, #s, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %q, %d : memref<1x64xf32>, memref<192x64xi8>, memref<192x2xf32>) outs(%y : memref<1x192xf32>) {
  ^bb0(%a: f32, %w: i8, %sc: f32, %acc: f32):
    %wf = arith.sitofp %w : i8 to f32
    %dw = arith.mulf %sc, %wf : f32
    %p = arith.mulf %a, %dw : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  return
}

// CHECK-LABEL: func.func @q8_prefill
//       CHECK: %[[W:.+]] = memref.alloc() {alignment = 64 : i64} : memref<5x32xf32>
//       CHECK: scf.parallel
//       CHECK:   memref.load %arg2
//       CHECK:   vector.load %arg1[{{.+}}] : memref<5x32xi8>, vector<16xi8>
//       CHECK:   arith.sitofp
//       CHECK:   arith.mulf {{.+}} : vector<16xf32>
//       CHECK:   vector.store {{.+}}, %[[W]][{{.+}}] : memref<5x32xf32>, vector<16xf32>
//       CHECK: linalg.matmul indexing_maps = [#map{{.*}}, #map{{.*}}, #map{{.*}}] ins(%arg0, %[[W]] : memref<8x32xf32>, memref<5x32xf32>) outs(%arg3 : memref<8x5xf32>)
//       CHECK: memref.dealloc %[[W]]
func.func @q8_prefill(%x: memref<8x32xf32>, %q: memref<5x32xi8>, %d: memref<5x1xf32>, %y: memref<8x5xf32>) {
  linalg.generic {indexing_maps = [#x, #q, #s, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %q, %d : memref<8x32xf32>, memref<5x32xi8>, memref<5x1xf32>) outs(%y : memref<8x5xf32>) {
  ^bb0(%a: f32, %w: i8, %sc: f32, %acc: f32):
    %wf = arith.sitofp %w : i8 to f32
    %dw = arith.mulf %sc, %wf : f32
    %p = arith.mulf %a, %dw : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  return
}

// Near misses stay linalg.generic (the generic lowering handles them): a different
// combiner (subf), unsigned quants (uitofp: another function), a block of 8 that is
// not a multiple of the vector width, and packed nibbles selected with the wrong shift.
// CHECK-LABEL: func.func @near_misses
//   CHECK-NOT: vector.
//       CHECK: linalg.generic
//       CHECK:   arith.subf
//       CHECK: linalg.generic
//       CHECK:   arith.uitofp
//       CHECK: linalg.generic
//       CHECK: linalg.generic
//       CHECK:   arith.divui
//   CHECK-NOT: vector.
#qp4 = affine_map<(m, n, k) -> (n, (k floordiv 32) * 16 + k mod 16)>
func.func @near_misses(%x: memref<1x64xf32>, %q: memref<4x64xi8>, %qh: memref<4x32xi8>, %d: memref<4x2xf32>, %d8: memref<4x8xf32>, %y: memref<1x4xf32>) {
  linalg.generic {indexing_maps = [#x, #q, #s, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %q, %d : memref<1x64xf32>, memref<4x64xi8>, memref<4x2xf32>) outs(%y : memref<1x4xf32>) {
  ^bb0(%a: f32, %w: i8, %sc: f32, %acc: f32):
    %wf = arith.sitofp %w : i8 to f32
    %dw = arith.mulf %sc, %wf : f32
    %p = arith.mulf %a, %dw : f32
    %r = arith.subf %acc, %p : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#x, #q, #s, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %q, %d : memref<1x64xf32>, memref<4x64xi8>, memref<4x2xf32>) outs(%y : memref<1x4xf32>) {
  ^bb0(%a: f32, %w: i8, %sc: f32, %acc: f32):
    %wf = arith.uitofp %w : i8 to f32
    %dw = arith.mulf %sc, %wf : f32
    %p = arith.mulf %a, %dw : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#x, #q, #s8, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %q, %d8 : memref<1x64xf32>, memref<4x64xi8>, memref<4x8xf32>) outs(%y : memref<1x4xf32>) {
  ^bb0(%a: f32, %w: i8, %sc: f32, %acc: f32):
    %wf = arith.sitofp %w : i8 to f32
    %dw = arith.mulf %sc, %wf : f32
    %p = arith.mulf %a, %dw : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#x, #qp4, #s, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %qh, %d : memref<1x64xf32>, memref<4x32xi8>, memref<4x2xf32>) outs(%y : memref<1x4xf32>) {
  ^bb0(%a: f32, %b: i8, %sc: f32, %acc: f32):
    %k = linalg.index 2 : index
    %c32 = arith.constant 32 : index
    %c8i = arith.constant 8 : index
    %c4 = arith.constant 4 : index
    %km = arith.remui %k, %c32 : index
    %h = arith.divui %km, %c8i : index
    %sh = arith.muli %h, %c4 : index
    %sh8 = arith.index_cast %sh : index to i8
    %t = arith.shrui %b, %sh8 : i8
    %c15 = arith.constant 15 : i8
    %nib = arith.andi %t, %c15 : i8
    %wf = arith.sitofp %nib : i8 to f32
    %dw = arith.mulf %sc, %wf : f32
    %p = arith.mulf %a, %dw : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  return
}
