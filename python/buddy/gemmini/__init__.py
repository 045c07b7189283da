"""Gemmini (issue 15) on the Python side: int8 quantization of small models for the
accelerator (`quantize`) and their MLIR in the form `--buddy-convert-linalg-to-gemmini`
maps onto `gemmini.tile_matmul` (`mlir`). See docs/gemmini.md."""
