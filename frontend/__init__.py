"""Buddy frontend: TorchDynamo capture, graph IR, lowering to MLIR (linalg | tosa).

    from buddy.frontend import import_model
    g = import_model(model, (x,), dialect="linalg")
    g.module.mlir_text, g.params, g.inputs, g.outputs, g.write_params("model.bwt")

`torch.compile(model, backend="buddy")` is registered on import (and via the
`torch_dynamo_backends` entry point).
"""

from .errors import CaptureError, FrontendError, LoweringError, UnsupportedOpError
from .graph import Graph, ParamSpec, TensorSpec
from .importer import DIALECTS, ImportedGraph, import_fx, import_model, op_table
from . import dynamo as _dynamo

_dynamo.register()

__all__ = ["import_model", "import_fx", "ImportedGraph", "ParamSpec", "TensorSpec", "Graph", "op_table",
           "DIALECTS", "FrontendError", "UnsupportedOpError", "CaptureError", "LoweringError"]
