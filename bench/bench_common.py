"""Pieces shared by the kernel benchmarks (bench_matmul.py, bench_conv.py): timing, one
worker process per thread count, and rewriting a marked section of a Markdown file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence


def best_times(fn: Callable[[], object], reps: int) -> tuple[float, float]:
    """Best wall seconds and best process-CPU seconds per call over `reps`
    calls, after a warm-up call.

    The best (not the median) is reported: the 2-CPU machine is shared, and
    interference only ever adds time. CPU time (all threads of this process)
    does not count the time other processes hold the CPUs, so the CPU-time
    ratio is the steadier comparison on a busy machine. Buddy (LLVM libomp)
    and torch (its own OpenMP) live in one process; idle OpenMP workers spin
    for a while (libomp: KMP_BLOCKTIME = 200 ms) and would steal the CPUs of
    the other runtime, so each block starts with a pause that lets them sleep."""
    time.sleep(0.3)
    fn()
    wall = cpu = float("inf")
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


def run_worker(script: str, threads: int, args: Sequence[str]) -> Any:
    """Run `script --worker <threads> <args>` with OMP_NUM_THREADS=threads (libomp reads it
    once per process) and return the JSON its last stdout line holds."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, script, "--worker", str(threads), *args]
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_section(doc: Path, begin: str, end: str, section: str) -> None:
    """Replace the `begin` ... `end` part of `doc` with `section` (which carries both
    markers), or append `section` when the markers are absent."""
    text = doc.read_text() if doc.exists() else "# Performance\n\n"
    if begin in text and end in text:
        pre, rest = text.split(begin, 1)
        post = rest.split(end, 1)[1]
        text = pre + section.rstrip("\n") + post
    else:
        text = text.rstrip("\n") + "\n\n" + section
    doc.write_text(text)
