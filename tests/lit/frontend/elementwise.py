# RUN: %PYTHON %s | FileCheck %s
# relu(x + y) with a broadcast operand: the frontend emits one linalg.generic per op (fusing them
# is buddy-opt's job, not the frontend's); the broadcast input is read through a (d0, d1) -> (d1)
# indexing map, and relu is maximumf with 0.
import torch

from buddy.frontend import import_model


class AddRelu(torch.nn.Module):
    def forward(self, x, y):
        return torch.relu(x + y)


print(import_model(AddRelu(), (torch.randn(2, 3), torch.randn(3))).module.mlir_text)

# CHECK-DAG: #[[ID:map[0-9]*]] = affine_map<(d0, d1) -> (d0, d1)>
# CHECK-DAG: #[[ROW:map[0-9]*]] = affine_map<(d0, d1) -> (d1)>
# CHECK-LABEL: func.func @forward(
# CHECK-SAME: %[[X:arg0]]: tensor<2x3xf32> {bufferization.writable = false}, %[[Y:arg1]]: tensor<3xf32> {bufferization.writable = false}) -> tensor<2x3xf32>
# CHECK: %[[SUM:.+]] = linalg.generic {indexing_maps = [#[[ID]], #[[ROW]], #[[ID]]], iterator_types = ["parallel", "parallel"]} ins(%[[X]], %[[Y]] : tensor<2x3xf32>, tensor<3xf32>)
# CHECK: arith.addf
# CHECK: } -> tensor<2x3xf32>
# CHECK: %[[R:.+]] = linalg.generic {indexing_maps = [#[[ID]], #[[ID]]], iterator_types = ["parallel", "parallel"]} ins(%[[SUM]] : tensor<2x3xf32>)
# CHECK-NEXT: ^bb0(%[[IN:.+]]: f32, %{{.+}}: f32):
# CHECK-NEXT: %[[Z:.+]] = arith.constant 0.000000e+00 : f32
# CHECK-NEXT: %[[M:.+]] = arith.maximumf %[[IN]], %[[Z]] : f32
# CHECK-NEXT: linalg.yield %[[M]] : f32
# CHECK: return %[[R]] : tensor<2x3xf32>
# CHECK-NOT: linalg.generic
