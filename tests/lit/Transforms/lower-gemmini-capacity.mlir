// RUN: buddy-opt %s --buddy-lower-gemmini="tile-i=8 tile-j=9" -split-input-file -verify-diagnostics
// A C tile of 8x9 blocks (1152 rows) does not fit the 1024-row accumulator
// (the scratchpad bound: lower-gemmini-scratchpad.mlir).

func.func @acc_overflow(%a: memref<256x16xi8>, %b: memref<16x256xi8>, %c: memref<256x256xi8>) {
  // expected-error @+1 {{a C tile of 8x9 blocks exceeds the accumulator}}
  gemmini.tile_matmul %a, %b -> %c : memref<256x16xi8>, memref<16x256xi8>, memref<256x256xi8>
  return
}
