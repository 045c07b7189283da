"""Op tables: ATen overload -> emitter, one module per target dialect (linalg, tosa)."""
