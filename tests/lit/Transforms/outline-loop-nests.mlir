// RUN: buddy-opt %s --buddy-outline-loop-nests | FileCheck %s
// RUN: buddy-opt %s --buddy-outline-loop-nests=dedupe=0 | FileCheck %s --check-prefix=NODEDUPE
// RUN: buddy-opt %s --buddy-outline-loop-nests=min-ops=4 | FileCheck %s --check-prefix=MINOPS
// RUN: buddy-opt %s --llvm-request-c-wrappers --buddy-outline-loop-nests --expand-strided-metadata --convert-scf-to-cf \
// RUN:   --finalize-memref-to-llvm --convert-arith-to-llvm --convert-func-to-llvm --convert-cf-to-llvm \
// RUN:   --reconcile-unrealized-casts --buddy-emit-packed-interface | FileCheck %s --check-prefix=LLVM

// Two "layers" run the same loop nest on different buffers: one outlined
// function, called twice. The loop bound and the scale are cloned constants,
// the buffers are arguments (in first-use order).
// CHECK-LABEL: func.func @forward(
//  CHECK-SAME:     %[[X:.+]]: memref<8xf32>, %[[Y:.+]]: memref<8xf32>, %[[Z:.+]]: memref<8xf32>)
//   CHECK-NOT:   scf.for
//       CHECK:   call @[[SCALE:forward__outlined0]](%[[X]], %[[Y]]) : (memref<8xf32>, memref<8xf32>) -> ()
//       CHECK:   call @[[SCALE]](%[[Y]], %[[Z]]) : (memref<8xf32>, memref<8xf32>) -> ()
//       CHECK:   %[[SUM:.+]] = call @[[REDUCE:forward__outlined1]](%[[Z]]) : (memref<8xf32>) -> f32
//       CHECK:   %[[BUF:.+]] = scf.if
//       CHECK:   return %[[SUM]], %[[BUF]]
//
//       CHECK: func.func private @[[SCALE]](%[[A:.+]]: memref<8xf32>, %[[B:.+]]: memref<8xf32>)
//  CHECK-SAME:     attributes {llvm.linkage = #llvm.linkage<internal>, passthrough = ["noinline"]}
//   CHECK-DAG:   %[[C8:.+]] = arith.constant 8 : index
//   CHECK-DAG:   %[[TWO:.+]] = arith.constant 2.000000e+00 : f32
//       CHECK:   scf.for %[[I:.+]] = %{{.+}} to %[[C8]]
//       CHECK:     memref.load %[[A]][%[[I]]]
//       CHECK:     arith.mulf %{{.+}}, %[[TWO]]
//       CHECK:     memref.store %{{.+}}, %[[B]][%[[I]]]
//       CHECK:   return
//
// A loop with a result: the function returns it.
//       CHECK: func.func private @[[REDUCE]](%{{.+}}: memref<8xf32>) -> f32
//       CHECK:   %[[R:.+]] = scf.for {{.+}} iter_args
//       CHECK:   return %[[R]] : f32
//
// An op yielding a memref stays in place (it could be a stack buffer).
//   CHECK-NOT: func.func private

// Two layers' rows of one cache, at static offsets 0 and 8, only stored to:
// passed with a dynamic offset, one function. A nest that takes a subview of
// the row keeps its static type.
// CHECK-LABEL: func.func @layers(
//       CHECK:   %[[R0:.+]] = memref.subview
//       CHECK:   %[[R1:.+]] = memref.subview
//       CHECK:   %[[D0:.+]] = memref.cast %[[R0]] : memref<8xf32, strided<[1]>> to memref<8xf32, strided<[1], offset: ?>>
//       CHECK:   call @[[ROW:layers__outlined0]](%{{.+}}, %[[D0]])
//       CHECK:   %[[D1:.+]] = memref.cast %[[R1]] : memref<8xf32, strided<[1], offset: 8>> to memref<8xf32, strided<[1], offset: ?>>
//       CHECK:   call @[[ROW]](%{{.+}}, %[[D1]])
//       CHECK:   call @[[SUB:layers__outlined1]](%[[R1]]) : (memref<8xf32, strided<[1], offset: 8>>) -> ()
//       CHECK: func.func private @[[ROW]](%{{.+}}: memref<8xf32>, %{{.+}}: memref<8xf32, strided<[1], offset: ?>>)
//       CHECK: func.func private @[[SUB]](%{{.+}}: memref<8xf32, strided<[1], offset: 8>>)
//       CHECK:   memref.subview

