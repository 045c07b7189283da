// RUN: buddy-opt %s --buddy-convert-linalg-to-gemmini | FileCheck %s
// RUN: buddy-opt %s --buddy-convert-linalg-to-gemmini=dataflow=os | FileCheck %s --check-prefix=OS
// RUN: not buddy-opt %s --buddy-convert-linalg-to-gemmini=dataflow=xy 2>&1 | FileCheck %s --check-prefix=BAD

// BAD: dataflow must be ws or os, not 'xy'

// A zero fill followed by the matmul: the fill goes, the tile op overwrites C
// (the default dataflow "ws" is not printed).
// CHECK-LABEL: func @zero_init
// CHECK-NOT: linalg.fill
// CHECK-NOT: linalg.matmul
// CHECK: gemmini.tile_matmul %arg0, %arg1 -> %arg2 : memref<17x33xi8>, memref<33x9xi8>, memref<17x9xi32>
// CHECK-NEXT: return
// OS-LABEL: func @zero_init
// OS: gemmini.tile_matmul %arg0, %arg1 -> %arg2 {dataflow = "os"}
func.func @zero_init(%a: memref<17x33xi8>, %b: memref<33x9xi8>, %c: memref<17x9xi32>) {
  %z = arith.constant 0 : i32
  linalg.fill ins(%z : i32) outs(%c : memref<17x9xi32>)
  linalg.matmul ins(%a, %b : memref<17x33xi8>, memref<33x9xi8>) outs(%c : memref<17x9xi32>)
  return
}

// No zero fill: C += A @ B keeps C as the MxN bias.
// CHECK-LABEL: func @accumulate
// CHECK: linalg.fill
// CHECK: gemmini.tile_matmul %arg0, %arg1 -> %arg2 bias %arg2 : memref<50x40xi32> : memref<50x70xi8>, memref<70x40xi8>, memref<50x40xi32>
func.func @accumulate(%a: memref<50x70xi8>, %b: memref<70x40xi8>, %c: memref<50x40xi32>) {
  %one = arith.constant 1 : i32
  linalg.fill ins(%one : i32) outs(%c : memref<50x40xi32>)
  linalg.matmul ins(%a, %b : memref<50x70xi8>, memref<70x40xi8>) outs(%c : memref<50x40xi32>)
  return
}

// Something else touching C between the fill and the matmul: the fill stays.
// CHECK-LABEL: func @fill_then_write
// CHECK: linalg.fill
// CHECK: memref.store
// CHECK: gemmini.tile_matmul %arg0, %arg1 -> %arg2 bias %arg2
func.func @fill_then_write(%a: memref<4x4xi8>, %b: memref<4x4xi8>, %c: memref<4x4xi32>) {
  %z = arith.constant 0 : i32
  %i = arith.constant 0 : index
  %v = arith.constant 5 : i32
  linalg.fill ins(%z : i32) outs(%c : memref<4x4xi32>)
  memref.store %v, %c[%i, %i] : memref<4x4xi32>
  linalg.matmul ins(%a, %b : memref<4x4xi8>, memref<4x4xi8>) outs(%c : memref<4x4xi32>)
  return
}

// Not for Gemmini: f32, an i8 output, unsigned casts, tensors.
// CHECK-LABEL: func @untouched
// CHECK-NOT: gemmini
// CHECK-COUNT-4: linalg.matmul
// CHECK-NOT: gemmini
// CHECK: return
func.func @untouched(%af: memref<4x4xf32>, %bf: memref<4x4xf32>, %cf: memref<4x4xf32>,
                     %a: memref<4x4xi8>, %b: memref<4x4xi8>, %c8: memref<4x4xi8>,
                     %c: memref<4x4xi32>, %t: tensor<4x4xi8>, %tc: tensor<4x4xi32>) -> tensor<4x4xi32> {
  linalg.matmul ins(%af, %bf : memref<4x4xf32>, memref<4x4xf32>) outs(%cf : memref<4x4xf32>)
  linalg.matmul ins(%a, %b : memref<4x4xi8>, memref<4x4xi8>) outs(%c8 : memref<4x4xi8>)
  linalg.matmul {cast = #linalg.type_fn<cast_unsigned>} ins(%a, %b : memref<4x4xi8>, memref<4x4xi8>) outs(%c : memref<4x4xi32>)
  %r = linalg.matmul ins(%t, %t : tensor<4x4xi8>, tensor<4x4xi8>) outs(%tc : tensor<4x4xi32>) -> tensor<4x4xi32>
  return %r : tensor<4x4xi32>
}
