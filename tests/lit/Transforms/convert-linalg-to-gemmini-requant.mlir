// RUN: buddy-opt %s --buddy-convert-linalg-to-gemmini | FileCheck %s
// int8 matmul + per-column bias + requantization to int8 (the arithmetic of Gemmini's
// accumulator scale: f32 product, round to nearest-even, saturate) -> one tile op writing
// the i8 output. Replayed through the model: tests/python/gemmini/test_gemmini_lowering.py.

#id = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>

// CHECK-LABEL: func @requant_bias
// CHECK-NOT: linalg.
// CHECK-NOT: memref.alloc
// CHECK: gemmini.tile_matmul %arg0, %arg1 -> %arg3 bias %arg2 : memref<9xi32> {scale = 1.562500e-02 : f32} : memref<17x33xi8>, memref<33x9xi8>, memref<17x9xi8>
// CHECK-NOT: linalg.
// CHECK-NOT: memref.dealloc
// CHECK: return
func.func @requant_bias(%a: memref<17x33xi8>, %b: memref<33x9xi8>, %bias: memref<9xi32>, %out: memref<17x9xi8>) {
  %z = arith.constant 0 : i32
  %acc = memref.alloc() : memref<17x9xi32>
  linalg.fill ins(%z : i32) outs(%acc : memref<17x9xi32>)
  linalg.matmul ins(%a, %b : memref<17x33xi8>, memref<33x9xi8>) outs(%acc : memref<17x9xi32>)
  linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%acc, %bias : memref<17x9xi32>, memref<9xi32>) outs(%out : memref<17x9xi8>) {
  ^bb0(%x: i32, %bb: i32, %o: i8):
    %s = arith.addi %x, %bb : i32
    %f = arith.sitofp %s : i32 to f32
    %c = arith.constant 0.015625 : f32
    %m = arith.mulf %f, %c : f32
    %r = math.roundeven %m : f32
    %lo = arith.constant -128.0 : f32
    %hi = arith.constant 127.0 : f32
    %l = arith.maximumf %r, %lo : f32
    %h = arith.minimumf %l, %hi : f32
    %i = arith.fptosi %h : f32 to i8
    linalg.yield %i : i8
  }
  memref.dealloc %acc : memref<17x9xi32>
  return
}

// Rounding half away (math.round) is not what Gemmini does: only the matmul converts.
// CHECK-LABEL: func @round_away
// CHECK: gemmini.tile_matmul %arg0, %arg1 -> %{{.*}} : memref<4x4xi8>, memref<4x4xi8>, memref<4x4xi32>
// CHECK: linalg.generic
func.func @round_away(%a: memref<4x4xi8>, %b: memref<4x4xi8>, %out: memref<4x4xi8>) {
  %z = arith.constant 0 : i32
  %acc = memref.alloc() : memref<4x4xi32>
  linalg.fill ins(%z : i32) outs(%acc : memref<4x4xi32>)
  linalg.matmul ins(%a, %b : memref<4x4xi8>, memref<4x4xi8>) outs(%acc : memref<4x4xi32>)
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%acc : memref<4x4xi32>) outs(%out : memref<4x4xi8>) {
  ^bb0(%x: i32, %o: i8):
    %f = arith.sitofp %x : i32 to f32
    %c = arith.constant 0.5 : f32
    %m = arith.mulf %f, %c : f32
    %r = math.round %m : f32
    %lo = arith.constant -128.0 : f32
    %hi = arith.constant 127.0 : f32
    %l = arith.maximumf %r, %lo : f32
    %h = arith.minimumf %l, %hi : f32
    %i = arith.fptosi %h : f32 to i8
    linalg.yield %i : i8
  }
  return
}

