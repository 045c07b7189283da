# RUN: %PYTHON %s | FileCheck %s
# Grouped and depthwise nn.Conv2d through the frontend: the padded input and the weight are split
# along the channels into (group, channel of the group) by tensor.expand_shape, one
# linalg.conv_2d_ngchw_gfchw reduces over each group's channels (buddy-opt's
# --buddy-conv2d-vectorize kernel), and the (group, channel) output dimensions are collapsed
# again before the bias. No linalg.generic computes the convolution itself.
import torch

from buddy.frontend import import_model

torch.manual_seed(0)


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dw = torch.nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=4, bias=False)  # multiplier 2
        self.g = torch.nn.Conv2d(8, 6, 1, groups=2)  # 4 in / 3 out channels per group, bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.g(self.dw(x))


print(import_model(Net().eval(), (torch.randn(1, 4, 9, 10),)).module.mlir_text)

# CHECK-LABEL: func.func @forward(
# CHECK: %[[PAD:.+]] = tensor.insert_slice %{{.+}} into %{{.+}}[0, 0, 1, 1] [1, 4, 9, 10] [1, 1, 1, 1] : tensor<1x4x9x10xf32> into tensor<1x4x11x12xf32>
# CHECK: %[[X5:.+]] = tensor.expand_shape %[[PAD]] {{\[}}[0], [1, 2], [3], [4]] output_shape [1, 4, 1, 11, 12] : tensor<1x4x11x12xf32> into tensor<1x4x1x11x12xf32>
# CHECK: %[[W5:.+]] = tensor.expand_shape %{{.+}} {{\[}}[0, 1], [2], [3], [4]] output_shape [4, 2, 1, 3, 3] : tensor<8x1x3x3xf32> into tensor<4x2x1x3x3xf32>
# CHECK: %[[DW:.+]] = linalg.conv_2d_ngchw_gfchw {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>} ins(%[[X5]], %[[W5]] : tensor<1x4x1x11x12xf32>, tensor<4x2x1x3x3xf32>) outs(%{{.+}} : tensor<1x4x2x5x5xf32>)
# CHECK: tensor.collapse_shape %[[DW]] {{\[}}[0], [1, 2], [3], [4]] : tensor<1x4x2x5x5xf32> into tensor<1x8x5x5xf32>
# CHECK: linalg.conv_2d_ngchw_gfchw {{.*}} ins(%{{.+}}, %{{.+}} : tensor<1x2x4x5x5xf32>, tensor<2x3x4x1x1xf32>) outs(%{{.+}} : tensor<1x2x3x5x5xf32>)
# CHECK: %[[G:.+]] = tensor.collapse_shape %{{.+}} {{\[}}[0], [1, 2], [3], [4]] : tensor<1x2x3x5x5xf32> into tensor<1x6x5x5xf32>
# CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%[[G]], %{{.+}} : tensor<1x6x5x5xf32>, tensor<6xf32>)
# CHECK-NOT: "reduction"
