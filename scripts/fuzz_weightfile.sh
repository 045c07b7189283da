#!/usr/bin/env bash
# Kept for muscle memory: scripts/fuzz.sh weightfile [seconds=60] [seed=1] [max_execs=0]
exec "$(dirname "${BASH_SOURCE[0]}")/fuzz.sh" weightfile "$@"