// NODEDUPE-LABEL: func.func @forward(
//       NODEDUPE:   call @forward__outlined0(
//       NODEDUPE:   call @forward__outlined1(
//       NODEDUPE:   call @forward__outlined2(
//       NODEDUPE: func.func private @forward__outlined0(
//       NODEDUPE: func.func private @forward__outlined1(
//       NODEDUPE: func.func private @forward__outlined2(

// The scaling loops (4 nested ops with the implicit scf.yield) are outlined,
// the 3-op reduction is not.
// MINOPS-LABEL: func.func @forward(
//       MINOPS:   call @forward__outlined0(
//       MINOPS:   call @forward__outlined0(
//       MINOPS:   scf.for
//       MINOPS: func.func private @forward__outlined0(
//   MINOPS-NOT: func.func private

// Lowered: the outlined function is internal and noinline; only the entry
// point has a C interface and a packed `_buddy_` wrapper.
//       LLVM: llvm.func @forward(
//       LLVM:   llvm.call @forward__outlined0(
//       LLVM: llvm.func @_mlir_ciface_forward(
//       LLVM: llvm.func @_buddy_forward(
//       LLVM: llvm.func internal @forward__outlined0(
//  LLVM-SAME:     passthrough = ["noinline"]
//       LLVM: llvm.func internal @forward__outlined1(
//   LLVM-NOT: _mlir_ciface_forward__outlined
func.func @forward(%x: memref<8xf32>, %y: memref<8xf32>, %z: memref<8xf32>) -> (f32, memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %two = arith.constant 2.0 : f32
  %zero = arith.constant 0.0 : f32
  scf.for %i = %c0 to %c8 step %c1 {
    %v = memref.load %x[%i] : memref<8xf32>
    %w = arith.mulf %v, %two : f32
    memref.store %w, %y[%i] : memref<8xf32>
  }
  scf.for %i = %c0 to %c8 step %c1 {
    %v = memref.load %y[%i] : memref<8xf32>
    %w = arith.mulf %v, %two : f32
    memref.store %w, %z[%i] : memref<8xf32>
  }
  %sum = scf.for %i = %c0 to %c8 step %c1 iter_args(%acc = %zero) -> (f32) {
    %v = memref.load %z[%i] : memref<8xf32>
    %a = arith.addf %acc, %v : f32
    scf.yield %a : f32
  }
  %pos = arith.cmpf ogt, %sum, %zero : f32
  %buf = scf.if %pos -> (memref<8xf32>) {
    scf.yield %x : memref<8xf32>
  } else {
    scf.yield %z : memref<8xf32>
  }
  return %sum, %buf : f32, memref<8xf32>
}

func.func @layers(%cache: memref<2x8xf32>, %x: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %zero = arith.constant 0.0 : f32
  %row0 = memref.subview %cache[0, 0] [1, 8] [1, 1] : memref<2x8xf32> to memref<8xf32, strided<[1]>>
  %row1 = memref.subview %cache[1, 0] [1, 8] [1, 1] : memref<2x8xf32> to memref<8xf32, strided<[1], offset: 8>>
  scf.for %i = %c0 to %c8 step %c1 {
    %v = memref.load %x[%i] : memref<8xf32>
    memref.store %v, %row0[%i] : memref<8xf32, strided<[1]>>
  }
  scf.for %i = %c0 to %c8 step %c1 {
    %v = memref.load %x[%i] : memref<8xf32>
    memref.store %v, %row1[%i] : memref<8xf32, strided<[1], offset: 8>>
  }
  scf.for %i = %c0 to %c1 step %c1 {
    %s = memref.subview %row1[4] [4] [1] : memref<8xf32, strided<[1], offset: 8>> to memref<4xf32, strided<[1], offset: 12>>
    memref.store %zero, %s[%i] : memref<4xf32, strided<[1], offset: 12>>
  }
  return
}
