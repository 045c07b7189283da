// RUN: buddy-opt %s --buddy-gemv-vectorize="rows=2 cols=2 vector-width=16 chunk=32 threads=2" --canonicalize --cse | FileCheck %s

// bf16 nn.Linear decode as the frontend emits it (bf16 inputs, f32 output):
// A and W vectors are loaded as bf16 and extended to f32, the accumulators and
// C stay f32; the masked K tail (40 = 2*16 + 8) pads with bf16 zeros.
// CHECK-LABEL: func.func @linear_decode_bf16
//   CHECK-NOT: linalg.matmul
//       CHECK: scf.parallel
//       CHECK:   %{{.+}}:2 = scf.for %[[K:.+]] = %c0 to %c32 step %c16 iter_args({{.+}}) -> (vector<16xf32>, vector<16xf32>)
//       CHECK:     %[[X:.+]] = vector.load %arg0[%c0, %[[K]]] : memref<1x40xbf16>, vector<16xbf16>
//       CHECK:     arith.extf %[[X]] : vector<16xbf16> to vector<16xf32>
//       CHECK:     vector.load %arg1[{{.+}}, %[[K]]] : memref<48x40xbf16>, vector<16xbf16>
//       CHECK:     arith.extf {{.+}} : vector<16xbf16> to vector<16xf32>
//       CHECK:     vector.load %arg1[{{.+}}, %[[K]]] : memref<48x40xbf16>, vector<16xbf16>
//       CHECK:     arith.extf {{.+}} : vector<16xbf16> to vector<16xf32>
//       CHECK-COUNT-2: vector.fma {{.+}} : vector<16xf32>
//       CHECK:   vector.maskedload %arg0[%c0, %c32], %{{.+}}, %{{.+}} : memref<1x40xbf16>, vector<16xi1>, vector<16xbf16> into vector<16xbf16>
//       CHECK:   vector.reduction <add>, %{{.+}} : vector<16xf32> into f32
//       CHECK:   memref.load %arg2
//       CHECK:   arith.addf {{.+}} : f32
//       CHECK:   memref.store {{.+}}, %arg2
func.func @linear_decode_bf16(%x: memref<1x40xbf16>, %w: memref<48x40xbf16>, %y: memref<1x48xf32>) {
  linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
    ins(%x, %w : memref<1x40xbf16>, memref<48x40xbf16>) outs(%y : memref<1x48xf32>)
  return
}

// W as (k, n) in bf16: the scalar A element is extended before the
// broadcast, the weight row vectors after their masked bf16 load.
// CHECK-LABEL: func.func @plain_decode_bf16
//       CHECK: scf.parallel
//       CHECK:   memref.load %arg0{{.+}} : memref<1x4xbf16>
//       CHECK:   arith.extf {{.+}} : bf16 to f32
//       CHECK:   vector.broadcast {{.+}} : f32 to vector<16xf32>
//       CHECK:   scf.for
//       CHECK:     vector.maskedload %arg1{{.+}} : memref<4x40xbf16>, vector<16xi1>, vector<16xbf16> into vector<16xbf16>
//       CHECK:     arith.extf {{.+}} : vector<16xbf16> to vector<16xf32>
//       CHECK:     vector.maskedload %arg2{{.+}} : memref<1x40xf32>
//       CHECK:     vector.fma
//       CHECK:     vector.maskedstore %arg2
func.func @plain_decode_bf16(%x: memref<1x4xbf16>, %w: memref<4x40xbf16>, %y: memref<1x40xf32>) {
  linalg.matmul ins(%x, %w : memref<1x4xbf16>, memref<4x40xbf16>) outs(%y : memref<1x40xf32>)
  return
}

// A bf16 output (C += in bf16 precision) is not the f32-accumulating form:
// left alone, as are f16 inputs.
// CHECK-LABEL: func.func @not_f32_acc
//       CHECK: linalg.matmul
//       CHECK: linalg.matmul
func.func @not_f32_acc(%x: memref<1x16xbf16>, %w: memref<16x16xbf16>, %y: memref<1x16xbf16>,
                       %h: memref<1x16xf16>, %hw: memref<16x16xf16>, %hy: memref<1x16xf32>) {
  linalg.matmul ins(%x, %w : memref<1x16xbf16>, memref<16x16xbf16>) outs(%y : memref<1x16xbf16>)
  linalg.matmul ins(%h, %hw : memref<1x16xf16>, memref<16x16xf16>) outs(%hy : memref<1x16xf32>)
  return
}
