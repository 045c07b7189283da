#!/usr/bin/env python3
"""Encode throughput (MB/s) of Buddy's C++ tokenizers vs `sentencepiece` and HF
`tokenizers`, on the same text, with the same vocabularies (GGUF files from
scripts/fetch_test_data.sh).

Corpora (deterministic, built locally):
  - english-code: the first MB of Python's standard library sources
    (English comments/docstrings + code);
  - multilingual: random strings mixing scripts, emoji, digits, whitespace
    (tests/python/tokenizer_refs.random_strings).
Each tokenizer encodes (a) the whole corpus in one call and (b) line by line;
the best of N repeats is reported. Ids are checked to be identical to the
reference before timing. Writes bench/results/tokenizer.json.

Usage: python bench/bench_tokenizer.py [--mb 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import sysconfig
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

from support import tokenizer_refs as refs  # noqa: E402
from buddy import _runtime as rt  # noqa: E402


def english_code_corpus(mb: float) -> str:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts: list[str] = []
    size = 0
    for p in sorted(stdlib.glob("*.py")):
        text = p.read_text(encoding="utf-8", errors="replace")
        parts.append(text)
        size += len(text.encode())
        if size >= mb * 1e6:
            break
    return "".join(parts)[: int(mb * 1e6)]


def multilingual_corpus(mb: float) -> str:
    out: list[str] = []
    size = 0
    seed = 0
    while size < mb * 1e6:
        for s in refs.random_strings(2000, seed=seed):
            out.append(s)
            size += len(s.encode()) + 1
        seed += 1
    return "\n".join(out)


def best_time(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(name: str, encode: Callable[[str], list[int]], text: str, lines: list[str],
            repeats: int) -> dict:
    nbytes = len(text.encode())
    t_whole = best_time(lambda: encode(text), repeats)
    t_lines = best_time(lambda: [encode(line) for line in lines], repeats)
    return {
        "tokenizer": name,
        "whole_MBps": round(nbytes / t_whole / 1e6, 2),
        "lines_MBps": round(nbytes / t_lines / 1e6, 2),
        "tokens": len(encode(text)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=4.0, help="size of each corpus in MB")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "tokenizer.json")
    args = ap.parse_args()

    import sentencepiece
    import tokenizers

    spm_path, smol_path = refs.spm_gguf(), refs.smollm2_gguf()
    buddy_spm = rt.Tokenizer.from_gguf(str(spm_path))
    ref_spm = refs.spm_reference(spm_path)
    buddy_smol = rt.Tokenizer.from_gguf(str(smol_path))
    ref_smol = refs.hf_bytelevel_reference(smol_path)
    pairs = {
        "llama2-spm": [("buddy", buddy_spm.encode), ("sentencepiece", ref_spm.encode)],
        "smollm2-bytelevel": [
            ("buddy", buddy_smol.encode),
            ("hf-tokenizers", lambda t: ref_smol.encode(t, add_special_tokens=False).ids),
        ],
    }
    corpora = {"english-code": english_code_corpus(args.mb),
               "multilingual": multilingual_corpus(args.mb)}
    results = []
    for cname, text in corpora.items():
        lines = text.split("\n")
        for vocab, encoders in pairs.items():
            ours, theirs = encoders[0][1], encoders[1][1]
            if ours(text) != theirs(text):
                raise SystemExit(f"{vocab}/{cname}: Buddy's ids differ from the reference")
            for tname, enc in encoders:
                r = measure(tname, enc, text, lines, args.repeats)
                r.update(corpus=cname, vocab=vocab, MB=round(len(text.encode()) / 1e6, 3))
                results.append(r)
                print(f"{cname:13s} {vocab:18s} {tname:14s} whole {r['whole_MBps']:7.2f} MB/s"
                      f"   per-line {r['lines_MBps']:7.2f} MB/s   {r['tokens']} tokens", flush=True)
    report = {
        "benchmark": "tokenizer encode throughput (best of %d, single thread)" % args.repeats,
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "load_average_1min_at_end": round(os.getloadavg()[0], 2),
                    "python": platform.python_version()},
        "versions": {"sentencepiece": sentencepiece.__version__, "tokenizers": tokenizers.__version__},
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
