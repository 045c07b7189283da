#!/usr/bin/env bash
# Same as scripts/fuzz.sh gguf [seconds=60] [seed=1] [max_execs=0]
exec "$(dirname "${BASH_SOURCE[0]}")/fuzz.sh" gguf "$@"
