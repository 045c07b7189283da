// RUN: buddy-opt %s --buddy-elementwise-vectorize="vector-width=16 min-parallel=0" --cse | FileCheck %s
// RUN: buddy-opt %s --buddy-elementwise-vectorize="vector-width=16 parallel=false" --cse | FileCheck %s --check-prefix=SEQ

#id2 = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0, 0)>
#col = affine_map<(d0, d1) -> (d1)>
#outer = affine_map<(d0, d1) -> (d0)>
#tr = affine_map<(d0, d1) -> (d1, d0)>

// Identity maps on contiguous buffers: one row of 5 * 7 = 35 elements, two
// vectors per step (32), then a masked tail of 3 lanes; erf and the constant
// on vectors.
// CHECK-LABEL: func.func @gelu
// CHECK:         memref.collapse_shape %arg0 {{\[}}[0, 1]] : memref<5x7xf32> into memref<35xf32>
// CHECK:         scf.for %[[J:.*]] = %c0 to %c32 step %c32
// CHECK:           vector.load %{{.*}}[%[[J]]] : memref<35xf32>, vector<16xf32>
// CHECK:           %[[HALF:.*]] = arith.constant dense<5.000000e-01> : vector<16xf32>
// CHECK:           math.erf %{{.*}} : vector<16xf32>
// CHECK:           arith.mulf %{{.*}}, %[[HALF]] : vector<16xf32>
// CHECK:           vector.store
// CHECK:           vector.store
// CHECK:         vector.constant_mask [3] : vector<16xi1>
// CHECK:         vector.maskedload
// CHECK:         vector.maskedstore
// CHECK-NOT:     linalg.generic
// CHECK:         return
func.func @gelu(%x: memref<5x7xf32>, %y: memref<5x7xf32>) {
  linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<5x7xf32>) outs(%y : memref<5x7xf32>) {
  ^bb0(%in: f32, %out: f32):
    %h = arith.constant 0.5 : f32
    %e = math.erf %in : f32
    %m = arith.mulf %e, %h : f32
    linalg.yield %m : f32
  }
  return
}

