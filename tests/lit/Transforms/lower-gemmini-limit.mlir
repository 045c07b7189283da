// RUN: buddy-opt %s --buddy-lower-gemmini="max-instructions=10" -verify-diagnostics
// The straight-line sequence is bounded: a 64x64x64 matmul needs more than 10.

func.func @limit(%a: memref<64x64xi8>, %b: memref<64x64xi8>, %c: memref<64x64xi8>) {
  // expected-error @+1 {{more than 10 instructions (max-instructions)}}
  gemmini.tile_matmul %a, %b -> %c : memref<64x64xi8>, memref<64x64xi8>, memref<64x64xi8>
  return
}
