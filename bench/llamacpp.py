"""llama.cpp as the benchmarks' peer: built once from the PyPI sdist `llama-cpp-python==0.3.36`, cached.

    python bench/llamacpp.py            # build (or find) it, print the folder of its binaries
    python bench/llamacpp.py --rebuild

The sdist carries llama.cpp in `vendor/llama.cpp`. It is configured with
`-DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF` (tests, server and examples off)
and the tools the benchmarks run are built: `llama-bench`, `llama-completion`, `llama-quantize`.
The result lives in `~/.cache/buddy/llamacpp/<version>/bin` (or `$BUDDY_LLAMACPP_CACHE`), with
a `build-info.json` recording the configure flags and the host CPU it was tuned for
(`GGML_NATIVE`: a copy built on another CPU is rebuilt). Nothing is downloaded but the sdist
from the package registry (`pip download`).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Dict, List

VERSION = "0.3.36"
TOOLS = ("llama-bench", "llama-completion", "llama-quantize")
FLAGS = ["-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=ON", "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF",
         "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DBUILD_SHARED_LIBS=OFF"]


def cache_root() -> Path:
    env = os.environ.get("BUDDY_LLAMACPP_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "buddy" / "llamacpp" / VERSION


def _cpu() -> str:
    """The host CPU's model name and SIMD flags (what GGML_NATIVE tunes for)."""
    info = Path("/proc/cpuinfo")
    if not info.is_file():
        return platform.processor() or platform.machine()
    model, flags = "", []
    for line in info.read_text().splitlines():
        k, _, v = line.partition(":")
        if k.strip() == "model name" and not model:
            model = v.strip()
        if k.strip() in ("flags", "Features") and not flags:
            flags = sorted(f for f in v.split() if f.startswith(("avx", "fma", "f16c", "asimd", "sve", "amx")))
    return f"{model} [{' '.join(flags)}]"


def _info() -> Dict[str, object]:
    return {"version": VERSION, "flags": FLAGS, "cpu": _cpu(), "tools": list(TOOLS)}


def _fetch_sdist(work: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                    f"llama-cpp-python=={VERSION}", "-d", str(work)], check=True)
    archives = sorted(work.glob(f"llama_cpp_python-{VERSION}.tar.gz")) + sorted(work.glob("llama*.tar.gz"))
    if not archives:
        raise FileNotFoundError(f"pip download left no llama-cpp-python {VERSION} sdist in {work}")
    with tarfile.open(archives[0]) as t:
        t.extractall(work, filter="data")
    src = next(work.glob("llama*cpp*python*/vendor/llama.cpp"), None)
    if src is None or not (src / "CMakeLists.txt").is_file():
        raise FileNotFoundError(f"the sdist {archives[0].name} has no vendor/llama.cpp")
    return src


def build(rebuild: bool = False, jobs: int = 0) -> Path:
    """The folder holding llama.cpp's TOOLS, building them first if the cache lacks them or was
    built for another CPU."""
    root = cache_root()
    bindir = root / "bin"
    stamp = root / "build-info.json"
    if not rebuild and stamp.is_file() and all((bindir / t).is_file() for t in TOOLS):
        if json.loads(stamp.read_text()) == _info():
            return bindir
        print(f"llamacpp: {root} was built for another CPU or with other flags: rebuilding", file=sys.stderr)
    cmake = shutil.which("cmake")
    if cmake is None:
        raise FileNotFoundError("cmake is not on PATH (needed to build llama.cpp)")
    jobs = jobs or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="buddy-llamacpp-") as tmp:
        work = Path(tmp)
        print(f"llamacpp: building llama.cpp from llama-cpp-python=={VERSION} (a few minutes per core)",
              file=sys.stderr, flush=True)
        src = _fetch_sdist(work)
        b = work / "build"
        gen: List[str] = ["-G", "Ninja"] if shutil.which("ninja") else []
        subprocess.run([cmake, "-S", str(src), "-B", str(b), *gen, *FLAGS], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([cmake, "--build", str(b), "-j", str(jobs), "--target", *TOOLS], check=True)
        bindir.mkdir(parents=True, exist_ok=True)
        for t in TOOLS:
            exe = b / "bin" / t
            if not exe.is_file():
                raise FileNotFoundError(f"llama.cpp's build made no {exe}")
            shutil.copy2(exe, bindir / t)
    stamp.write_text(json.dumps(_info(), indent=2) + "\n")
    return bindir


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("-j", "--jobs", type=int, default=0)
    a = ap.parse_args()
    print(build(a.rebuild, a.jobs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
