// RUN: buddy-opt %s --buddy-quant-matmul-vectorize="vector-width=16 rows=4 chunk=4 int8-dot=avx512-vnni" --canonicalize --cse | FileCheck %s
// RUN: buddy-opt %s --buddy-quant-matmul-vectorize="vector-width=16 rows=4 chunk=4" --canonicalize --cse | FileCheck %s --check-prefix=F32X
// RUN: not buddy-opt %s --buddy-quant-matmul-vectorize="int8-dot=neon" 2>&1 | FileCheck %s --check-prefix=BAD

// int8 activations for the decode GEMVs (int8-dot=avx512-vnni). x is quantized once,
// before the parallel loop, per block of 32: dx = max|x| / 127, xq = roundeven(x / dx) as
// i8, and the per-block sums of xq, both as 16 lanes per pair of blocks (8 per block).
// Each pair of blocks of a weight row is one vpdpbusd (u8 weights x s8 xq -> 16 i32 lanes),
// started at -c * sum to undo the weights' unsigned offset, then scaled by d * dx.
#x = affine_map<(m, n, k) -> (m, k)>
#q = affine_map<(m, n, k) -> (n, k)>
#s = affine_map<(m, n, k) -> (n, k floordiv 32)>
#y = affine_map<(m, n, k) -> (m, n)>
#qp = affine_map<(m, n, k) -> (n, (k floordiv 32) * 16 + k mod 16)>

// Packed Q4_0 (nibble - 8), M = 1, K = 64 (one block pair). The 32 bytes are split into
// low and high nibbles and shuffled into x's element order: block 0 is lo[0:16] ++
// hi[0:16], block 1 lo[16:32] ++ hi[16:32]. The offset 8 over 8 lanes per block: start
// at -1 * sum.
// CHECK-LABEL: func.func @q40_packed
//       CHECK:   %[[XQ:.+]] = memref.alloca() {alignment = 64 : i64} : memref<1x64xi8>
//       CHECK:   %[[DX:.+]] = memref.alloca() {alignment = 64 : i64} : memref<1x16xf32>
//       CHECK:   %[[SUM:.+]] = memref.alloca() {alignment = 64 : i64} : memref<1x16xi32>
//       CHECK:   scf.for
//       CHECK:     vector.reduction <maximumf>, %{{.+}} : vector<16xf32> into f32
//       CHECK:     math.roundeven %{{.+}} : vector<16xf32>
//       CHECK:     arith.fptosi %{{.+}} : vector<16xf32> to vector<16xi32>
//       CHECK:     arith.trunci %{{.+}} : vector<16xi32> to vector<16xi8>
//       CHECK:     vector.store %{{.+}}, %[[XQ]]
//       CHECK:     vector.reduction <add>, %{{.+}} : vector<16xi32> into i32
//       CHECK:     vector.store %{{.+}}, %[[DX]]{{.+}} : memref<1x16xf32>, vector<8xf32>
//       CHECK:     vector.store %{{.+}}, %[[SUM]]{{.+}} : memref<1x16xi32>, vector<8xi32>
//       CHECK:   scf.parallel
//       CHECK:     %[[X8:.+]] = vector.load %[[XQ]][%c0, %c0] : memref<1x64xi8>, vector<64xi8>
//       CHECK:     %[[S:.+]] = vector.load %[[SUM]][%c0, %c0] : memref<1x16xi32>, vector<16xi32>
//       CHECK:     %[[START:.+]] = arith.muli %[[S]], %cst{{.*}} : vector<16xi32>
//       CHECK:     %[[B:.+]] = vector.load %arg1[%{{.+}}, %c0] : memref<8x32xi8>, vector<32xi8>
//       CHECK:     %[[LO:.+]] = arith.andi %[[B]]
//       CHECK:     %[[HI:.+]] = arith.shrui %[[B]]
//       CHECK:     %[[W:.+]] = vector.shuffle %[[LO]], %[[HI]] [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63]
//       CHECK:     %[[DP:.+]] = llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"(%[[START]], %[[W]], %[[X8]]) : (vector<16xi32>, vector<64xi8>, vector<64xi8>) -> vector<16xi32>
//       CHECK:     arith.sitofp %[[DP]] : vector<16xi32> to vector<16xf32>
//       CHECK:     vector.fma
//   CHECK-NOT:   linalg.generic
// F32X-LABEL: func.func @q40_packed
//   F32X-NOT:   memref.alloca
//   F32X-NOT:   llvm.call_intrinsic
//       F32X:   return
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

