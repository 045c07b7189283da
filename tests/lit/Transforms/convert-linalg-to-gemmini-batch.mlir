// RUN: buddy-opt %s --buddy-convert-linalg-to-gemmini | FileCheck %s
// RUN: buddy-opt %s --buddy-convert-linalg-to-gemmini=dataflow=os | FileCheck %s --check-prefix=OS
// RUN: buddy-opt %s --buddy-convert-linalg-to-gemmini --buddy-lower-gemmini | FileCheck %s --check-prefix=LOW
// OS-COUNT-3: gemmini.tile_matmul {{.+}}dataflow = "os"
// int8 batch_matmul -> scf.for over the batch of gemmini.tile_matmul on rank-2 subviews of
// batch %i (the batch dimension dropped); the zero fill and the 3-D requant generic (bias per
// column, ReLU) fold into the tile op. Run under qemu: tests/python/gemmini/test_gemmini_batch.py.

#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#col = affine_map<(d0, d1, d2) -> (d2)>

// CHECK-LABEL: func @requant
// CHECK-NOT: linalg.
// CHECK-NOT: memref.alloc
// CHECK-DAG: %[[C0:.+]] = arith.constant 0 : index
// CHECK-DAG: %[[C3:.+]] = arith.constant 3 : index
// CHECK-DAG: %[[C1:.+]] = arith.constant 1 : index
// CHECK: scf.for %[[I:.+]] = %[[C0]] to %[[C3]] step %[[C1]] {
// CHECK-NEXT: %[[A:.+]] = memref.subview %arg0[%[[I]], 0, 0] [1, 33, 70] [1, 1, 1] : memref<3x33x70xi8> to memref<33x70xi8, strided<[70, 1], offset: ?>>
// CHECK-NEXT: %[[B:.+]] = memref.subview %arg1[%[[I]], 0, 0] [1, 70, 45] [1, 1, 1] : memref<3x70x45xi8> to memref<70x45xi8, strided<[45, 1], offset: ?>>
// CHECK-NEXT: %[[C:.+]] = memref.subview %arg3[%[[I]], 0, 0] [1, 33, 45] [1, 1, 1] : memref<3x33x45xi8> to memref<33x45xi8, strided<[45, 1], offset: ?>>
// CHECK-NEXT: gemmini.tile_matmul %[[A]], %[[B]] -> %[[C]] bias %arg2 : memref<45xi32> {relu, scale = 1.562500e-02 : f32} : memref<33x70xi8, strided<[70, 1], offset: ?>>, memref<70x45xi8, strided<[45, 1], offset: ?>>, memref<33x45xi8, strided<[45, 1], offset: ?>>
// CHECK-NEXT: }
// CHECK-NOT: linalg.
// CHECK: return
// The offset of each subview is added to its aligned pointer.
// LOW-LABEL: func @requant
// LOW: scf.for
// LOW: %[[S:[a-z_0-9]+]] = memref.subview %arg0
// LOW: memref.extract_aligned_pointer_as_index %[[S]]
// LOW: %{{[a-z_0-9]+}}, %[[OFF:[a-z_0-9]+]], %{{[a-z_0-9]+}}:2, %{{[a-z_0-9]+}}:2 = memref.extract_strided_metadata %[[S]]
// LOW: arith.index_cast %[[OFF]] : index to i64
// LOW: gemmini.mvin
// LOW: gemmini.flush
func.func @requant(%a: memref<3x33x70xi8>, %b: memref<3x70x45xi8>, %bias: memref<45xi32>,
                   %out: memref<3x33x45xi8>) {
  %z = arith.constant 0 : i32
  %acc = memref.alloc() : memref<3x33x45xi32>
  linalg.fill ins(%z : i32) outs(%acc : memref<3x33x45xi32>)
  linalg.batch_matmul ins(%a, %b : memref<3x33x70xi8>, memref<3x70x45xi8>)
      outs(%acc : memref<3x33x45xi32>)
  linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%acc, %bias : memref<3x33x45xi32>, memref<45xi32>) outs(%out : memref<3x33x45xi8>) {
  ^bb0(%v: i32, %bv: i32, %o: i8):
    %s = arith.addi %v, %bv : i32
    %f = arith.sitofp %s : i32 to f32
    %c = arith.constant 0.015625 : f32
    %m = arith.mulf %f, %c : f32
    %r = math.roundeven %m : f32
    %lo = arith.constant -128.0 : f32
    %hi = arith.constant 127.0 : f32
    %l = arith.maximumf %r, %lo : f32
    %h = arith.minimumf %l, %hi : f32
    %i = arith.fptosi %h : f32 to i8
    %z8 = arith.constant 0 : i8
    %y = arith.maxsi %i, %z8 : i8
    linalg.yield %y : i8
  }
  memref.dealloc %acc : memref<3x33x45xi32>
  return
}

