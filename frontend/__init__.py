"""Buddy frontend: TorchDynamo capture, graph IR, lowering to MLIR."""