// LayerNorm's normalization: the (d0, 0) statistics are loaded once per row
// and broadcast, the (d1) weight is a vector along the row; rows in an
// scf.parallel, or with parallel=false an scf.for.
// CHECK-LABEL: func.func @normalize
// CHECK:         scf.parallel (%[[I:.*]]) = (%c0) to (%c4) step (%c1)
// CHECK:           %[[M:.*]] = memref.load %arg1[%[[I]], %c0] : memref<4x1xf32>
// CHECK:           %[[MB:.*]] = vector.broadcast %[[M]] : f32 to vector<16xf32>
// CHECK:           scf.for %[[J:.*]] = %c0 to %c32 step %c32
// CHECK:             %[[X:.*]] = vector.load %arg0[%[[I]], %[[J]]] : memref<4x40xf32>, vector<16xf32>
// CHECK:             %[[W:.*]] = vector.load %arg2[%[[J]]] : memref<40xf32>, vector<16xf32>
// CHECK:             %[[D:.*]] = arith.subf %[[X]], %[[MB]] : vector<16xf32>
// CHECK:             arith.mulf %[[D]], %[[W]] : vector<16xf32>
// CHECK:           vector.constant_mask [8] : vector<16xi1>
// SEQ-LABEL:   func.func @normalize
// SEQ-NOT:       scf.parallel
// SEQ:           scf.for %{{.*}} = %c0 to %c4 step %c1
// SEQ:           return
func.func @normalize(%x: memref<4x40xf32>, %mean: memref<4x1xf32>, %w: memref<40xf32>,
                     %y: memref<4x40xf32>) {
  linalg.generic {indexing_maps = [#id2, #row, #col, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x, %mean, %w : memref<4x40xf32>, memref<4x1xf32>, memref<40xf32>) outs(%y : memref<4x40xf32>) {
  ^bb0(%a: f32, %m: f32, %v: f32, %out: f32):
    %d = arith.subf %a, %m : f32
    %r = arith.mulf %d, %v : f32
    linalg.yield %r : f32
  }
  return
}

// A sum of squares over the inner dim: a vector accumulator from the neutral
// element, the tail's dead lanes replaced by it, one vector.reduction and a
// combine with the output's old value per row.
// CHECK-LABEL: func.func @sum_squares
// CHECK:         scf.parallel (%[[I:.*]]) = (%c0) to (%c3) step (%c1)
// CHECK:           %[[ACC:.*]] = scf.for %{{.*}} = %c0 to %c32 step %c16 iter_args(%[[A:.*]] = %[[ZERO:.*]]) -> (vector<16xf32>)
// CHECK:             %[[V:.*]] = vector.load %arg0[%[[I]], %{{.*}}] : memref<3x37xf32>, vector<16xf32>
// CHECK:             %[[SQ:.*]] = arith.mulf %[[V]], %[[V]] : vector<16xf32>
// CHECK:             %[[N:.*]] = arith.addf %[[SQ]], %[[A]] : vector<16xf32>
// CHECK:             scf.yield %[[N]] : vector<16xf32>
// CHECK:           %[[MASK:.*]] = vector.constant_mask [5] : vector<16xi1>
// CHECK:           %[[LIVE:.*]] = arith.select %[[MASK]], %{{.*}}, %[[ZERO]] : vector<16xi1>, vector<16xf32>
// CHECK:           %[[ALL:.*]] = arith.addf %[[LIVE]], %[[ACC]] : vector<16xf32>
// CHECK:           %[[S:.*]] = vector.reduction <add>, %[[ALL]] : vector<16xf32> into f32
// CHECK:           %[[OLD:.*]] = memref.load %arg1[%[[I]]] : memref<3xf32>
// CHECK:           %[[NEW:.*]] = arith.addf %[[S]], %[[OLD]] : f32
// CHECK:           memref.store %[[NEW]], %arg1[%[[I]]] : memref<3xf32>
func.func @sum_squares(%x: memref<3x37xf32>, %s: memref<3xf32>) {
  linalg.generic {indexing_maps = [#id2, #outer], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<3x37xf32>) outs(%s : memref<3xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %q = arith.mulf %a, %a : f32
    %r = arith.addf %q, %acc : f32
    linalg.yield %r : f32
  }
  return
}

// A max over the inner dim starts from -inf (maximumf's neutral element).
// CHECK-LABEL: func.func @row_max
// CHECK:         arith.constant dense<0xFF800000> : vector<16xf32>
// CHECK:         arith.maximumf %{{.*}} : vector<16xf32>
// CHECK:         vector.reduction <maximumf>
func.func @row_max(%x: memref<2x64xf32>, %s: memref<2xf32>) {
  linalg.generic {indexing_maps = [#id2, #outer], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<2x64xf32>) outs(%s : memref<2xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.maximumf %a, %acc : f32
    linalg.yield %r : f32
  }
  return
}

// linalg.index of the inner dim is a vector.step from the column.
// CHECK-LABEL: func.func @iota
// CHECK:         %[[STEP:.*]] = vector.step : vector<16xindex>
// CHECK:         arith.addi %{{.*}}, %[[STEP]] : vector<16xindex>
// CHECK:         arith.index_cast %{{.*}} : vector<16xindex> to vector<16xi64>
// CHECK-NOT:     linalg.generic
func.func @iota(%y: memref<2x48xi64>) {
  linalg.generic {indexing_maps = [#id2], iterator_types = ["parallel", "parallel"]}
      outs(%y : memref<2x48xi64>) {
  ^bb0(%out: i64):
    %i = linalg.index 1 : index
    %v = arith.index_cast %i : index to i64
    linalg.yield %v : i64
  }
  return
}

// Left to the loop lowering: a transposed read along the inner dim, a
// reduction over the outer dim, an i1 buffer, a dynamic shape.
// CHECK-LABEL: func.func @left_alone
// CHECK-COUNT-4: linalg.generic
// CHECK-NOT:     vector.
func.func @left_alone(%x: memref<8x8xf32>, %y: memref<8x8xf32>, %s: memref<8xf32>,
                      %b: memref<8x8xi1>, %d: memref<?x8xf32>) {
  linalg.generic {indexing_maps = [#tr, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<8x8xf32>) outs(%y : memref<8x8xf32>) {
  ^bb0(%a: f32, %out: f32):
    linalg.yield %a : f32
  }
  linalg.generic {indexing_maps = [#id2, #col], iterator_types = ["reduction", "parallel"]}
      ins(%x : memref<8x8xf32>) outs(%s : memref<8xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<8x8xf32>) outs(%b : memref<8x8xi1>) {
  ^bb0(%a: f32, %out: i1):
    %z = arith.constant 0.0 : f32
    %c = arith.cmpf ogt, %a, %z : f32
    linalg.yield %c : i1
  }
  linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%d : memref<?x8xf32>) outs(%d : memref<?x8xf32>) {
  ^bb0(%a: f32, %out: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  }
  return
}
