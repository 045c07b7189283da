// RUN: buddy-opt %s --buddy-lower-gemmini="tile-i=1 tile-j=1 tile-k=600" -verify-diagnostics
// A and B tiles of (1 + 1) x 600 blocks (19200 rows) exceed the 16384-row scratchpad.

func.func @sp_overflow(%a: memref<16x9600xi8>, %b: memref<9600x16xi8>, %c: memref<16x16xi8>) {
  // expected-error @+1 {{A and B tiles exceed the scratchpad}}
  gemmini.tile_matmul %a, %b -> %c : memref<16x9600xi8>, memref<9600x16xi8>, memref<16x16xi8>
  return
}
