"""Buddy-compiled f32 2-D convolutions and pooling (ResNet-style shapes, and
MobileNetV2's depthwise layers) vs PyTorch, same run, same shapes, same thread
count.

    python bench/bench_conv.py [--reps N] [--rounds N] [--quick]

Needs the built package on PYTHONPATH (e.g. build/<dir>/python_packages).
Each thread count runs in its own worker process (OMP_NUM_THREADS is read
once by libomp). Functions are the frontend's form (padding copy + named
linalg op, tests/python/conv_harness.py) compiled with
`buddy-opt --buddy-cpu-pipeline`; "loops" is the same pipeline with
`conv-vectorize=0` (the lowering before --buddy-conv2d-vectorize /
--buddy-pooling-vectorize), timed once per case. Writes
bench/results/conv.json and the conv section of docs/performance.md.
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
from typing import Union

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from support.conv_harness import ConvSpec, PoolSpec, build_conv, build_pool, conv_reference, pool_reference  # noqa: E402
from support.midend_harness import aligned_empty  # noqa: E402

import bench_common as common  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench_conv:begin -->", "<!-- bench_conv:end -->"

Spec = Union[ConvSpec, PoolSpec]


def cases(quick: bool) -> list[tuple[str, Spec]]:
    out: list[tuple[str, Spec]] = [
        ("conv 3x3 64->64, 56x56", ConvSpec(1, 64, 56, 56, 64, 3, 3, pad=(1, 1))),
        ("conv 3x3 256->256, 14x14", ConvSpec(1, 256, 14, 14, 256, 3, 3, pad=(1, 1))),
        ("conv 1x1 64->256, 56x56", ConvSpec(1, 64, 56, 56, 256, 1, 1)),
        ("conv 7x7/2 stem 3->64, 224x224", ConvSpec(1, 3, 224, 224, 64, 7, 7, stride=(2, 2), pad=(3, 3))),
        ("conv 3x3/2 128->128, 56x56", ConvSpec(1, 128, 56, 56, 128, 3, 3, stride=(2, 2), pad=(1, 1))),
        ("maxpool 3x3/2, 64x112x112", PoolSpec(1, 64, 112, 112, 3, 3, stride=(2, 2), pad=(1, 1))),
    ]
    # MobileNetV2's depthwise 3x3 layers (groups = channels, padding 1).
    for c, hw, s in [(32, 112, 1), (96, 112, 2), (144, 56, 1), (144, 56, 2), (192, 28, 1), (384, 14, 1),
                     (576, 14, 2), (960, 7, 1)]:
        tag = "" if s == 1 else "/2"
        out.append((f"dw 3x3{tag} {c}ch, {hw}x{hw}", ConvSpec(1, c, hw, hw, c, 3, 3, stride=(s, s), pad=(1, 1),
                                                              groups=c)))
    if quick:
        out = [c for c in out if "128->128" not in c[0] and "/2 144ch" not in c[0] and "384ch" not in c[0]]
    return out


def worker(threads: int, names: list[str], quick: bool, reps: int, rounds: int, workdir: Path) -> dict:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    # Practical peak: torch's f32 GEMM in this process (warms its pool up too).
    s = 1024 if quick else 2048
    a = torch.randn(s, s)
    c = torch.empty(s, s)
    end = time.perf_counter() + 1.5
    while time.perf_counter() < end:
        torch.matmul(a, a, out=c)
    t_mm, _ = common.best_times(lambda: torch.matmul(a, a, out=c), 5)
    peak = 2.0 * s ** 3 / t_mm / 1e9
    rows = []
    for name, spec in cases(quick):
        if name not in names:
            continue
        rng = np.random.default_rng(0)
        if isinstance(spec, ConvSpec):
            sx, sw, so = spec.shapes()
            args = [rng.standard_normal(sx, dtype=np.float32), rng.standard_normal(sw, dtype=np.float32)]
            build = build_conv
            tx, tw = torch.from_numpy(args[0]), torch.from_numpy(args[1])
            torch_call = lambda: F.conv2d(tx, tw, stride=spec.stride, padding=spec.pad,  # noqa: E731
                                          dilation=spec.dil, groups=spec.groups)
            ref = conv_reference(spec, *args)
            work = spec.flops
        else:
            sx, so = spec.shapes()
            args = [rng.standard_normal(sx, dtype=np.float32)]
            build = build_pool
            tx = torch.from_numpy(args[0])
            torch_call = lambda: F.max_pool2d(tx, (spec.kh, spec.kw), spec.stride, spec.pad,  # noqa: E731
                                              spec.dil)
            ref = pool_reference(spec, *args)
            work = float(spec.n * spec.c * np.prod(spec.out_hw) * spec.kh * spec.kw)  # compares
        out = aligned_empty(so)
        call = build(spec, workdir / "vec").bind(*args, out)
        loops = build(spec, workdir / "loops", "target=avx512 conv-vectorize=0").bind(*args, aligned_empty(so))
        t_loops, _ = common.best_times(loops, 1)
        t_buddy = t_torch = c_buddy = c_torch = float("inf")
        for _ in range(rounds):  # alternate so both see the same machine state
            wall, cpu = common.best_times(call, reps)
            t_buddy, c_buddy = min(t_buddy, wall), min(c_buddy, cpu)
            wall, cpu = common.best_times(torch_call, reps)
            t_torch, c_torch = min(t_torch, wall), min(c_torch, cpu)
        ok = bool(np.allclose(out, ref, rtol=1e-3, atol=1e-3))
        nbytes = sum(x.nbytes for x in args) + out.nbytes
        rows.append({
            "name": name, "kind": "conv" if isinstance(spec, ConvSpec) else "pool",
            "spec": asdict(spec), "threads": threads,
            "buddy_s": t_buddy, "torch_s": t_torch, "loops_s": t_loops,
            "buddy_cpu_s": c_buddy, "torch_cpu_s": c_torch,
            "buddy_gflops": work / t_buddy / 1e9, "torch_gflops": work / t_torch / 1e9,
            "bytes": int(nbytes), "buddy_gbs": nbytes / t_buddy / 1e9,
            "matches_torch": ok,
        })
        print(f"[{threads}T] {name:32s} buddy {rows[-1]['buddy_gflops']:7.1f} G/s  torch "
              f"{rows[-1]['torch_gflops']:7.1f} G/s  ratio {t_torch / t_buddy:5.2f} (CPU time "
              f"{c_torch / c_buddy:5.2f})  vs loops {t_loops / t_buddy:6.1f}x", file=sys.stderr, flush=True)
    return {"peak_gflops": peak, "rows": rows}


def copy_bandwidth_gbs(nbytes: int) -> float:
    """numpy copy of an array of `nbytes`: (read + write bytes) / s, best of 20."""
    src = np.ones(nbytes // 4, dtype=np.float32)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(20):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.nbytes / best / 1e9


def run_worker(threads: int, names: list[str], args: argparse.Namespace, workdir: Path) -> dict:
    extra = ["--reps", str(args.reps), "--rounds", str(args.rounds),
             "--workdir", str(workdir / f"t{threads}"), "--names", json.dumps(names)]
    extra += ["--quick"] if args.quick else []
    return common.run_worker(__file__, threads, extra)


def render(report: dict) -> str:
    peak = report["practical_peak_gflops"]
    lines = [
        BEGIN,
        "## f32 convolution and pooling (`bench/bench_conv.py`)",
        "",
        f"Machine: {report['machine']}; {report['threads']} threads; torch {report['torch_version']}. "
        f"Command: `{report['command']}`.",
        "Batch 1, NCHW, padding included on both sides (Buddy: the frontend's padded copy; torch: "
        "`F.conv2d(padding=...)`). Times are the best of `reps` x `rounds` alternating calls. "
        f"Practical peak = torch's f32 GEMM in the same process: **{peak:.1f} GFLOP/s**; pooling "
        f"is memory-bound: its roofline fraction is (input + output bytes) / time over a numpy copy "
        f"of the same size ({report['pool_copy_gbs']:.1f} GB/s). \"vs loops\": speedup over the same "
        "pipeline with `conv-vectorize=0` (parallel scalar loops, the lowering before these passes). "
        "Last column: 1 thread, torch/Buddy CPU time. `dw` rows: MobileNetV2's depthwise 3x3 layers "
        "(groups = channels, Buddy's grouped NCHW kernel), 18 FLOPs per output element: far below the "
        "GEMM peak for both.",
        "",
        "| case | Buddy GFLOP/s | torch GFLOP/s | Buddy/torch | roofline fraction | vs loops "
        "| 1 thread: Buddy/torch (CPU time) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    one_t = {r["name"]: r for r in report.get("rows_1_thread", [])}
    for r in report["rows"]:
        o = one_t.get(r["name"])
        one_ratio = f"{o['torch_cpu_s'] / o['buddy_cpu_s']:.2f}" if o else "-"
        if r["kind"] == "conv":
            gf, tf = f"{r['buddy_gflops']:.1f}", f"{r['torch_gflops']:.1f}"
            frac = f"{r['buddy_gflops'] / peak:.0%} of peak"
        else:
            gf, tf = f"{r['buddy_gbs']:.1f} GB/s", f"{r['bytes'] / r['torch_s'] / 1e9:.1f} GB/s"
            frac = f"{r['buddy_gbs'] / report['pool_copy_gbs']:.0%} of copy BW"
        lines.append(f"| {r['name']} | {gf} | {tf} | {r['torch_s'] / r['buddy_s']:.2f} | {frac} | "
                     f"{r['loops_s'] / r['buddy_s']:.0f}x | {one_ratio} |")
    if report.get("note"):
        lines += ["", report["note"]]
    lines.append(END)
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller subset, 1024^3 GEMM peak (smoke run)")
    ap.add_argument("--reps", type=int, default=10, help="timed calls per round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating Buddy/torch rounds")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--note", default="", help="a sentence appended under the table (e.g. machine load)")
    ap.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--names", default="[]", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        res = worker(args.worker, json.loads(args.names), args.quick, args.reps, args.rounds,
                     Path(args.workdir))
        print(json.dumps(res))
        return

    import torch

    workdir = Path(tempfile.mkdtemp(prefix="buddy-bench-conv-"))
    all_names = [n for n, _ in cases(args.quick)]
    many = run_worker(args.threads, all_names, args, workdir)
    one = run_worker(1, all_names, args, workdir)
    pools = [r for r in many["rows"] if r["kind"] == "pool"]
    cmd = "python bench/bench_conv.py" + (" --quick" if args.quick else "")
    if args.reps != 10 or args.rounds != 3:
        cmd += f" --reps {args.reps} --rounds {args.rounds}"
    report = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "threads": args.threads,
        "torch_version": torch.__version__,
        "command": cmd,
        "practical_peak_gflops": many["peak_gflops"],
        "pool_copy_gbs": copy_bandwidth_gbs(pools[0]["bytes"] // 2) if pools else float("nan"),
        "note": args.note,
        "rows": many["rows"],
        "rows_1_thread": one["rows"],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "conv.json").write_text(json.dumps(report, indent=2) + "\n")
    common.write_section(DOC, BEGIN, END, render(report))
    print(render(report))
    bad = [r["name"] for r in many["rows"] + one["rows"] if not r["matches_torch"]]
    if bad:
        sys.exit(f"Buddy results differ from torch for: {bad}")


if __name__ == "__main__":
    main()