// i8 weights with mins (Q4_1-style over unpacked q), M = 2: x is quantized row by row;
// the weights become unsigned with xor 0x80 (q + 128), so each dot starts at -16 * sum
// (128 over 8 lanes); the mins add mn * (dx * sum / 8) per lane.
// CHECK-LABEL: func.func @q41_two_rows
//   CHECK-DAG:   %[[M16:.+]] = arith.constant dense<-16> : vector<16xi32>
//   CHECK-DAG:   %[[EIGHTH:.+]] = arith.constant dense<1.250000e-01> : vector<16xf32>
//   CHECK-DAG:   %[[X80:.+]] = arith.constant dense<-128> : vector<64xi8>
//       CHECK:   memref.alloca() {alignment = 64 : i64} : memref<2x64xi8>
//       CHECK:   scf.parallel
//       CHECK:     %[[DX0:.+]] = vector.load %{{.+}}[%c0, %c0] : memref<2x16xf32>, vector<16xf32>
//       CHECK:     %[[S0:.+]] = vector.load %{{.+}}[%c0, %c0] : memref<2x16xi32>, vector<16xi32>
//       CHECK:     %[[START0:.+]] = arith.muli %[[S0]], %[[M16]] : vector<16xi32>
//       CHECK:     %[[D8:.+]] = arith.mulf %[[DX0]], %[[EIGHTH]] : vector<16xf32>
//       CHECK:     %[[SF:.+]] = arith.sitofp %[[S0]] : vector<16xi32> to vector<16xf32>
//       CHECK:     %[[MINS0:.+]] = arith.mulf %[[SF]], %[[D8]] : vector<16xf32>
//       CHECK:     %[[Q:.+]] = vector.load %arg1[%{{.+}}, %c0] : memref<9x64xi8>, vector<64xi8>
//       CHECK:     %[[U:.+]] = arith.xori %[[Q]], %[[X80]] : vector<64xi8>
//       CHECK:     vector.shuffle {{.+}} : vector<8xf32>, vector<8xf32>
//       CHECK:     %[[MN:.+]] = vector.shuffle {{.+}} : vector<8xf32>, vector<8xf32>
//       CHECK:     %[[DP:.+]] = llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"(%[[START0]], %[[U]], %{{.+}})
//       CHECK:     %[[F:.+]] = arith.sitofp %[[DP]]
//       CHECK:     %[[A:.+]] = vector.fma %[[F]], %{{.+}}, %{{.+}} : vector<16xf32>
//       CHECK:     vector.fma %[[MN]], %[[MINS0]], %[[A]] : vector<16xf32>
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

// K = 96 is not a multiple of 64 (a whole number of block pairs): f32 activations.
// CHECK-LABEL: func.func @q80_k96_keeps_f32
//   CHECK-NOT:   memref.alloca
//   CHECK-NOT:   llvm.call_intrinsic
//       CHECK:   scf.parallel
//       CHECK:     arith.sitofp %{{.+}} : vector<16xi8> to vector<16xf32>
//   CHECK-NOT:   llvm.call_intrinsic
//       CHECK:   return
func.func @q80_k96_keeps_f32(%x: memref<1x96xf32>, %q: memref<8x96xi8>, %d: memref<8x3xf32>, %y: memref<1x8xf32>) {
  linalg.generic {indexing_maps = [#x, #q, #s, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %q, %d : memref<1x96xf32>, memref<8x96xi8>, memref<8x3xf32>) outs(%y : memref<1x8xf32>) {
  ^bb0(%a: f32, %w: i8, %sc: f32, %acc: f32):
    %wf = arith.sitofp %w : i8 to f32
    %dw = arith.mulf %sc, %wf : f32
    %p = arith.mulf %a, %dw : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  return
}

// BAD: buddy-quant-matmul-vectorize: int8-dot must be none or avx512-vnni, got 'neon'

// Blocks of 16 (Q8_16 planes, GGUF Q6_K repacked): one scale per 16 weights. The GEMV kernel
// takes them (one 16-lane i8 load and scale per block), with f32 activations: the int8
// kernel needs blocks of 32.
#s16 = affine_map<(m, n, k) -> (n, k floordiv 16)>
// CHECK-LABEL: func.func @q8_16_keeps_f32
//   CHECK-NOT:   memref.alloca
//       CHECK:   scf.parallel
//       CHECK:     scf.for %{{.+}} = %c0 to %c4 step %c1 iter_args
//       CHECK:       vector.load %arg1[{{.+}}] : memref<8x64xi8>, vector<16xi8>
//       CHECK:       arith.sitofp %{{.+}} : vector<16xi8> to vector<16xf32>
//   CHECK-NOT:   llvm.call_intrinsic
//       CHECK:   return
func.func @q8_16_keeps_f32(%x: memref<1x64xf32>, %q: memref<8x64xi8>, %d: memref<8x4xf32>, %y: memref<1x8xf32>) {
  linalg.generic {indexing_maps = [#x, #q, #s16, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %q, %d : memref<1x64xf32>, memref<8x64xi8>, memref<8x4xf32>) outs(%y : memref<1x8xf32>) {
  ^bb0(%a: f32, %w: i8, %sc: f32, %acc: f32):
    %wf = arith.sitofp %w : i8 to f32
    %dw = arith.mulf %sc, %wf : f32
    %p = arith.mulf %a, %dw : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  return
}
