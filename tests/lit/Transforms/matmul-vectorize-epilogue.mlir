// RUN: buddy-opt %s --buddy-matmul-vectorize="mr=2 nr=16 vector-width=8 kc=32 nc=64 threads=2" --canonicalize --cse | FileCheck %s
// RUN: buddy-opt %s --buddy-matmul-vectorize="mr=2 nr=16 vector-width=8 kc=32 nc=64 threads=2 fuse-epilogue=0" | FileCheck %s --check-prefix=NOFUSE

// nn.Linear + ReLU + residual after bufferization and elementwise fusion: the
// generic (bias(d1) + C, max 0, + residual) is C's only reader, so the last K
// block applies it to the accumulators and stores the output; earlier K blocks
// (K = 40 > kc = 32) keep partial sums in C.
// CHECK-LABEL: func.func @linear_relu_residual
//   CHECK-NOT: linalg.generic
//       CHECK: scf.parallel
//       CHECK:   %[[LAST:.+]] = arith.cmpi eq, %{{.+}}, %c40 : index
//       CHECK:   scf.if %[[LAST]] {
//       CHECK:     vector.maskedload %arg1[%{{.+}}], %{{.+}}, %{{.+}} : memref<48xf32>, vector<8xi1>, vector<8xf32> into vector<8xf32>
//       CHECK:     vector.maskedload %arg3[%{{.+}}, %{{.+}}], %{{.+}}, %{{.+}} : memref<20x48xf32>, vector<8xi1>, vector<8xf32> into vector<8xf32>
//       CHECK:     arith.addf %{{.+}} : vector<8xf32>
//       CHECK:     arith.maximumf %{{.+}} : vector<8xf32>
//       CHECK:     arith.addf %{{.+}} : vector<8xf32>
//       CHECK:     vector.maskedstore %arg4[%{{.+}}, %{{.+}}], %{{.+}}, %{{.+}} : memref<20x48xf32>, vector<8xi1>, vector<8xf32>
//       CHECK:   } else {
//       CHECK:     vector.maskedstore %[[C:.+]][%{{.+}}, %{{.+}}], %{{.+}}, %{{.+}} : memref<20x48xf32>, vector<8xi1>, vector<8xf32>
//   CHECK-NOT: linalg.generic
//       CHECK: memref.dealloc
// NOFUSE-LABEL: func.func @linear_relu_residual
//       NOFUSE: linalg.generic
#bias = affine_map<(d0, d1) -> (d1)>
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @linear_relu_residual(%w: memref<48x40xf32>, %bias: memref<48xf32>, %x: memref<20x40xf32>,
                                %res: memref<20x48xf32>, %out: memref<20x48xf32>) {
  %zero = arith.constant 0.0 : f32
  %c = memref.alloc() {alignment = 64 : i64} : memref<20x48xf32>
  linalg.fill ins(%zero : f32) outs(%c : memref<20x48xf32>)
  linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
    ins(%x, %w : memref<20x40xf32>, memref<48x40xf32>) outs(%c : memref<20x48xf32>)
  linalg.generic {indexing_maps = [#bias, #id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%bias, %c, %res : memref<48xf32>, memref<20x48xf32>, memref<20x48xf32>) outs(%out : memref<20x48xf32>) {
  ^bb0(%b: f32, %p: f32, %r: f32, %o: f32):
    %s = arith.addf %b, %p : f32
    %m = arith.maximumf %s, %zero : f32
    %y = arith.addf %m, %r : f32
    linalg.yield %y : f32
  }
  memref.dealloc %c : memref<20x48xf32>
  return
}

// C is read again after the generic (returned through %copy): not fused.
// CHECK-LABEL: func.func @c_read_twice
//       CHECK: linalg.generic
//       CHECK: memref.copy
#id2 = affine_map<(d0, d1) -> (d0, d1)>
func.func @c_read_twice(%a: memref<16x16xf32>, %b: memref<16x16xf32>, %out: memref<16x16xf32>,
                        %copy: memref<16x16xf32>) {
  %zero = arith.constant 0.0 : f32
  %c = memref.alloc() : memref<16x16xf32>
  linalg.fill ins(%zero : f32) outs(%c : memref<16x16xf32>)
  linalg.matmul ins(%a, %b : memref<16x16xf32>, memref<16x16xf32>) outs(%c : memref<16x16xf32>)
  linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%c : memref<16x16xf32>) outs(%out : memref<16x16xf32>) {
  ^bb0(%p: f32, %o: f32):
    %y = math.tanh %p : f32
    linalg.yield %y : f32
  }
  memref.copy %c, %copy : memref<16x16xf32> to memref<16x16xf32>
  memref.dealloc %c : memref<16x16xf32>
  return
}

// The consumer writes into one of its own inputs (in-place residual update):
// partial sums would clobber it, so it is not fused.
// CHECK-LABEL: func.func @out_aliases_input
//       CHECK: linalg.generic
func.func @out_aliases_input(%a: memref<16x16xf32>, %b: memref<16x16xf32>, %h: memref<16x16xf32>) {
  %zero = arith.constant 0.0 : f32
  %c = memref.alloc() : memref<16x16xf32>
  linalg.fill ins(%zero : f32) outs(%c : memref<16x16xf32>)
  linalg.matmul ins(%a, %b : memref<16x16xf32>, memref<16x16xf32>) outs(%c : memref<16x16xf32>)
  linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%c, %h : memref<16x16xf32>, memref<16x16xf32>) outs(%h : memref<16x16xf32>) {
  ^bb0(%p: f32, %x: f32, %o: f32):
    %y = arith.addf %p, %x : f32
    linalg.yield %y : f32
  }
  memref.dealloc %c : memref<16x16xf32>
  return
}
