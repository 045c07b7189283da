"""`torch.compile(model, backend="buddy")` on each tiny model family of issue 16, as a user runs
it: a fresh Python process, a working directory outside the source tree, nothing imported
before the script (the backend is found through its entry point). The script is the source of
support/model_families.py (torch and transformers only) followed by the lines below."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import model_families as fam

SOURCE_TREE = Path(__file__).resolve().parents[3]

SCRIPT = """
import json
model, inputs = FAMILIES[{family!r}]()
with torch.no_grad():
    want = model(*inputs)
    got = torch.compile(model, backend="buddy")(*inputs)
assert type(got) is type(want), (type(got), type(want))
assert_matches_eager(got, want)
print("RESULT", json.dumps({{"max_scaled_error": max_scaled_error(got, want)}}))
"""


@pytest.mark.parametrize("family", list(fam.FAMILIES))
def test_torch_compile_in_a_fresh_process(family: str, tmp_path: Path) -> None:
    pytest.importorskip(fam.PACKAGE[family])
    work = tmp_path / "user"
    work.mkdir()
    assert SOURCE_TREE not in work.resolve().parents
    code = Path(fam.__file__).read_text() + SCRIPT.format(family=family)
    cache = tmp_path / "cache"
    proc = subprocess.run([sys.executable, "-c", code], cwd=work, env=dict(os.environ, BUDDY_CACHE_DIR=str(cache)),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "RESULT" in proc.stdout, proc.stderr[-4000:]
    err = json.loads(proc.stdout.split("RESULT", 1)[1])["max_scaled_error"]
    assert err < fam.RTOL
    manifests = [json.loads(p.read_text()) for p in cache.rglob("manifest.json")]
    assert manifests, f"torch.compile compiled nothing into {cache} (did the backend run?)"
    for m in manifests:
        flags = " ".join(" ".join(stage) for stage in m["pipeline"]["buddy-opt"])
        assert "--buddy-cpu-pipeline" in flags and "kernels=1" in flags, flags
