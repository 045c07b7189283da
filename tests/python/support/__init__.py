"""Shared test support (imported as `support.<module>`; pytest puts tests/python on sys.path
through `pythonpath` in pyproject.toml, bench/ scripts add it themselves):

- `model_zoo`: small models (tiny LLaMA, CNN, BERT-style encoder, GQA block) for whole-model tests
- `frontend_op_samples`: one sample per supported ATen op, run through the importer
- `backend_kernels`: hand-written tensor-level MLIR kernels for the backend tests
- `midend_harness`, `conv_harness`: build, compile and run single kernels through buddy-opt
- `tokenizer_refs`: the llama.cpp reference tokenizations
"""
