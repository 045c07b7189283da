// RUN: buddy-opt %s --buddy-elementwise-vectorize="vector-width=16 min-parallel=0" --cse | FileCheck %s
// RUN: buddy-opt %s --buddy-elementwise-vectorize="vector-width=16 parallel=false" --cse | FileCheck %s --check-prefix=SEQ

#id2 = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0, 0)>
#col = affine_map<(d0, d1) -> (d1)>
#outer = affine_map<(d0, d1) -> (d0)>
#tr = affine_map<(d0, d1) -> (d1, d0)>
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#d0d2 = affine_map<(d0, d1, d2) -> (d0, d2)>
#d2 = affine_map<(d0, d1, d2) -> (d2)>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#d0d1 = affine_map<(d0, d1, d2, d3) -> (d0, d1)>
#d0d100 = affine_map<(d0, d1, d2, d3) -> (d0, d1, 0, 0)>
#d1of4 = affine_map<(d0, d1, d2, d3) -> (d1)>
#d0d1_3 = affine_map<(d0, d1, d2) -> (d0, d1)>
#tr3 = affine_map<(d0, d1, d2) -> (d0, d2, d1)>

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

// Left to the loop lowering: a transposed read along the inner dim, an
// output that misses a parallel dim (rows would race on it), an i1 buffer, a
// dynamic shape.
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
  linalg.generic {indexing_maps = [#id2, #col], iterator_types = ["parallel", "parallel"]}
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

// A column sum (reduction over the outer dim, the inner dim parallel): no
// parallel dim is left, so a plain scf.for over the reduction dim; each row
// loads the output row, adds and stores it back.
// CHECK-LABEL: func.func @column_sum
// CHECK-NOT:     scf.parallel
// CHECK:         scf.for %[[R:.*]] = %c0 to %c64 step %c1
// CHECK:           scf.for %[[J:.*]] = %c0 to %c992 step %c32
// CHECK:             %[[X:.*]] = vector.load %arg0[%[[R]], %[[J]]] : memref<64x1000xf32>, vector<16xf32>
// CHECK:             %[[O:.*]] = vector.load %arg1[%[[J]]] : memref<1000xf32>, vector<16xf32>
// CHECK:             %[[S:.*]] = arith.addf %[[X]], %[[O]] : vector<16xf32>
// CHECK:             vector.store %[[S]], %arg1[%[[J]]] : memref<1000xf32>, vector<16xf32>
// CHECK:           vector.constant_mask [8] : vector<16xi1>
// CHECK:           vector.maskedload %arg1
// CHECK:           vector.maskedstore %arg1
// CHECK-NOT:     linalg.generic
// CHECK:         return
func.func @column_sum(%x: memref<64x1000xf32>, %s: memref<1000xf32>) {
  linalg.generic {indexing_maps = [#id2, #col], iterator_types = ["reduction", "parallel"]}
      ins(%x : memref<64x1000xf32>) outs(%s : memref<1000xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  }
  return
}

// x.mean(dim=1)'s sum on [3, 197, 40]: the scf.parallel is over d0 only, the
// reduction d1 is an scf.for inside it, the (d0, d2) output row is loaded and
// stored at every step.
// CHECK-LABEL: func.func @middle_sum
// CHECK:         scf.parallel (%[[I:.*]]) = (%c0) to (%c3) step (%c1)
// CHECK:           scf.for %[[R:.*]] = %c0 to %c197 step %c1
// CHECK:             scf.for %[[J:.*]] = %c0 to %c32 step %c32
// CHECK:               vector.load %arg0[%[[I]], %[[R]], %[[J]]] : memref<3x197x40xf32>, vector<16xf32>
// CHECK:               vector.load %arg1[%[[I]], %[[J]]] : memref<3x40xf32>, vector<16xf32>
// CHECK:               vector.store %{{.*}}, %arg1[%[[I]], %[[J]]] : memref<3x40xf32>, vector<16xf32>
// CHECK:             vector.maskedload %arg1[%[[I]], %c32]
// CHECK:             vector.maskedstore %arg1[%[[I]], %c32]
// CHECK:           scf.reduce
// CHECK-NOT:     linalg.generic
// SEQ-LABEL:   func.func @middle_sum
// SEQ-NOT:       scf.parallel
// SEQ:           scf.for %{{.*}} = %c0 to %c3 step %c1
// SEQ:             scf.for %{{.*}} = %c0 to %c197 step %c1
// SEQ:           return
func.func @middle_sum(%x: memref<3x197x40xf32>, %s: memref<3x40xf32>) {
  linalg.generic {indexing_maps = [#id3, #d0d2], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%x : memref<3x197x40xf32>) outs(%s : memref<3x40xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  }
  return
}

// A max over two outer dims: two scf.for loops, maximumf on vectors.
// CHECK-LABEL: func.func @outer_max
// CHECK-NOT:     scf.parallel
// CHECK:         scf.for %[[A:.*]] = %c0 to %c4 step %c1
// CHECK:           scf.for %[[B:.*]] = %c0 to %c5 step %c1
// CHECK:             vector.load %arg0[%[[A]], %[[B]], %{{.*}}] : memref<4x5x33xf32>, vector<16xf32>
// CHECK:             vector.load %arg1[%{{.*}}] : memref<33xf32>, vector<16xf32>
// CHECK:             arith.maximumf %{{.*}} : vector<16xf32>
// CHECK:             vector.store %{{.*}}, %arg1
// CHECK:           vector.maskedstore %arg1
// CHECK-NOT:     linalg.generic
func.func @outer_max(%x: memref<4x5x33xf32>, %s: memref<33xf32>) {
  linalg.generic {indexing_maps = [#id3, #d2], iterator_types = ["reduction", "reduction", "parallel"]}
      ins(%x : memref<4x5x33xf32>) outs(%s : memref<33xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.maximumf %a, %acc : f32
    linalg.yield %r : f32
  }
  return
}

// A variance's sum over dims (2, 3) of [2, 8, 6, 6]: the trailing 6x6
// collapse into one reduction of 36 (the (d0, d1, 0, 0) mean does not read
// them and keeps its buffer); scf.parallel over d0, d1 with a vector
// accumulator per row.
// CHECK-LABEL: func.func @spatial_var
// CHECK:         %[[XC:.*]] = memref.collapse_shape %arg0 {{\[}}[0], [1], [2, 3]] : memref<2x8x6x6xf32> into memref<2x8x36xf32>
// CHECK-NOT:     memref.collapse_shape
// CHECK:         scf.parallel (%[[I:.*]], %[[C:.*]]) = (%c0, %c0) to (%c2, %c8) step (%c1, %c1)
// CHECK:           %[[M:.*]] = memref.load %arg1[%[[I]], %[[C]], %c0, %c0] : memref<2x8x1x1xf32>
// CHECK:           scf.for %{{.*}} = %c0 to %c32 step %c16 iter_args
// CHECK:             vector.load %[[XC]][%[[I]], %[[C]], %{{.*}}] : memref<2x8x36xf32>, vector<16xf32>
// CHECK:           vector.constant_mask [4] : vector<16xi1>
// CHECK:           vector.reduction <add>
// CHECK:           memref.load %arg2[%[[I]], %[[C]]] : memref<2x8xf32>
// CHECK:           memref.store %{{.*}}, %arg2[%[[I]], %[[C]]] : memref<2x8xf32>
// CHECK-NOT:     linalg.generic
func.func @spatial_var(%x: memref<2x8x6x6xf32>, %m: memref<2x8x1x1xf32>, %s: memref<2x8xf32>) {
  linalg.generic {indexing_maps = [#id4, #d0d100, #d0d1], iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
      ins(%x, %m : memref<2x8x6x6xf32>, memref<2x8x1x1xf32>) outs(%s : memref<2x8xf32>) {
  ^bb0(%a: f32, %mu: f32, %acc: f32):
    %d = arith.subf %a, %mu : f32
    %q = arith.mulf %d, %d : f32
    %r = arith.addf %q, %acc : f32
    linalg.yield %r : f32
  }
  return
}

// Instance-norm style statistics over N, H, W: the trailing H, W collapse,
// N stays an outer reduction (an scf.for inside the scf.parallel over C),
// each row combining into the channel's sum.
// CHECK-LABEL: func.func @channel_sum
// CHECK:         %[[XC:.*]] = memref.collapse_shape %arg0 {{\[}}[0], [1], [2, 3]] : memref<2x8x6x6xf32> into memref<2x8x36xf32>
// CHECK:         scf.parallel (%[[C:.*]]) = (%c0) to (%c8) step (%c1)
// CHECK:           scf.for %[[N:.*]] = %c0 to %c2 step %c1
// CHECK:             vector.load %[[XC]][%[[N]], %[[C]], %{{.*}}] : memref<2x8x36xf32>, vector<16xf32>
// CHECK:             vector.reduction <add>
// CHECK:             memref.load %arg1[%[[C]]] : memref<8xf32>
// CHECK:             memref.store %{{.*}}, %arg1[%[[C]]] : memref<8xf32>
// CHECK-NOT:     linalg.generic
func.func @channel_sum(%x: memref<2x8x6x6xf32>, %s: memref<8xf32>) {
  linalg.generic {indexing_maps = [#id4, #d1of4], iterator_types = ["reduction", "parallel", "reduction", "reduction"]}
      ins(%x : memref<2x8x6x6xf32>) outs(%s : memref<8xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  }
  return
}

// Trailing reductions that are not contiguous (a strided view) are not
// collapsed: the outer reduction dim is an scf.for and the inner one a row.
// CHECK-LABEL: func.func @strided_tail
// CHECK-NOT:     memref.collapse_shape
// CHECK:         scf.parallel (%[[I:.*]]) = (%c0) to (%c4) step (%c1)
// CHECK:           scf.for %[[R:.*]] = %c0 to %c6 step %c1
// CHECK:             vector.maskedload %arg0[%[[I]], %[[R]], %c0]
// CHECK:             vector.reduction <add>
// CHECK-NOT:     linalg.generic
func.func @strided_tail(%x: memref<4x6x6xf32, strided<[64, 8, 1]>>, %s: memref<4x6xf32>) {
  %v = memref.subview %s[0, 0] [4, 1] [1, 1] : memref<4x6xf32> to memref<4xf32, strided<[6]>>
  linalg.generic {indexing_maps = [#id3, affine_map<(d0, d1, d2) -> (d0)>], iterator_types = ["parallel", "reduction", "reduction"]}
      ins(%x : memref<4x6x6xf32, strided<[64, 8, 1]>>) outs(%v : memref<4xf32, strided<[6]>>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  }
  return
}

// Left alone: an outer reduction whose output reads the reduction dim, an
// outer reduction with a transposed inner read, and an inner reduction whose
// output misses the parallel d1 (rows over d1 would race on it).
// CHECK-LABEL: func.func @reductions_left_alone
// CHECK-COUNT-3: linalg.generic
// CHECK-NOT:     vector.
func.func @reductions_left_alone(%x: memref<4x5x8xf32>, %y: memref<4x5xf32>, %t: memref<4x8x5xf32>,
                                 %s: memref<4x8xf32>, %r4: memref<4xf32>) {
  linalg.generic {indexing_maps = [#id3, affine_map<(d0, d1, d2) -> (d0)>], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x : memref<4x5x8xf32>) outs(%r4 : memref<4xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#id3, #d0d1_3], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%x : memref<4x5x8xf32>) outs(%y : memref<4x5xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#tr3, affine_map<(d0, d1, d2) -> (d0, d2)>], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%t : memref<4x8x5xf32>) outs(%s : memref<4x8xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  }
  return
}

// An all-parallel generic whose output is a permutation of the outer dims
// and is read by the body: loaded and stored at the same (d1, d0, j).
// CHECK-LABEL: func.func @permuted_accumulate
// CHECK:         scf.parallel (%[[I:.*]], %[[K:.*]]) = (%c0, %c0) to (%c3, %c4) step (%c1, %c1)
// CHECK:           vector.load %arg0[%[[I]], %[[K]], %{{.*}}] : memref<3x4x32xf32>, vector<16xf32>
// CHECK:           vector.load %arg1[%[[K]], %[[I]], %{{.*}}] : memref<4x3x32xf32>, vector<16xf32>
// CHECK:           vector.store %{{.*}}, %arg1[%[[K]], %[[I]], %{{.*}}] : memref<4x3x32xf32>, vector<16xf32>
// CHECK-NOT:     linalg.generic
func.func @permuted_accumulate(%x: memref<3x4x32xf32>, %y: memref<4x3x32xf32>) {
  linalg.generic {indexing_maps = [#id3, affine_map<(d0, d1, d2) -> (d1, d0, d2)>], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x : memref<3x4x32xf32>) outs(%y : memref<4x3x32xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  }
  return
}
