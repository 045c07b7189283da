"""`torch.compile(model, backend="buddy")` through the AOT backend: results match eager, the
library lands in the content-addressed cache, and a new process reuses it without compiling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from support import model_zoo as zoo  # noqa: E402

from buddy import dynamo  # noqa: E402

# One run of torch.compile in a fresh interpreter; prints the backend's stats and the max error.
SCRIPT = textwrap.dedent("""
    import json, sys, time
    t0 = time.perf_counter()
    import torch
    sys.path.insert(0, {tests!r})
    from support import model_zoo as zoo
    from buddy import dynamo
    m = zoo.small_cnn()
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = m(x)
        t1 = time.perf_counter()
        got = torch.compile(m, backend="buddy")(x)
        t2 = time.perf_counter()
    print(json.dumps({{"stats": dynamo.STATS, "err": float((got - want).abs().max()),
                      "first_call_s": t2 - t1, "process_s": t2 - t0}}))
""")


def _run_in_new_process(cache: Path) -> dict:
    env = dict(os.environ, BUDDY_CACHE_DIR=str(cache))
    proc = subprocess.run([sys.executable, "-c", SCRIPT.format(tests=str(Path(__file__).resolve().parents[1]))],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_second_process_reuses_the_cached_library(tmp_path):
    cache = tmp_path / "cache"
    cold = _run_in_new_process(cache)
    assert cold["stats"]["aot_compiled"] >= 1 and cold["stats"]["aot_cache_hits"] == 0
    assert cold["stats"]["jit_compiled"] == 0
    assert cold["err"] < 1e-4
    entries = [p for p in cache.iterdir() if (p / "manifest.json").is_file()]
    assert len(entries) == cold["stats"]["aot_compiled"]
    assert all((p / "libmodel.so").is_file() for p in entries)
    # The Dynamo path passes the live weights: no weight file in the cache.
    assert all(json.loads((p / "manifest.json").read_text())["weights"] is None for p in entries)
    mtimes = {p: (p / "libmodel.so").stat().st_mtime_ns for p in entries}

    warm = _run_in_new_process(cache)
    assert warm["stats"]["aot_compiled"] == 0
    assert warm["stats"]["aot_cache_hits"] == cold["stats"]["aot_compiled"]
    assert warm["err"] < 1e-4
    assert {p: (p / "libmodel.so").stat().st_mtime_ns for p in entries} == mtimes
    print(f"\ncold first call {cold['first_call_s']:.2f}s (process {cold['process_s']:.2f}s), "
          f"cached {warm['first_call_s']:.2f}s (process {warm['process_s']:.2f}s)")


def _fresh(fn):
    torch._dynamo.reset()
    return fn


@pytest.mark.parametrize("runtime", ["aot", "jit"])
def test_runtime_option_picks_the_aot_library_or_the_jit(runtime, tmp_path):
    torch.manual_seed(0)
    m = zoo.GQAAttention().eval()
    x = torch.randn(2, 6, 32)
    before = dict(dynamo.STATS)
    compiled = _fresh(torch.compile)(m, backend="buddy",
                                     options={"runtime": runtime, "cache_dir": str(tmp_path)})
    with torch.no_grad():
        zoo.close([compiled(x)], [m(x)])
    delta = {k: dynamo.STATS[k] - before[k] for k in before}
    if runtime == "aot":
        assert delta["aot_compiled"] >= 1 and delta["jit_compiled"] == 0
        assert any((p / "libmodel.so").is_file() for p in tmp_path.iterdir())
    else:
        assert delta["jit_compiled"] >= 1 and delta["aot_compiled"] == 0
        assert not list(tmp_path.iterdir())


def test_weights_are_read_live_not_from_the_cache(tmp_path):
    """Same graph, new weights: the cached library is reused and computes with the new weights."""
    torch.manual_seed(0)
    m = zoo.GQAAttention().eval()
    x = torch.randn(2, 6, 32)
    opts = {"cache_dir": str(tmp_path)}
    with torch.no_grad():
        _fresh(torch.compile)(m, backend="buddy", options=opts)(x)
        for p in m.parameters():
            p.mul_(-0.5)
        before = dict(dynamo.STATS)
        got = _fresh(torch.compile)(m, backend="buddy", options=opts)(x)
        zoo.close([got], [m(x)])
    assert dynamo.STATS["aot_cache_hits"] - before["aot_cache_hits"] >= 1
    assert dynamo.STATS["aot_compiled"] == before["aot_compiled"]


def test_unknown_runtime_is_rejected():
    with pytest.raises(ValueError, match="runtime must be one of"):
        dynamo.BuddyCompiled(torch.fx.symbolic_trace(torch.nn.ReLU()), options={"runtime": "gpu"})
