# RUN: %PYTHON %s | FileCheck %s
# The LLaMA RMSNorm pattern x * rsqrt(mean(x^2, -1) + eps) * w (f32, last dim) is fused by the
# frontend's fuse_rms_norm pass into buddy.rms_norm, lowered to a zero-filled sum-of-squares reduction
# and one elementwise scale generic `x * rsqrt(s / N + eps) * w`: the form (include/buddy/RmsNorm.h,
# no attributes) that buddy-opt's --buddy-rmsnorm-vectorize turns into one row kernel.
import torch

from buddy.frontend import import_model


class RMSNorm(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(8))
        self.eps = 1e-6

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


print(import_model(RMSNorm(), (torch.randn(2, 8),)).module.mlir_text)

# CHECK-LABEL: func.func @forward(
# CHECK-SAME: %[[W:arg0]]: tensor<8xf32> {bufferization.writable = false}, %[[X:arg1]]: tensor<2x8xf32> {bufferization.writable = false})
# CHECK: %[[SS:.+]] = linalg.generic {{{.*}}iterator_types = ["parallel", "reduction"]} ins(%[[X]] : tensor<2x8xf32>) outs(%{{.+}} : tensor<2xf32>) {
# CHECK-NEXT: ^bb0(%[[E:.+]]: f32, %[[ACC:.+]]: f32):
# CHECK-NEXT: %[[SQ:.+]] = arith.mulf %[[E]], %[[E]] : f32
# CHECK-NEXT: %[[T:.+]] = arith.addf %[[SQ]], %[[ACC]] : f32
# CHECK: %[[KEEP:.+]] = tensor.expand_shape %[[SS]] {{\[\[}}0, 1]] output_shape [2, 1] : tensor<2xf32> into tensor<2x1xf32>
# CHECK: linalg.generic {{{.*}}} ins(%[[X]], %[[KEEP]], %[[W]] : tensor<2x8xf32>, tensor<2x1xf32>, tensor<8xf32>) outs(%{{.+}} : tensor<2x8xf32>) {
# CHECK-NEXT: ^bb0(%[[U:.+]]: f32, %[[S:.+]]: f32, %[[WV:.+]]: f32, %{{.+}}: f32):
# CHECK: %[[N:.+]] = arith.constant 8.000000e+00 : f32
# CHECK: %[[M:.+]] = arith.divf %[[S]], %[[N]] : f32
# CHECK: %[[EPS:.+]] = arith.constant 9.99999997E-7 : f32
# CHECK: %[[A:.+]] = arith.addf %[[M]], %[[EPS]] : f32
# CHECK: %[[R:.+]] = math.rsqrt %[[A]] : f32
# CHECK: %[[Y:.+]] = arith.mulf %[[U]], %[[R]] : f32
# CHECK: %[[O:.+]] = arith.mulf %[[Y]], %[[WV]] : f32
# CHECK: linalg.yield %[[O]] : f32
# CHECK-NOT: math.powf
# CHECK-NOT: buddy.
# CHECK: return
