# RUN: %PYTHON %s | FileCheck %s
# RUN: %PYTHON %s | buddy-opt --buddy-fold-transpose-into-matmul | FileCheck %s --check-prefix=FOLD
# nn.Linear through the frontend: aten.addmm(bias, x, permute(w)) is emitted as the weight's
# linalg.transpose, a linalg.matmul into a zero-filled f32 accumulator, then one linalg.generic
# that adds the broadcast bias. The transpose is folded in one place, buddy-opt's
# --buddy-fold-transpose-into-matmul (FOLD): the matmul then reads the weight through a
# transposed-B map. The weights come first in @forward's signature, and no argument may be
# bufferized in place.
import torch

from buddy.frontend import import_model

torch.manual_seed(0)
print(import_model(torch.nn.Linear(4, 3).eval(), (torch.randn(2, 4),)).module.mlir_text)

# CHECK-DAG: #[[BIAS:map[0-9]*]] = affine_map<(d0, d1) -> (d1)>
# CHECK-DAG: #[[ID:map[0-9]*]] = affine_map<(d0, d1) -> (d0, d1)>
# CHECK-LABEL: func.func @forward(
# CHECK-SAME: %[[W:arg0]]: tensor<3x4xf32> {bufferization.writable = false}
# CHECK-SAME: %[[B:arg1]]: tensor<3xf32> {bufferization.writable = false}
# CHECK-SAME: %[[X:arg2]]: tensor<2x4xf32> {bufferization.writable = false}) -> tensor<2x3xf32>
# CHECK: %[[WT:.+]] = linalg.transpose ins(%[[W]] : tensor<3x4xf32>) outs(%{{.+}} : tensor<4x3xf32>) permutation = [1, 0]
# CHECK: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
# CHECK: %[[ACC:.+]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.+}} : tensor<2x3xf32>) -> tensor<2x3xf32>
# CHECK: %[[MM:.+]] = linalg.matmul ins(%[[X]], %[[WT]] : tensor<2x4xf32>, tensor<4x3xf32>) outs(%[[ACC]] : tensor<2x3xf32>)
# CHECK: %[[Y:.+]] = linalg.generic {indexing_maps = [#[[BIAS]], #[[ID]], #[[ID]]], iterator_types = ["parallel", "parallel"]} ins(%[[B]], %[[MM]] : tensor<3xf32>, tensor<2x3xf32>)
# CHECK-NEXT: ^bb0(%[[BI:.+]]: f32, %[[MI:.+]]: f32, %{{.+}}: f32):
# CHECK-NEXT: %[[S:.+]] = arith.addf %[[BI]], %[[MI]] : f32
# CHECK-NEXT: linalg.yield %[[S]] : f32
# CHECK: return %[[Y]] : tensor<2x3xf32>

# FOLD-DAG: #[[MA:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
# FOLD-DAG: #[[MB:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
# FOLD-DAG: #[[MC:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
# FOLD-LABEL: func.func @forward(
# FOLD-SAME: %[[W:arg0]]: tensor<3x4xf32>
# FOLD-SAME: %[[X:arg2]]: tensor<2x4xf32>
# FOLD-NOT: linalg.transpose
# FOLD: linalg.matmul indexing_maps = [#[[MA]], #[[MB]], #[[MC]]] ins(%[[X]], %[[W]] : tensor<2x4xf32>, tensor<3x4xf32>)
