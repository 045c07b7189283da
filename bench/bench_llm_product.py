"""`buddy llama` / `buddy serve` as a user runs them, against llama.cpp in the same run.

    python bench/bench_llm_product.py [--llamacpp DIR] [--reps 3] [--skip-cold] [--skip-serve]

DIR holds llama.cpp's `llama-completion` and `llama-quantize`, built from the PyPI sdist of
`llama-cpp-python==0.3.36` (vendor/llama.cpp; `cmake -DCMAKE_BUILD_TYPE=Release
-DLLAMA_CURL=OFF -DGGML_NATIVE=ON`, targets llama-completion llama-quantize). The packaged
SmolLM2-135M Q4_1 file is converted to F32 with `llama-quantize --allow-requantize` (Buddy
runs it in fp32), once, next to the results cache.

Measured, each a whole command in a fresh process (wall time and the child's peak RSS from
wait4), runs of the two engines interleaved so that load on the machine hits both alike:
- warm `buddy llama --prompt P --max-new-tokens 64` (compile cache warm) against
  `llama-completion -m F32.gguf -p P -n 64` (and on the Q4_1 file, for reference);
- time to first token on a 5-token prompt (each engine's own report);
- a cold first run (empty compile cache);
- `buddy serve`: aggregate decode tok/s of 1 and of 4 concurrent streaming clients.
Writes bench/results/llm_product.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "The capital of France is"
NEW_TOKENS = 64


WRAPPER = r'''
import json, os, resource, subprocess, sys, time
t0 = time.perf_counter()
p = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
print(json.dumps({"wall_s": wall, "rss_mib": rss, "rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr}))
'''


def measured(cmd: List[str], env: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None,
             timeout: float = 900) -> Dict[str, Any]:
    """`cmd` run by a wrapper process that reports its wall time and peak RSS."""
    out = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True, env=env,
                         cwd=cwd, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"wrapper failed: {out.stderr[-2000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    if r["rc"] != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r['rc']}: {r['stderr'][-3000:]}")
    return r


def buddy_cmd(*args: str) -> List[str]:
    return [sys.executable, "-m", "buddy", "llama", *args]


def buddy_ttft_ms(stderr: str) -> Optional[float]:
    m = re.search(r"time to first token: ([0-9.]+) ms", stderr)
    return float(m.group(1)) if m else None


def llamacpp_ttft_ms(stderr: str) -> Optional[float]:
    # llama.cpp's perf report: "prompt eval time = X ms / N tokens"
    m = re.search(r"prompt eval time\s*=\s*([0-9.]+) ms", stderr)
    return float(m.group(1)) if m else None


def f32_gguf(llamacpp: Path, src: Path, cache: Path) -> Path:
    out = cache / "smollm2-f32.gguf"
    if not out.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".partial")
        subprocess.run([str(llamacpp / "llama-quantize"), "--allow-requantize", str(src), str(tmp), "F32"],
                       check=True, capture_output=True)
        tmp.rename(out)
    return out


def llamacpp_cmd(llamacpp: Path, model: Path, prompt: str, n: int) -> List[str]:
    return [str(llamacpp / "llama-completion"), "-m", str(model), "-p", prompt, "-n", str(n),
            "-t", "2", "--temp", "0", "-no-cnv", "--no-warmup"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_serve(env: Dict[str, str], cwd: Path) -> Dict[str, Any]:
    """Aggregate decode tok/s of 1 and 4 concurrent streaming clients of `buddy serve`."""
    from openai import OpenAI

    port = free_port()
    srv = subprocess.Popen([sys.executable, "-m", "buddy", "serve", "--port", str(port), "--max-len", "512",
                            "--quiet"], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0, timeout=600)
        deadline = time.time() + 600
        while True:  # bounded wait for readiness
            try:
                client.models.list()
                break
            except Exception:
                if time.time() > deadline or srv.poll() is not None:
                    raise RuntimeError("buddy serve did not come up")
                time.sleep(1)
        model = client.models.list().data[0].id

        def one(counts: List[int]) -> None:
            n = 0
            for chunk in client.completions.create(model=model, prompt=PROMPT, max_tokens=NEW_TOKENS,
                                                   temperature=0, stream=True,
                                                   extra_body={"ignore_eos": True}):
                if chunk.choices and chunk.choices[0].text:
                    n += 1
            counts.append(n)

        one([])  # warm-up: the prompt's prefill graph
        out: Dict[str, Any] = {}
        for clients in (1, 4):
            counts: List[int] = []
            threads = [threading.Thread(target=one, args=(counts,)) for _ in range(clients)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=900)
            dt = time.perf_counter() - t0
            out[f"{clients}_clients"] = {"tokens": sum(counts), "seconds": dt, "aggregate_tok_s": sum(counts) / dt}
        return out
    finally:
        srv.terminate()
        try:
            srv.wait(timeout=30)
        except subprocess.TimeoutExpired:
            srv.kill()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llamacpp", type=Path, help="folder with llama-completion, llama-quantize "
                    "(default: bench/llamacpp.py's cached build, made on first use)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--skip-cold", action="store_true")
    ap.add_argument("--skip-serve", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "llm_product.json")
    a = ap.parse_args()
    if a.llamacpp is None:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from llamacpp import build as build_llamacpp
        a.llamacpp = build_llamacpp()
    for tool in ("llama-completion", "llama-quantize"):
        if not (a.llamacpp / tool).is_file():
            print(f"bench_llm_product: {a.llamacpp / tool} not found (build llama.cpp from the "
                  "llama-cpp-python==0.3.36 sdist, see this file's docstring)", file=sys.stderr)
            return 2
    from buddy.llm.data import find_smollm2_gguf

    q41 = find_smollm2_gguf()
    work = Path(tempfile.mkdtemp(prefix="buddy-bench-"))
    cache = work / "cache"
    env = dict(os.environ, BUDDY_CACHE_DIR=str(cache))
    f32 = f32_gguf(a.llamacpp, q41, Path.home() / ".cache" / "buddy" / "bench")
    res: Dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
                           "cpus": os.cpu_count(), "prompt": PROMPT, "new_tokens": NEW_TOKENS, "runs": {}}
    buddy_args = ["--prompt", PROMPT, "--max-new-tokens", str(NEW_TOKENS), "--temperature", "0"]
    if not a.skip_cold:
        cold = measured(buddy_cmd(*buddy_args), env=env, cwd=work, timeout=1800)
        res["cold_first_run_s"] = cold["wall_s"]
        print(f"cold first run: {cold['wall_s']:.1f} s", flush=True)
    else:
        measured(buddy_cmd(*buddy_args), env=env, cwd=work, timeout=1800)  # warm the cache
    runs: Dict[str, List[Dict[str, Any]]] = {"buddy": [], "llamacpp-f32": [], "llamacpp-q4_1": []}
    for _ in range(a.reps):  # interleaved
        r = measured(buddy_cmd(*buddy_args), env=env, cwd=work)
        runs["buddy"].append({"wall_s": r["wall_s"], "rss_mib": r["rss_mib"], "ttft_ms": buddy_ttft_ms(r["stderr"])})
        for name, model in (("llamacpp-f32", f32), ("llamacpp-q4_1", q41)):
            r = measured(llamacpp_cmd(a.llamacpp, model, PROMPT, NEW_TOKENS), cwd=work)
            runs[name].append({"wall_s": r["wall_s"], "rss_mib": r["rss_mib"],
                               "ttft_ms": llamacpp_ttft_ms(r["stderr"])})
        print({k: v[-1] for k, v in runs.items()}, flush=True)
    res["runs"] = runs
    best = {k: min(v, key=lambda x: x["wall_s"]) for k, v in runs.items()}
    res["best"] = best
    res["warm_wall_ratio_vs_llamacpp_f32"] = best["buddy"]["wall_s"] / best["llamacpp-f32"]["wall_s"]
    if not a.skip_serve:
        res["serve"] = bench_serve(env, work)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps({k: v for k, v in res.items() if k != "runs"}, indent=1))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
