"""Bad command-line values and a broken toolchain: a clear error naming the flag or the tool,
before anything is loaded or compiled (the cache directory is never even created), and
never a traceback. Each case runs the installed `buddy` command in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def _buddy(args: list[str], tmp: Path, **env: str) -> subprocess.CompletedProcess:
    e = dict(os.environ, BUDDY_CACHE_DIR=str(tmp / "cache"), **env)
    return subprocess.run([sys.executable, "-m", "buddy", *args], cwd=tmp, env=e,
                          capture_output=True, text=True, timeout=300)


LLAMA_BAD = [
    (["--target", "bogus"], "argument --target: unknown target 'bogus'"),
    (["--max-len", "1"], "argument --max-len: must be in [2,"),
    (["--max-len", "x"], "argument --max-len: expected an integer, got 'x'"),
    (["--max-new-tokens", "0"], "argument --max-new-tokens: must be >= 1, got 0"),
    (["--prompt="], "argument --prompt: must not be empty"),
    (["--stop="], "argument --stop: must not be empty"),
    (["--temperature", "-1"], "argument --temperature: must be >= 0"),
    (["--temperature", "nan"], "argument --temperature: must be >= 0, got nan"),
    (["--top-k", "-3"], "argument --top-k: must be >= 0"),
    (["--top-p", "0"], "argument --top-p: must be in (0, 1], got 0"),
    (["--top-p", "1.5"], "argument --top-p: must be in (0, 1]"),
    (["--seed", "-1"], "argument --seed: must be in [0,"),
    (["--model", "/no/such/model.gguf"], "argument --model: /no/such/model.gguf: no such file"),
    (["--engine", "fast"], "argument --engine: invalid choice: 'fast'"),
]


@pytest.mark.parametrize("args,message", LLAMA_BAD, ids=[" ".join(a) for a, _ in LLAMA_BAD])
def test_llama_rejects_bad_values_before_loading(tmp_path: Path, args: list[str], message: str) -> None:
    r = _buddy(["llama", *args], tmp_path)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "cache").exists(), "a model was loaded before the arguments were checked"


def test_llama_max_len_shorter_than_prompt_fails_before_compiling(tmp_path: Path) -> None:
    from buddy.llm.data import find_smollm2_gguf

    try:
        model = find_smollm2_gguf()
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"SmolLM2 GGUF not installed ({e}); scripts/fetch_test_data.sh installs it")
    r = _buddy(["llama", "--model", str(model), "--max-len", "3",
                "--prompt", "The capital of France is"], tmp_path)
    assert r.returncode == 1, r.stderr
    assert "--max-len 3 leaves no room for new tokens: the prompt is" in r.stderr, r.stderr
    assert not (tmp_path / "cache").exists(), "the model was compiled before the check"


MODEL = textwrap.dedent("""
    import torch
    def build_model():
        torch.manual_seed(0)
        return torch.nn.Linear(4, 3), (torch.randn(2, 4),)
""")


@pytest.mark.parametrize("args,message", [
    (["-t", "bogus"], "argument -t/--target: unknown target 'bogus'"),
    (["-O", "7"], "argument -O/--opt-level: must be in [0, 3], got 7"),
    (["--num-params", "-1"], "argument --num-params: must be >= 0"),
], ids=["target", "opt-level", "num-params"])
def test_compile_rejects_bad_values(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "m.py").write_text(MODEL)
    r = _buddy(["compile", "m.py", "-o", "out", *args], tmp_path)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


def test_broken_buddy_opt_is_named_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(MODEL)
    r = _buddy(["compile", "m.py", "-o", "out"], tmp_path, BUDDY_OPT=str(tmp_path / "nope"))
    assert r.returncode == 1, r.stderr
    assert f"$BUDDY_OPT={tmp_path / 'nope'} is not an executable file" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    d = _buddy(["doctor"], tmp_path, BUDDY_OPT=str(tmp_path / "nope"))
    assert d.returncode == 1 and "Traceback" not in d.stderr, d.stderr
    assert "[MISSING] buddy-opt: $BUDDY_OPT=" in d.stdout, d.stdout


def test_cached_model_runs_without_a_c_compiler(tmp_path: Path) -> None:
    """A cache hit needs no host compiler (only a miss links); a miss names the missing cc."""
    (tmp_path / "m.py").write_text(MODEL)
    assert _buddy(["compile", "m.py", "-o", "out"], tmp_path).returncode == 0
    no_cc = os.pathsep.join([str(Path(sys.executable).parent), str(tmp_path / "empty")])
    r = _buddy(["compile", "m.py", "-o", "out2"], tmp_path, PATH=no_cc)
    assert r.returncode == 0 and "cached" in r.stdout, r.stderr
    (tmp_path / "m2.py").write_text(MODEL.replace("Linear(4, 3)", "Linear(4, 5)"))
    r = _buddy(["compile", "m2.py", "-o", "out3"], tmp_path, PATH=no_cc)
    assert r.returncode == 1 and "cc not found. Install it with" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("kind", ["empty", "libm"])
def test_wrong_libomp_is_refused_and_nothing_is_cached(tmp_path: Path, kind: str) -> None:
    import ctypes.util

    if kind == "empty":
        lib = tmp_path / "libomp.so"
        lib.write_bytes(b"")
        why = "is not an ELF shared library"
    else:
        name = ctypes.util.find_library("m")
        found = [p for p in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
                             "/usr/lib64", "/lib64") if name and (Path(p) / name).exists()]
        if not found:
            pytest.skip("no libm.so.6 found to pass as a wrong libomp")
        lib = Path(found[0]) / str(name)
        why = "does not export __kmpc_fork_call"
    (tmp_path / "m.py").write_text(MODEL)
    r = _buddy(["compile", "m.py", "-o", "out"], tmp_path, BUDDY_LIBOMP=str(lib))
    assert r.returncode == 1 and f"BUDDY_LIBOMP={lib} is not usable" in r.stderr and why in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    cache = tmp_path / "cache"
    assert not cache.exists() or not [p for p in cache.iterdir() if (p / "manifest.json").exists()]
    d = _buddy(["doctor"], tmp_path, BUDDY_LIBOMP=str(lib))
    assert "[missing] OpenMP runtime (libomp): BUDDY_LIBOMP=" in d.stdout and "Traceback" not in d.stderr, d.stdout
