// RUN: buddy-opt %s --buddy-lower-gemmini="max-instructions=10" -verify-diagnostics
// max-instructions bounds the static instruction ops (loops count once): a 64x64x64
// matmul (one tile: its block loops, the peeled first K block and WS row block) needs 17.

func.func @limit(%a: memref<64x64xi8>, %b: memref<64x64xi8>, %c: memref<64x64xi8>) {
  // expected-error @+1 {{more than 10 instruction ops (max-instructions)}}
  gemmini.tile_matmul %a, %b -> %c : memref<64x64xi8>, memref<64x64xi8>, memref<64x64xi8>
  return
}
