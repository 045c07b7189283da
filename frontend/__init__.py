"""Buddy frontend: TorchDynamo capture, graph IR, lowering to MLIR (linalg | tosa).

    from buddy.frontend import import_model
    g = import_model(model, (x,), dialect="linalg")
    g.module.mlir_text, g.params, g.inputs, g.outputs, g.write_params("model.bwt")

`torch.compile(model, backend="buddy")` lives above the frontend, in `buddy.dynamo` (found
through the `torch_dynamo_backends` entry point, or registered by importing it).
"""

from .errors import CaptureError, FrontendError, LoweringError, UnsupportedOpError
from .graph import Graph, ParamSpec, TensorSpec
from .importer import DIALECTS, ImportedGraph, import_fx, import_model, op_table
__all__ = ["import_model", "import_fx", "ImportedGraph", "ParamSpec", "TensorSpec", "Graph", "op_table",
           "DIALECTS", "FrontendError", "UnsupportedOpError", "CaptureError", "LoweringError"]
