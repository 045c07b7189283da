#!/usr/bin/env bash
# Fuzz the weight-file parser (runtime/include/buddy/WeightFile.h) for a bounded time.
#   scripts/fuzz_weightfile.sh [seconds=60] [seed=1]
# With clang++ available: libFuzzer + ASan/UBSan. Otherwise (g++ only): the
# structure-aware mutation loop of tests/fuzz/weightfile_fuzzer.cpp under
# ASan/UBSan. Any sanitizer report aborts with a non-zero exit.
set -euo pipefail
seconds="${1:-60}"
seed="${2:-1}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${BUDDY_FUZZ_DIR:-${TMPDIR:-/tmp}/buddy-fuzz-weightfile}"
mkdir -p "$out"
src="$root/tests/fuzz/weightfile_fuzzer.cpp"
flags=(-std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined
       -fno-sanitize-recover=all -I"$root/runtime/include")
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
if command -v clang++ >/dev/null 2>&1; then
  echo "libFuzzer build (clang++)"
  clang++ "${flags[@]}" -fsanitize=fuzzer "$src" -o "$out/fuzz_weightfile"
  mkdir -p "$out/corpus"
  "$out/fuzz_weightfile" -max_total_time="$seconds" -seed="$seed" "$out/corpus"
else
  echo "standalone build (g++ $(g++ -dumpversion); no clang++ for libFuzzer)"
  g++ "${flags[@]}" -DBUDDY_STANDALONE_FUZZ "$src" -o "$out/fuzz_weightfile"
  "$out/fuzz_weightfile" "$seconds" "$seed"
fi
