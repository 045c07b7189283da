#!/usr/bin/env bash
# Fuzz one of the runtime's file parsers for a bounded time.
#   scripts/fuzz.sh <weightfile|gguf> [seconds=60] [seed=1] [max_execs=0]
#     weightfile: runtime/include/buddy/WeightFile.h  (tests/fuzz/weightfile_fuzzer.cpp)
#     gguf:       runtime/include/buddy/gguf/GGUFReader.h (tests/fuzz/gguf_fuzzer.cpp)
# With clang++ available: libFuzzer + ASan/UBSan. Otherwise (g++ only): the
# structure-aware mutation loop of the fuzzer's standalone driver under
# ASan/UBSan (max_execs > 0 stops it after that many inputs). Any sanitizer
# report or oracle violation aborts with a non-zero exit; the standalone gguf
# driver writes the offending input to $BUDDY_FUZZ_DIR/gguf-crash.gguf.
# ctest runs the same drivers for a fixed number of inputs: ctest -L fuzz.
set -euo pipefail
target="${1:?usage: scripts/fuzz.sh <weightfile|gguf> [seconds=60] [seed=1] [max_execs=0]}"
seconds="${2:-60}"
seed="${3:-1}"
max_execs="${4:-0}"
case "$target" in
  weightfile|gguf) ;;
  *) echo "unknown fuzz target '$target' (weightfile or gguf)" >&2; exit 2 ;;
esac
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${BUDDY_FUZZ_DIR:-${TMPDIR:-/tmp}/buddy-fuzz-$target}"
mkdir -p "$out"
export BUDDY_FUZZ_DIR="$out"
src="$root/tests/fuzz/${target}_fuzzer.cpp"
flags=(-std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined
       -fno-sanitize-recover=all -I"$root/runtime/include" -I"$root/tests/cpp")
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
if command -v clang++ >/dev/null 2>&1; then
  echo "libFuzzer build (clang++)"
  clang++ "${flags[@]}" -fsanitize=fuzzer "$src" -o "$out/fuzz_$target"
  mkdir -p "$out/corpus"
  runs=()
  [ "$max_execs" != 0 ] && runs=(-runs="$max_execs")
  "$out/fuzz_$target" -max_total_time="$seconds" -seed="$seed" "${runs[@]}" "$out/corpus"
else
  echo "standalone build (g++ $(g++ -dumpversion); no clang++ for libFuzzer)"
  g++ "${flags[@]}" -DBUDDY_STANDALONE_FUZZ "$src" -o "$out/fuzz_$target"
  "$out/fuzz_$target" "$seconds" "$seed" "$max_execs"
fi