// A store into A between the matmul and the requantization: folding would read the new A.
// CHECK-LABEL: func @write_between
// CHECK: gemmini.tile_matmul %arg0, %arg1 -> %{{.*}} : memref<4x4xi8>, memref<4x4xi8>, memref<4x4xi32>
// CHECK: memref.store
// CHECK: linalg.generic
func.func @write_between(%a: memref<4x4xi8>, %b: memref<4x4xi8>, %out: memref<4x4xi8>) {
  %z = arith.constant 0 : i32
  %i0 = arith.constant 0 : index
  %v = arith.constant 3 : i8
  %acc = memref.alloc() : memref<4x4xi32>
  linalg.fill ins(%z : i32) outs(%acc : memref<4x4xi32>)
  linalg.matmul ins(%a, %b : memref<4x4xi8>, memref<4x4xi8>) outs(%acc : memref<4x4xi32>)
  memref.store %v, %a[%i0, %i0] : memref<4x4xi8>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%acc : memref<4x4xi32>) outs(%out : memref<4x4xi8>) {
  ^bb0(%x: i32, %o: i8):
    %f = arith.sitofp %x : i32 to f32
    %c = arith.constant 0.5 : f32
    %m = arith.mulf %f, %c : f32
    %r = math.roundeven %m : f32
    %lo = arith.constant -128.0 : f32
    %hi = arith.constant 127.0 : f32
    %l = arith.maximumf %r, %lo : f32
    %h = arith.minimumf %l, %hi : f32
    %i = arith.fptosi %h : f32 to i8
    linalg.yield %i : i8
  }
  return
}

// ReLU on the saturated int8 value (arith.maxsi with 0) is mvout's ReLU: the tile op's `relu`.
// CHECK-LABEL: func @requant_relu
// CHECK-NOT: linalg.
// CHECK: gemmini.tile_matmul %arg0, %arg1 -> %arg3 bias %arg2 : memref<9xi32> {relu, scale = 2.500000e-01 : f32} : memref<17x33xi8>, memref<33x9xi8>, memref<17x9xi8>
// CHECK-NOT: linalg.
// CHECK: return
func.func @requant_relu(%a: memref<17x33xi8>, %b: memref<33x9xi8>, %bias: memref<9xi32>, %out: memref<17x9xi8>) {
  %z = arith.constant 0 : i32
  %acc = memref.alloc() : memref<17x9xi32>
  linalg.fill ins(%z : i32) outs(%acc : memref<17x9xi32>)
  linalg.matmul ins(%a, %b : memref<17x33xi8>, memref<33x9xi8>) outs(%acc : memref<17x9xi32>)
  linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%acc, %bias : memref<17x9xi32>, memref<9xi32>) outs(%out : memref<17x9xi8>) {
  ^bb0(%x: i32, %bb: i32, %o: i8):
    %s = arith.addi %x, %bb : i32
    %f = arith.sitofp %s : i32 to f32
    %c = arith.constant 0.25 : f32
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
  memref.dealloc %acc : memref<17x9xi32>
  return
}

// A maximum with something other than 0 is not ReLU: only the matmul converts.
// CHECK-LABEL: func @max_not_zero
// CHECK: gemmini.tile_matmul %arg0, %arg1 -> %{{.*}} : memref<4x4xi8>, memref<4x4xi8>, memref<4x4xi32>
// CHECK: linalg.generic
func.func @max_not_zero(%a: memref<4x4xi8>, %b: memref<4x4xi8>, %out: memref<4x4xi8>) {
  %z = arith.constant 0 : i32
  %acc = memref.alloc() : memref<4x4xi32>
  linalg.fill ins(%z : i32) outs(%acc : memref<4x4xi32>)
  linalg.matmul ins(%a, %b : memref<4x4xi8>, memref<4x4xi8>) outs(%acc : memref<4x4xi32>)
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%acc : memref<4x4xi32>) outs(%out : memref<4x4xi8>) {
  ^bb0(%x: i32, %o: i8):
    %f = arith.sitofp %x : i32 to f32
    %c = arith.constant 0.5 : f32
    %m = arith.mulf %f, %c : f32
    %r = math.roundeven %m : f32
    %lo = arith.constant -128.0 : f32
    %hi = arith.constant 127.0 : f32
    %l = arith.maximumf %r, %lo : f32
    %h = arith.minimumf %l, %hi : f32
    %i = arith.fptosi %h : f32 to i8
    %one = arith.constant 1 : i8
    %y = arith.maxsi %i, %one : i8
    linalg.yield %y : i8
  }
  return
}
