# RUN: %PYTHON %s | FileCheck %s
# Every op the frontend emits carries the location of the user's source line that produced its
# FX node, wrapped in the node's name: loc("relu"("<this file>":LINE:COL)). Printed with
# module.text(debug_info=True); the column is where the expression starts.
import torch

from buddy.frontend import import_model


class Scaled(torch.nn.Module):
    def forward(self, x):
        y = torch.relu(x)
        # CHECK-DAG: #[[RELU_SRC:loc[0-9]*]] = loc("{{.*}}locations.py":[[#@LINE-1]]:13)
        return y * 2
        # CHECK-DAG: #[[MUL_SRC:loc[0-9]*]] = loc("{{.*}}locations.py":[[#@LINE-1]]:16)


print(import_model(Scaled(), (torch.randn(5),)).module.text(debug_info=True))

# CHECK-DAG: #[[RELU:loc[0-9]*]] = loc("relu"(#[[RELU_SRC]]))
# CHECK-DAG: #[[MUL:loc[0-9]*]] = loc("mul"(#[[MUL_SRC]]))
# CHECK-LABEL: func.func @forward
# CHECK: tensor.empty() : tensor<5xf32> loc(#[[RELU]])
# CHECK: arith.maximumf %{{.+}}, %{{.+}} : f32 loc(#[[RELU]])
# CHECK: } -> tensor<5xf32> loc(#[[RELU]])
# CHECK: arith.mulf %{{.+}}, %{{.+}} : f32 loc(#[[MUL]])
# CHECK: } -> tensor<5xf32> loc(#[[MUL]])
