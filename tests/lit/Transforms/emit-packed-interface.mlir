// RUN: buddy-opt %s --llvm-request-c-wrappers --finalize-memref-to-llvm \
// RUN:   --convert-arith-to-llvm --convert-func-to-llvm --reconcile-unrealized-casts \
// RUN:   --buddy-emit-packed-interface | FileCheck %s
// RUN: buddy-opt %s --buddy-emit-packed-interface | FileCheck %s --check-prefix=NOCIFACE
// RUN: not buddy-opt %s --llvm-request-c-wrappers --convert-func-to-llvm \
// RUN:   --reconcile-unrealized-casts --buddy-emit-packed-interface \
// RUN:   --buddy-emit-packed-interface 2>&1 | FileCheck %s --check-prefix=TWICE

// memref arguments: args[i] is the descriptor pointer, passed straight on.
// CHECK-LABEL: llvm.func @_buddy_forward(
//  CHECK-SAME:   %[[ARGS:.+]]: !llvm.ptr) {
//       CHECK:   %[[S0:.+]] = llvm.getelementptr %[[ARGS]][0] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
//       CHECK:   %[[P0:.+]] = llvm.load %[[S0]] : !llvm.ptr -> !llvm.ptr
//       CHECK:   %[[S1:.+]] = llvm.getelementptr %[[ARGS]][1] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
//       CHECK:   %[[P1:.+]] = llvm.load %[[S1]] : !llvm.ptr -> !llvm.ptr
//       CHECK:   %[[S2:.+]] = llvm.getelementptr %[[ARGS]][2] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
//       CHECK:   %[[P2:.+]] = llvm.load %[[S2]] : !llvm.ptr -> !llvm.ptr
//       CHECK:   llvm.call @_mlir_ciface_forward(%[[P0]], %[[P1]], %[[P2]]) : (!llvm.ptr, !llvm.ptr, !llvm.ptr) -> ()
//  CHECK-NEXT:   llvm.return
func.func @forward(%w: memref<16x8xf32>, %x: memref<4x8xf32>, %out: memref<4x16xf32>) {
  return
}

// Scalars are read through args[i]; a scalar result is stored to args[n].
// CHECK-LABEL: llvm.func @_buddy_scale(
//  CHECK-SAME:   %[[ARGS:.+]]: !llvm.ptr) {
//       CHECK:   %[[P0:.+]] = llvm.load %{{.+}} : !llvm.ptr -> !llvm.ptr
//       CHECK:   %[[V0:.+]] = llvm.load %[[P0]] : !llvm.ptr -> f32
//       CHECK:   %[[P1:.+]] = llvm.load %{{.+}} : !llvm.ptr -> !llvm.ptr
//       CHECK:   %[[R:.+]] = llvm.call @_mlir_ciface_scale(%[[V0]], %[[P1]]) : (f32, !llvm.ptr) -> f32
//       CHECK:   %[[S2:.+]] = llvm.getelementptr %[[ARGS]][2] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
//       CHECK:   %[[P2:.+]] = llvm.load %[[S2]] : !llvm.ptr -> !llvm.ptr
//       CHECK:   llvm.store %[[R]], %[[P2]] : f32, !llvm.ptr
func.func @scale(%s: f32, %x: memref<?xf32>) -> f32 {
  return %s : f32
}

// Private functions get no C interface, hence no packed wrapper.
// CHECK-NOT: @_buddy_helper
func.func private @helper(%x: f32) -> f32 {
  return %x : f32
}

// Without C interfaces there is nothing to wrap.
// NOCIFACE-NOT: _buddy_

// TWICE: error: cannot emit the packed interface of @forward: symbol @_buddy_forward already exists