// The i32 sum after a zero fill: the fill goes, the tile op overwrites C (no bias).
// CHECK-LABEL: func @filled
// CHECK-NOT: linalg.fill
// CHECK: scf.for %[[I:.+]] =
// CHECK: %[[C:.+]] = memref.subview %arg2[%[[I]], 0, 0] [1, 4, 5] [1, 1, 1] : memref<2x4x5xi32> to memref<4x5xi32, strided<[5, 1], offset: ?>>
// CHECK-NEXT: gemmini.tile_matmul %{{.+}}, %{{.+}} -> %[[C]] : memref<4x6xi8, strided<[6, 1], offset: ?>>, memref<6x5xi8, strided<[5, 1], offset: ?>>, memref<4x5xi32, strided<[5, 1], offset: ?>>
// CHECK-NOT: linalg.
// CHECK: return
func.func @filled(%a: memref<2x4x6xi8>, %b: memref<2x6x5xi8>, %c: memref<2x4x5xi32>) {
  %z = arith.constant 0 : i32
  linalg.fill ins(%z : i32) outs(%c : memref<2x4x5xi32>)
  linalg.batch_matmul ins(%a, %b : memref<2x4x6xi8>, memref<2x6x5xi8>) outs(%c : memref<2x4x5xi32>)
  return
}

// No fill: batch_matmul accumulates onto C, so each batch's C is its own bias.
// CHECK-LABEL: func @accumulate
// CHECK: scf.for %[[I:.+]] =
// CHECK: %[[C:.+]] = memref.subview %arg2[%[[I]], 0, 0]
// CHECK-NEXT: gemmini.tile_matmul %{{.+}}, %{{.+}} -> %[[C]] bias %[[C]] : memref<4x5xi32, strided<[5, 1], offset: ?>>
func.func @accumulate(%a: memref<2x4x6xi8>, %b: memref<2x6x5xi8>, %c: memref<2x4x5xi32>) {
  linalg.batch_matmul ins(%a, %b : memref<2x4x6xi8>, memref<2x6x5xi8>) outs(%c : memref<2x4x5xi32>)
  return
}

// Left alone: an f32 batch_matmul, a dynamic batch, and a strided (non-identity) operand.
// CHECK-LABEL: func @not_taken
// CHECK-NOT: gemmini
// CHECK: linalg.batch_matmul {{.+}} memref<2x4x6xf32>
// CHECK: linalg.batch_matmul {{.+}} memref<?x4x6xi8>
// CHECK: linalg.batch_matmul {{.+}} memref<2x4x6xi8, strided<[48, 6, 1]>>
// CHECK-NOT: gemmini
// CHECK: return
func.func @not_taken(%a: memref<2x4x6xf32>, %b: memref<2x6x5xf32>, %c: memref<2x4x5xf32>,
                     %da: memref<?x4x6xi8>, %db: memref<?x6x5xi8>, %dc: memref<?x4x5xi32>,
                     %sa: memref<2x4x6xi8, strided<[48, 6, 1]>>, %sb: memref<2x6x5xi8>,
                     %sc: memref<2x4x5xi32>) {
  linalg.batch_matmul ins(%a, %b : memref<2x4x6xf32>, memref<2x6x5xf32>) outs(%c : memref<2x4x5xf32>)
  linalg.batch_matmul ins(%da, %db : memref<?x4x6xi8>, memref<?x6x5xi8>) outs(%dc : memref<?x4x5xi32>)
  linalg.batch_matmul ins(%sa, %sb : memref<2x4x6xi8, strided<[48, 6, 1]>>, memref<2x6x5xi8>)
      outs(%sc : memref<2x4x5xi32>)
  return
}
