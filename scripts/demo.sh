#!/usr/bin/env bash
# Buddy's main job. Installs Buddy into the venv, reports the toolchain, and
# runs buddy-opt's transpose folding on an nn.Linear-shaped example.
source "$(dirname "$0")/env.sh"
cd "$BUDDY_ROOT"
python -m pip install -q --no-build-isolation -Cbuild-dir="${BUDDY_BUILD_DIR:-build/dev}" .
buddy doctor
buddy-opt --version
buddy-opt examples/linear.mlir --buddy-fold-transpose-into-matmul --canonicalize
