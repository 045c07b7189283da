"""Op tables: ATen overload -> emitter, one package per target dialect (`linalg/`, `tosa/`), one module
per op family inside it, merged by the package's `__init__.py`. `registry.OpTable` is the table type;
`common.py` (and `tosa/builders.py`) hold the builders the families share."""
