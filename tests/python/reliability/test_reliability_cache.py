"""A damaged, racing, read-only or bypassed compile cache, and damaged weight data.

Every case runs the public API (`buddy.compile`, `buddy compile`) in a fresh process, because
a damaged library can kill the process that maps it (SIGBUS): that is the defect under test.
Each case asserts the outcome: the right numbers (rebuilt entry) or an error naming the file.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Compiles a small model (with parameters, so the entry has a weight file) and checks it
# against eager; prints "OK <cache_hit>" on success.
WORKER = """
import sys, torch, buddy
torch.manual_seed(0)
m = torch.nn.Sequential(torch.nn.Linear(16, 24), torch.nn.ReLU(), torch.nn.Linear(24, 8)).eval()
x = torch.randn(4, 16)
mod = buddy.compile(m, (x,), use_cache={use_cache}, kernels=False, openmp=False)
torch.testing.assert_close(mod(x), m(x), rtol=1e-4, atol=1e-5)
print("OK", mod.cache_hit, mod.artifact_dir)
"""


def _run(cache: Path, cwd: Path, use_cache: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, BUDDY_CACHE_DIR=str(cache))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(WORKER.format(use_cache=use_cache))],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _ok(r: subprocess.CompletedProcess) -> tuple[bool, Path]:
    assert r.returncode == 0, f"rc={r.returncode}\n{r.stdout}\n{r.stderr[-3000:]}"
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("OK ")][-1]
    _, hit, path = line.split(" ", 2)
    return hit == "True", Path(path)


def _entries(cache: Path) -> list[Path]:
    return [p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")
            and p.name not in ("verified", "llm")]


def _leftovers(cache: Path) -> list[str]:
    return [p.name for p in cache.iterdir() if p.name.startswith((".tmp-", ".trash-"))]


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A cache holding one good entry of the worker's model; returns (cache, entry)."""
    cache = tmp_path_factory.mktemp("cache")
    hit, entry = _ok(_run(cache, cache.parent))
    assert not hit
    files = json.loads((entry / "manifest.json").read_text())["files"]
    assert {"libmodel.so", "model.o", "weights.bwt"} <= set(files), files
    return cache, entry


def _damage(path: Path, how: str) -> None:
    if how == "delete":
        path.unlink()
    elif how == "truncate":
        with open(path, "r+b") as f:
            f.truncate(max(0, path.stat().st_size // 2))
    elif how == "garble":  # same size, different bytes in the middle
        data = bytearray(path.read_bytes())
        mid = len(data) // 2
        data[mid:mid + 16] = bytes(b ^ 0xFF for b in data[mid:mid + 16])
        path.write_bytes(bytes(data))
    else:
        raise AssertionError(how)


CASES = [(f, how) for f in ("libmodel.so", "model.o", "weights.bwt", "manifest.json")
         for how in ("truncate", "delete", "garble")]


@pytest.mark.parametrize("name,how", CASES, ids=[f"{f}-{h}" for f, h in CASES])
def test_damaged_entry_is_rebuilt(tmp_path: Path, warm: tuple[Path, Path], name: str, how: str) -> None:
    import shutil

    cache = tmp_path / "cache"
    shutil.copytree(warm[0], cache)
    entry = cache / warm[1].name
    _damage(entry / name, how)
    r = _run(cache, tmp_path)
    hit, path = _ok(r)  # the right numbers, whatever was damaged
    assert not hit, f"a damaged entry ({name} {how}) was used:\n{r.stderr}"
    # a missing manifest leaves a directory that is no entry at all: replaced silently
    assert "damaged" in r.stderr or (name, how) == ("manifest.json", "delete"), r.stderr
    # healed: the next run is a plain hit
    hit2, _ = _ok(_run(cache, tmp_path))
    assert hit2
    assert _leftovers(cache) == []


def test_bit_flip_in_weights_is_reported(tmp_path: Path, warm: tuple[Path, Path]) -> None:
    """A flipped bit in the data of an artifact's weight file: loading it names the file."""
    import shutil

    art = tmp_path / "art"
    shutil.copytree(warm[1], art)
    _damage(art / "weights.bwt", "garble")
    code = f"""
import buddy, numpy as np
mod = buddy.load({str(art)!r})
mod(np.zeros((4, 16), np.float32))
"""
    env = dict(os.environ, BUDDY_CACHE_DIR=str(tmp_path / "c2"))
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert "weights.bwt" in r.stderr and "checksum" in r.stderr, r.stderr


def test_no_cache_leaves_no_trace(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    _ok(_run(cache, tmp_path, use_cache=False))
    assert list(cache.iterdir()) == []


def test_read_only_cache_still_compiles(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root ignores directory permissions; a read-only bind is not available here either
        ro = tmp_path / "file-not-dir"
        ro.write_text("")
        cache = ro / "cache"  # mkdir under a regular file fails like a read-only cache
    else:
        cache = tmp_path / "cache"
        cache.mkdir()
        cache.chmod(stat.S_IRUSR | stat.S_IXUSR)
    for use_cache in (True, False):
        r = _run(cache, tmp_path, use_cache=use_cache)
        hit, _ = _ok(r)
        assert not hit
    if cache.exists():
        assert list(cache.iterdir()) == []


def test_concurrent_compiles_share_one_entry(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    env = dict(os.environ, BUDDY_CACHE_DIR=str(cache))
    code = textwrap.dedent(WORKER.format(use_cache=True))
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        assert "OK" in out
    assert len(_entries(cache)) == 1
    assert _leftovers(cache) == []
