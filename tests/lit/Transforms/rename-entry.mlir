// RUN: buddy-opt %s --buddy-rename-entry="to=llama_decode" | FileCheck %s
// RUN: buddy-opt %s --buddy-rename-entry="to=llama_decode" --llvm-request-c-wrappers \
// RUN:   --convert-func-to-llvm --reconcile-unrealized-casts --buddy-emit-packed-interface \
// RUN:   | FileCheck %s --check-prefix=ABI
// RUN: buddy-opt %s --buddy-rename-entry | FileCheck %s --check-prefix=NOOP
// RUN: not buddy-opt %s --buddy-rename-entry="from=missing to=x" 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not buddy-opt %s --buddy-rename-entry="from=helper to=x" 2>&1 | FileCheck %s --check-prefix=PRIVATE
// RUN: not buddy-opt %s --buddy-rename-entry="to=caller" 2>&1 | FileCheck %s --check-prefix=EXISTS
// RUN: not buddy-opt %s --buddy-rename-entry="to=1bad-name" 2>&1 | FileCheck %s --check-prefix=BADNAME

// The entry is renamed and so is every use of it; other symbols are untouched.
// CHECK-NOT:   @forward
// CHECK-LABEL: func.func @llama_decode(%{{.*}}: f32) -> f32
// CHECK:         call @helper
// CHECK-LABEL: func.func @caller
// CHECK:         call @llama_decode
// CHECK-NOT:   @forward
func.func @forward(%x: f32) -> f32 {
  %y = call @helper(%x) : (f32) -> f32
  return %y : f32
}
func.func private @helper(%x: f32) -> f32 {
  return %x : f32
}
func.func @caller(%x: f32) -> f32 {
  %y = call @forward(%x) : (f32) -> f32
  return %y : f32
}

// After lowering, the graph's exported symbols all carry the new name.
// ABI-DAG:     llvm.func @llama_decode(
// ABI-DAG:     llvm.func @_mlir_ciface_llama_decode(
// ABI-DAG:     llvm.func @_buddy_llama_decode(
// ABI-NOT:     @_buddy_forward

// The default (to=forward) leaves the module as it is.
// NOOP-LABEL: func.func @forward(
// NOOP-LABEL: func.func @caller(
// NOOP:         call @forward

// MISSING:     error: buddy-rename-entry: no symbol @missing to rename to @x
// PRIVATE:     error: buddy-rename-entry: @helper is private, not an entry point
// EXISTS:      error: buddy-rename-entry: cannot rename @forward to @caller: the symbol already exists
// BADNAME:     error: buddy-rename-entry: to='1bad-name' is not a C identifier
