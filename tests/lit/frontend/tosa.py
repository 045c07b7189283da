# RUN: %PYTHON %s | FileCheck %s
# dialect="tosa": Linear + ReLU as TOSA ops only (no linalg): the weight is transposed and both
# operands reshaped to rank 3 for tosa.matmul, the bias is added with a broadcasting tosa.add and
# ReLU is a tosa.clamp from 0 to +inf.
import torch

from buddy.frontend import import_model

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()).eval()
print(import_model(model, (torch.randn(2, 4),), dialect="tosa").module.mlir_text)

# CHECK-LABEL: func.func @forward(
# CHECK-SAME: %[[W:arg0]]: tensor<3x4xf32> {bufferization.writable = false}, %[[B:arg1]]: tensor<3xf32> {bufferization.writable = false}, %[[X:arg2]]: tensor<2x4xf32> {bufferization.writable = false}) -> tensor<2x3xf32>
# CHECK-NOT: linalg.
# CHECK: %[[WT:.+]] = tosa.transpose %[[W]] {perms = array<i32: 1, 0>} : (tensor<3x4xf32>) -> tensor<4x3xf32>
# CHECK: %[[X3:.+]] = tosa.reshape %[[X]], %{{.+}} : (tensor<2x4xf32>, !tosa.shape<3>) -> tensor<1x2x4xf32>
# CHECK: %[[W3:.+]] = tosa.reshape %[[WT]], %{{.+}} : (tensor<4x3xf32>, !tosa.shape<3>) -> tensor<1x4x3xf32>
# CHECK: %[[MM:.+]] = tosa.matmul %[[X3]], %[[W3]], %{{.+}}, %{{.+}} : (tensor<1x2x4xf32>, tensor<1x4x3xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x2x3xf32>
# CHECK: %[[MM2:.+]] = tosa.reshape %[[MM]], %{{.+}} -> tensor<2x3xf32>
# CHECK: %[[B2:.+]] = tosa.reshape %[[B]], %{{.+}} -> tensor<1x3xf32>
# CHECK: %[[Y:.+]] = tosa.add %[[MM2]], %[[B2]] : (tensor<2x3xf32>, tensor<1x3xf32>) -> tensor<2x3xf32>
# CHECK: %[[R:.+]] = tosa.clamp %[[Y]] {max_val = 0x7F800000 : f32, min_val = 0.000000e+00 : f32}
# CHECK: return %[[R]] : tensor<2x3xf32>
# CHECK-NOT: linalg.
