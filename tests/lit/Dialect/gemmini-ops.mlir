// RUN: buddy-opt %s -split-input-file -verify-diagnostics | FileCheck %s
// The gemmini dialect: ops print and parse back; tile_matmul's verifier.

// CHECK-LABEL: func @ops
// CHECK: gemmini.tile_matmul %{{.*}}, %{{.*}} -> %{{.*}} bias %{{.*}} : memref<8xi32> {dataflow = "os", relu, scale = 1.250000e-01 : f32} : memref<4x16xi8>, memref<16x8xi8>, memref<4x8xi8>
// CHECK: gemmini.tile_matmul %{{.*}}, %{{.*}} -> %{{.*}} : memref<?x?xi8>, memref<?x?xi8>, memref<?x?xi32>
// CHECK: gemmini.config_ex %[[R:.*]], %[[R]]
// CHECK: gemmini.mvin %[[R]], %[[R]]
// CHECK: gemmini.mvin3 %[[R]], %[[R]]
// CHECK: gemmini.preload
// CHECK: gemmini.compute_preloaded
// CHECK: gemmini.compute_accumulated
// CHECK: gemmini.mvout
// CHECK: gemmini.flush
func.func @ops(%a: memref<4x16xi8>, %b: memref<16x8xi8>, %c: memref<4x8xi8>, %bias: memref<8xi32>,
               %da: memref<?x?xi8>, %db: memref<?x?xi8>, %dc: memref<?x?xi32>, %r: i64) {
  gemmini.tile_matmul %a, %b -> %c bias %bias : memref<8xi32> {scale = 0.125 : f32, dataflow = "os", relu} : memref<4x16xi8>, memref<16x8xi8>, memref<4x8xi8>
  gemmini.tile_matmul %da, %db -> %dc : memref<?x?xi8>, memref<?x?xi8>, memref<?x?xi32>
  gemmini.config_ex %r, %r
  gemmini.mvin %r, %r
  gemmini.mvin3 %r, %r
  gemmini.preload %r, %r
  gemmini.compute_preloaded %r, %r
  gemmini.compute_accumulated %r, %r
  gemmini.mvout %r, %r
  gemmini.flush %r, %r
  return
}

// -----

func.func @inner_mismatch(%a: memref<4x16xi8>, %b: memref<15x8xi8>, %c: memref<4x8xi8>) {
  // expected-error @+1 {{A is 4x16 but B has 15 rows}}
  gemmini.tile_matmul %a, %b -> %c : memref<4x16xi8>, memref<15x8xi8>, memref<4x8xi8>
  return
}

// -----

func.func @bad_bias(%a: memref<4x16xi8>, %b: memref<16x8xi8>, %c: memref<4x8xi8>, %bias: memref<4xi32>) {
  // expected-error @+1 {{bias must be N or MxN}}
  gemmini.tile_matmul %a, %b -> %c bias %bias : memref<4xi32> : memref<4x16xi8>, memref<16x8xi8>, memref<4x8xi8>
  return
}

// -----

func.func @bad_dataflow(%a: memref<4x16xi8>, %b: memref<16x8xi8>, %c: memref<4x8xi8>) {
  // expected-error @+1 {{dataflow must be "ws" or "os", not "is"}}
  gemmini.tile_matmul %a, %b -> %c {dataflow = "is"} : memref<4x16xi8>, memref<16x8xi8>, memref<4x8xi8>
  return
}

// -----

func.func @i32_scaled(%a: memref<4x16xi8>, %b: memref<16x8xi8>, %c: memref<4x8xi32>) {
  // expected-error @+1 {{an i32 C is the exact sum: scale must be 1 and relu absent}}
  gemmini.tile_matmul %a, %b -> %c {scale = 0.5 : f32} : memref<4x16xi8>, memref<16x8xi8>, memref<4x8xi32>
  return
}
