"""Buddy-compiled f32 GEMM / GEMV / batch-matmul kernels vs PyTorch, same run,
same shapes, same thread count.

    python bench/bench_matmul.py [--with-4096] [--reps N] [--quick]

Needs the built package on PYTHONPATH (e.g. build/<dir>/python_packages).
Each thread count runs in its own worker process (OMP_NUM_THREADS is read
once by libomp), kernels are compiled with `buddy-opt --buddy-cpu-pipeline`.
Writes bench/results/matmul.json, bench/results/matmul.png and the matmul
section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from support.midend_harness import MatmulSpec, aligned_empty, build_matmul  # noqa: E402

import bench_common as common  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench_matmul:begin -->", "<!-- bench_matmul:end -->"


def cases(with_4096: bool, quick: bool) -> list[tuple[str, MatmulSpec]]:
    sizes = [256, 512, 1024, 2048] + ([4096] if with_4096 else [])
    if quick:
        sizes = [256, 1024]
    out: list[tuple[str, MatmulSpec]] = [(f"square {s}", MatmulSpec(s, s, s)) for s in sizes]
    out += [
        ("square 2048, B^T (nn.Linear)", MatmulSpec(2048, 2048, 2048, True)),
        ("SmolLM2 up 512x1536x576, B^T", MatmulSpec(512, 1536, 576, True)),
        ("SmolLM2 down 512x576x1536, B^T", MatmulSpec(512, 576, 1536, True)),
        ("LLaMA-7B 128x11008x4096, B^T", MatmulSpec(128, 11008, 4096, True)),
        ("GEMV LLaMA-7B 1x11008x4096, B^T", MatmulSpec(1, 11008, 4096, True)),
        ("GEMV LLaMA-7B 1x4096x11008, B^T", MatmulSpec(1, 4096, 11008, True)),
        ("GEMV 1x11008x4096, B (k,n)", MatmulSpec(1, 11008, 4096, False)),
        ("attn QK^T 9x512x512x64", MatmulSpec(512, 512, 64, True, batch=9)),
        ("attn PV 9x512x64x512", MatmulSpec(512, 64, 512, False, batch=9)),
    ]
    if quick:
        out = [c for c in out if "LLaMA-7B 128" not in c[0] and "2048" not in c[0]]
    return out


def last_level_cache_bytes() -> int:
    """Size of the largest CPU cache (sysfs), 32 MiB if unknown."""
    best = 0
    for f in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        txt = f.read_text().strip().upper()
        mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(txt[-1:], 1)
        try:
            best = max(best, int(txt.rstrip("KMG")) * mult)
        except ValueError:
            continue
    return best or (32 << 20)


def dram_copies(nbytes: int) -> int:
    """How many distinct copies of an `nbytes` operand to rotate through so that
    each call finds its operand evicted from the last-level cache (2x its size)."""
    return max(1, -(-2 * last_level_cache_bytes() // nbytes))


def copy_bandwidth_gbs() -> float:
    """numpy copy of an array twice the last-level cache (so it streams from
    DRAM, like the GEMV weights): (read + write bytes) / s, best of 5."""
    src = np.ones(2 * last_level_cache_bytes() // 4, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    best = min(_timeit(lambda: np.copyto(dst, src)) for _ in range(5))
    return 2 * src.nbytes / best / 1e9


def _timeit(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def worker(threads: int, names: list[str], with_4096: bool, quick: bool, reps: int, rounds: int,
           workdir: Path) -> list[dict]:
    import torch

    torch.set_num_threads(threads)
    # torch's thread pool is slow for its first second or so: warm it up.
    x = torch.randn(512, 512)
    end = time.perf_counter() + 1.5
    while time.perf_counter() < end:
        torch.matmul(x, x)
    rows = []
    for name, spec in cases(with_4096, quick):
        if name not in names:
            continue
        kernel = build_matmul(spec, workdir)
        sa, sb, sc = spec.shapes()
        rng = np.random.default_rng(0)
        a = rng.standard_normal(sa, dtype=np.float32)
        b = rng.standard_normal(sb, dtype=np.float32)
        c = aligned_empty(sc)
        # GEMV (decode) streams a weight used once per token: rotate through
        # enough distinct weights that each call reads its weight from DRAM.
        copies = dram_copies(b.nbytes) if spec.m <= 4 else 1
        bs = [b] + [b.copy() for _ in range(copies - 1)]
        calls = [kernel.bind(a, bi, c) for bi in bs]
        ta, tc = torch.from_numpy(a), torch.empty(sc)
        tbts = [torch.from_numpy(bi).transpose(-1, -2) if spec.transposed_b else torch.from_numpy(bi)
                for bi in bs]
        flops = 2.0 * spec.m * spec.n * spec.k * max(spec.batch, 1)
        t_buddy = t_torch = c_buddy = c_torch = float("inf")

        def buddy_call() -> None:
            for call in calls:
                call()

        def torch_call() -> None:
            for tb_ in tbts:
                torch.matmul(ta, tb_, out=tc)
        for _ in range(rounds):  # alternate so both see the same machine state
            wall, cpu = common.best_times(buddy_call, reps)
            t_buddy, c_buddy = min(t_buddy, wall / copies), min(c_buddy, cpu / copies)
            wall, cpu = common.best_times(torch_call, reps)
            t_torch, c_torch = min(t_torch, wall / copies), min(c_torch, cpu / copies)
        ok = bool(np.allclose(c, tc.numpy(), rtol=1e-3, atol=1e-3 * np.sqrt(spec.k)))
        rows.append({
            "name": name, "spec": asdict(spec), "threads": threads,
            "buddy_s": t_buddy, "torch_s": t_torch,
            "buddy_cpu_s": c_buddy, "torch_cpu_s": c_torch,
            "buddy_gflops": flops / t_buddy / 1e9, "torch_gflops": flops / t_torch / 1e9,
            "weight_bytes": int(b.nbytes),
            "buddy_gbs": b.nbytes / t_buddy / 1e9, "torch_gbs": b.nbytes / t_torch / 1e9,
            "matches_torch": ok, "weight_copies": copies,
        })
        print(f"[{threads}T] {name:34s} buddy {rows[-1]['buddy_gflops']:7.1f} GF/s  "
              f"torch {rows[-1]['torch_gflops']:7.1f} GF/s  ratio {t_torch / t_buddy:5.2f} "
              f"(CPU time {c_torch / c_buddy:5.2f})", flush=True)
    return rows


def run_worker(threads: int, names: list[str], args: argparse.Namespace, workdir: Path) -> list[dict]:
    extra = ["--reps", str(args.reps), "--rounds", str(args.rounds), "--workdir", str(workdir),
             "--names", json.dumps(names)]
    extra += ["--with-4096"] if args.with_4096 else []
    extra += ["--quick"] if args.quick else []
    return common.run_worker(__file__, threads, extra)


def render(report: dict) -> str:
    peak, bw = report["practical_peak_gflops"], report["copy_bandwidth_gbs"]
    lines = [
        BEGIN,
        "## f32 matmul kernels (`bench/bench_matmul.py`)",
        "",
        f"Machine: {report['machine']}; {report['threads']} threads; "
        f"torch {report['torch_version']}. Command: `{report['command']}`.",
        "Times are the best of `reps` x `rounds` alternating calls (shared 2-CPU VM). "
        f"Practical peak = torch's best GEMM here: **{peak:.1f} GFLOP/s**. "
        f"Copy bandwidth (numpy copy, read+write): **{bw:.1f} GB/s**.",
        "GEMV rows: GB/s = weight bytes / time (fraction of copy bandwidth). Each GEMV call"
        " reads a different copy of the weight, rotating through enough copies to fill twice"
        f" the last-level cache ({report.get('llc_mib', 0):.0f} MiB), so weights come from DRAM as in"
        " decoding; the copy bandwidth is measured on an array of that size too.",
        "",
        "Last column: the same case on 1 thread, torch/Buddy CPU time (steady on a busy machine).",
        "",
        "| case | Buddy GFLOP/s | torch GFLOP/s | Buddy/torch | Buddy GB/s | roofline fraction "
        "| 1 thread: Buddy/torch (CPU time) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    one_t = {r["name"]: r for r in report.get("rows_1_thread", [])}
    for r in report["rows"]:
        o = one_t.get(r["name"])
        one_ratio = f"{o['torch_cpu_s'] / o['buddy_cpu_s']:.2f}" if o else "-"
        gemv = r["spec"]["m"] == 1
        frac = r["buddy_gbs"] / bw if gemv else r["buddy_gflops"] / peak
        lines.append(
            f"| {r['name']} | {r['buddy_gflops']:.1f} | {r['torch_gflops']:.1f} | "
            f"{r['torch_s'] / r['buddy_s']:.2f} | {r['buddy_gbs']:.1f} | "
            f"{frac:.0%} {'of BW' if gemv else 'of peak'} | {one_ratio} |")
    s = report.get("scaling")
    if s:
        lines += ["", f"1 -> {report['threads']} thread scaling on {s['name']}: "
                  f"Buddy {s['buddy']:.2f}x, torch {s['torch']:.2f}x."]
    lines += ["", "![matmul](../bench/results/matmul.png)", END]
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["rows"]
    names = [r["name"] for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(12, 5))
    ax.bar(x - 0.2, [r["buddy_gflops"] for r in rows], 0.4, label="Buddy")
    ax.bar(x + 0.2, [r["torch_gflops"] for r in rows], 0.4, label="torch")
    ax.axhline(report["practical_peak_gflops"], color="gray", ls="--", label="practical peak")
    ax.set_xticks(x, names, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("GFLOP/s")
    ax.set_yscale("log")
    ax.set_title(f"f32 matmul, {report['threads']} threads ({report['machine']})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--with-4096", action="store_true", help="also time the 4096^3 GEMM")
    ap.add_argument("--quick", action="store_true", help="small subset (smoke run)")
    ap.add_argument("--reps", type=int, default=5, help="timed calls per round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating Buddy/torch rounds")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--names", default="[]", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        rows = worker(args.worker, json.loads(args.names), args.with_4096, args.quick, args.reps,
                      args.rounds, Path(args.workdir))
        print(json.dumps(rows))
        return

    import torch

    workdir = Path(tempfile.mkdtemp(prefix="buddy-bench-matmul-"))
    all_names = [n for n, _ in cases(args.with_4096, args.quick)]
    rows = run_worker(args.threads, all_names, args, workdir)
    scale_name = "square 2048" if "square 2048" in all_names else all_names[-1]
    rows_1t = run_worker(1, all_names, args, workdir)
    one = next(r for r in rows_1t if r["name"] == scale_name)
    many = next(r for r in rows if r["name"] == scale_name)
    gemm = [r for r in rows if r["spec"]["m"] > 1]
    report = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "threads": args.threads,
        "torch_version": torch.__version__,
        "command": "python bench/bench_matmul.py" + (" --with-4096" if args.with_4096 else "")
                   + (" --quick" if args.quick else ""),
        "practical_peak_gflops": max(r["torch_gflops"] for r in gemm),
        "copy_bandwidth_gbs": copy_bandwidth_gbs(),
        "llc_mib": last_level_cache_bytes() / (1 << 20),
        "rows": rows,
        "rows_1_thread": rows_1t,
        "scaling": {"name": scale_name, "buddy": one["buddy_s"] / many["buddy_s"],
                    "torch": one["torch_s"] / many["torch_s"],
                    "buddy_1t_gflops": one["buddy_gflops"], "torch_1t_gflops": one["torch_gflops"]},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "matmul.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, RESULTS / "matmul.png")
    common.write_section(DOC, BEGIN, END, render(report))
    print(render(report))
    bad = [r["name"] for r in rows if not r["matches_torch"]]
    if bad:
        sys.exit(f"Buddy results differ from torch for: {bad}")


if __name__ == "__main__":
    main()
