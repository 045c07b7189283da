// RUN: buddy-opt %s --buddy-quant-matmul-vectorize="rows=4 chunk=64" --canonicalize --cse | FileCheck %s
// RUN: buddy-opt %s --buddy-quant-matmul-vectorize="rows=4 chunk=64 group-siblings=0" --canonicalize --cse | FileCheck %s --check-prefix=OFF

// Decode q/k/v projections of one x (Q8_0, N = 96, 48, 48, K = 32), as the frontend
// bufferizes them: each y is a fresh alloc + zero fill, and a transpose of q's output sits
// between q and k. One scf.parallel runs all three: a common chunk of 192 / 24 = 8 rows
// makes 12 + 6 + 6 tasks; an scf.if chain picks the matrix. The later allocs and fills move
// above the group; the transpose stays after it (it reads q's y, which is then computed).
// CHECK-LABEL: func.func @qkv
//       CHECK:   %[[YQ:.+]] = memref.alloc() {{.*}} : memref<1x96xf32>
//       CHECK:   linalg.fill {{.*}} outs(%[[YQ]]
//       CHECK:   %[[YK:.+]] = memref.alloc() {{.*}} : memref<1x48xf32>
//       CHECK:   linalg.fill {{.*}} outs(%[[YK]]
//       CHECK:   %[[YV:.+]] = memref.alloc() {{.*}} : memref<1x48xf32>
//       CHECK:   linalg.fill {{.*}} outs(%[[YV]]
//       CHECK:   scf.parallel (%[[T:.+]]) = (%c0) to (%c24) step (%c1)
//       CHECK:     %[[INQ:.+]] = arith.cmpi slt, %[[T]], %c12
//       CHECK:     scf.if %[[INQ]]
//       CHECK:       memref.store {{.+}}, %[[YQ]]
//       CHECK:     } else {
//       CHECK:       %[[INK:.+]] = arith.cmpi slt, %[[T]], %c18
//       CHECK:       scf.if %[[INK]]
//       CHECK:         memref.store {{.+}}, %[[YK]]
//       CHECK:       } else {
//       CHECK:         memref.store {{.+}}, %[[YV]]
//       CHECK:   linalg.transpose ins(%{{.+}} : memref<1x96xf32>)
//   CHECK-NOT:   scf.parallel
//       CHECK:   return
// OFF-LABEL: func.func @qkv
// OFF-COUNT-3: scf.parallel
#x = affine_map<(m, n, k) -> (m, k)>
#q = affine_map<(m, n, k) -> (n, k)>
#s = affine_map<(m, n, k) -> (n, k floordiv 32)>
#y = affine_map<(m, n, k) -> (m, n)>
func.func @qkv(%x: memref<1x32xf32>, %wq: memref<96x32xi8>, %dq: memref<96x1xf32>,
               %wk: memref<48x32xi8>, %dk: memref<48x1xf32>, %wv: memref<48x32xi8>, %dv: memref<48x1xf32>)
    -> (memref<96x1xf32>, memref<1x48xf32>, memref<1x48xf32>) {
  %zero = arith.constant 0.0 : f32
  %yq = memref.alloc() {alignment = 64 : i64} : memref<1x96xf32>
  linalg.fill ins(%zero : f32) outs(%yq : memref<1x96xf32>)
  linalg.generic {indexing_maps = [#x, #q, #s, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %wq, %dq : memref<1x32xf32>, memref<96x32xi8>, memref<96x1xf32>) outs(%yq : memref<1x96xf32>) {
  ^bb0(%a: f32, %w: i8, %sc: f32, %acc: f32):
    %wf = arith.sitofp %w : i8 to f32
    %dw = arith.mulf %sc, %wf : f32
    %p = arith.mulf %a, %dw : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  %qt = memref.alloc() {alignment = 64 : i64} : memref<96x1xf32>
  linalg.transpose ins(%yq : memref<1x96xf32>) outs(%qt : memref<96x1xf32>) permutation = [1, 0]
  %yk = memref.alloc() {alignment = 64 : i64} : memref<1x48xf32>
  linalg.fill ins(%zero : f32) outs(%yk : memref<1x48xf32>)
  linalg.generic {indexing_maps = [#x, #q, #s, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %wk, %dk : memref<1x32xf32>, memref<48x32xi8>, memref<48x1xf32>) outs(%yk : memref<1x48xf32>) {
  ^bb0(%a: f32, %w: i8, %sc: f32, %acc: f32):
    %wf = arith.sitofp %w : i8 to f32
    %dw = arith.mulf %sc, %wf : f32
    %p = arith.mulf %a, %dw : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  %yv = memref.alloc() {alignment = 64 : i64} : memref<1x48xf32>
  linalg.fill ins(%zero : f32) outs(%yv : memref<1x48xf32>)
  linalg.generic {indexing_maps = [#x, #q, #s, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %wv, %dv : memref<1x32xf32>, memref<48x32xi8>, memref<48x1xf32>) outs(%yv : memref<1x48xf32>) {
  ^bb0(%a: f32, %w: i8, %sc: f32, %acc: f32):
    %wf = arith.sitofp %w : i8 to f32
    %dw = arith.mulf %sc, %wf : f32
    %p = arith.mulf %a, %dw : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  return %qt, %yk, %yv : memref<96x1xf32>, memref<1x48xf32>, memref<1x48xf32>
}

// Not siblings: the second GEMV reads x after an op writes it (x is updated in place
// between them), and the third reads another x. Each keeps its own scf.parallel, in order.
// CHECK-LABEL: func.func @not_siblings
//       CHECK:   scf.parallel
//       CHECK:   linalg.generic {{.*}} outs(%arg0 : memref<1x32xf32>)
//       CHECK:   scf.parallel
//       CHECK:   scf.parallel
//   CHECK-NOT:   scf.if
//       CHECK:   return
#e = affine_map<(m, k) -> (m, k)>
func.func @not_siblings(%x: memref<1x32xf32>, %x2: memref<1x32xf32>, %w: memref<48x32xi8>, %d: memref<48x1xf32>)
    -> (memref<1x48xf32>, memref<1x48xf32>, memref<1x48xf32>) {
  %zero = arith.constant 0.0 : f32
  %y1 = memref.alloc() : memref<1x48xf32>
  linalg.fill ins(%zero : f32) outs(%y1 : memref<1x48xf32>)
  linalg.generic {indexing_maps = [#x, #q, #s, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w, %d : memref<1x32xf32>, memref<48x32xi8>, memref<48x1xf32>) outs(%y1 : memref<1x48xf32>) {
  ^bb0(%a: f32, %q: i8, %sc: f32, %acc: f32):
    %wf = arith.sitofp %q : i8 to f32
    %dw = arith.mulf %sc, %wf : f32
    %p = arith.mulf %a, %dw : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#e], iterator_types = ["parallel", "parallel"]} outs(%x : memref<1x32xf32>) {
  ^bb0(%o: f32):
    %t = arith.addf %o, %o : f32
    linalg.yield %t : f32
  }
  %y2 = memref.alloc() : memref<1x48xf32>
  linalg.fill ins(%zero : f32) outs(%y2 : memref<1x48xf32>)
  linalg.generic {indexing_maps = [#x, #q, #s, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w, %d : memref<1x32xf32>, memref<48x32xi8>, memref<48x1xf32>) outs(%y2 : memref<1x48xf32>) {
  ^bb0(%a: f32, %q: i8, %sc: f32, %acc: f32):
    %wf = arith.sitofp %q : i8 to f32
    %dw = arith.mulf %sc, %wf : f32
    %p = arith.mulf %a, %dw : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  %y3 = memref.alloc() : memref<1x48xf32>
  linalg.fill ins(%zero : f32) outs(%y3 : memref<1x48xf32>)
  linalg.generic {indexing_maps = [#x, #q, #s, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x2, %w, %d : memref<1x32xf32>, memref<48x32xi8>, memref<48x1xf32>) outs(%y3 : memref<1x48xf32>) {
  ^bb0(%a: f32, %q: i8, %sc: f32, %acc: f32):
    %wf = arith.sitofp %q : i8 to f32
    %dw = arith.mulf %sc, %wf : f32
    %p = arith.mulf %a, %dw : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  return %y1, %y2, %y3 : memref<1x48xf32>, memref<1x48xf32>, memref<1x48xf32>
}
