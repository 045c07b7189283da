# RUN: %PYTHON %s | FileCheck %s
# nn.Linear through the frontend: aten.addmm(bias, x, permute(w)) becomes Buddy's buddy.addmm_bt
# (fuse_transpose_into_matmul), lowered to a linalg.matmul with transposed-B indexing maps into
# a zero-filled f32 accumulator, then one linalg.generic that adds the broadcast bias. The
# weights come first in @forward's signature, and no argument may be bufferized in place.
import torch

from buddy.frontend import import_model

torch.manual_seed(0)
print(import_model(torch.nn.Linear(4, 3).eval(), (torch.randn(2, 4),)).module.mlir_text)

# CHECK-DAG: #[[MA:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
# CHECK-DAG: #[[MB:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
# CHECK-DAG: #[[MC:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
# CHECK-DAG: #[[BIAS:map[0-9]*]] = affine_map<(d0, d1) -> (d1)>
# CHECK-DAG: #[[ID:map[0-9]*]] = affine_map<(d0, d1) -> (d0, d1)>
# CHECK-LABEL: func.func @forward(
# CHECK-SAME: %[[W:arg0]]: tensor<3x4xf32> {bufferization.writable = false}
# CHECK-SAME: %[[B:arg1]]: tensor<3xf32> {bufferization.writable = false}
# CHECK-SAME: %[[X:arg2]]: tensor<2x4xf32> {bufferization.writable = false}) -> tensor<2x3xf32>
# CHECK: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
# CHECK: %[[ACC:.+]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.+}} : tensor<2x3xf32>) -> tensor<2x3xf32>
# CHECK: %[[MM:.+]] = linalg.matmul indexing_maps = [#[[MA]], #[[MB]], #[[MC]]] ins(%[[X]], %[[W]] : tensor<2x4xf32>, tensor<3x4xf32>) outs(%[[ACC]] : tensor<2x3xf32>)
# CHECK: %[[Y:.+]] = linalg.generic {indexing_maps = [#[[BIAS]], #[[ID]], #[[ID]]], iterator_types = ["parallel", "parallel"]} ins(%[[B]], %[[MM]] : tensor<3xf32>, tensor<2x3xf32>)
# CHECK-NEXT: ^bb0(%[[BI:.+]]: f32, %[[MI:.+]]: f32, %{{.+}}: f32):
# CHECK-NEXT: %[[S:.+]] = arith.addf %[[BI]], %[[MI]] : f32
# CHECK-NEXT: linalg.yield %[[S]] : f32
# CHECK: return %[[Y]] : tensor<2x3xf32>
