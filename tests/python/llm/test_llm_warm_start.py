"""Warm start of the compiled LLM (`buddy llama` / `Generator.from_model`), asserted by what
the process did, not by how long it took: on a cache hit no eager model is built, no weight
is dequantized, and neither the Python GGUF reader nor transformers is imported; and the
cache holds ONE weight file for the model, shared by decode and every prefill bucket.

Every run is a fresh process started outside the source tree, as a user would start it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from buddy.llm.data import find_smollm2_gguf

PROMPT = "The capital of France is"
MAX_LEN = 64

# Counts what a Generator.from_model + generate run touched. The counting wrappers are put
# on the classes/functions a cold start must call; a warm start must call none of them.
PROBE = r'''
import json, sys
import buddy.llm.gguf_loader as gl
import buddy.llm.model as lm
from buddy.llm import Generator, SamplingConfig

counts = {"models_built": 0, "tensors_dequantized": 0}
_init = lm.LlamaStatic.__init__
def counting_init(self, *a, **k):
    counts["models_built"] += 1
    _init(self, *a, **k)
lm.LlamaStatic.__init__ = counting_init
_deq = gl.dequantize
def counting_dequantize(*a, **k):
    counts["tensors_dequantized"] += 1
    return _deq(*a, **k)
gl.dequantize = counting_dequantize

path, max_len, prompt, buckets = sys.argv[1], int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
gen = Generator.from_model(path, max_len=max_len, progress=False)
for b in buckets:
    gen.runner.prepare(b)
res = gen.generate_text(prompt, SamplingConfig(max_new_tokens=6, temperature=0.0))
counts["text"] = res.text
counts["gguf_imported"] = "gguf" in sys.modules
counts["transformers_imported"] = "transformers" in sys.modules
counts["frontend_imported"] = "buddy.frontend" in sys.modules
print("PROBE " + json.dumps(counts))
'''


def _probe(cache: Path, cwd: Path, buckets: list[int]) -> dict:
    env = {**os.environ, "BUDDY_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", PROBE, str(find_smollm2_gguf()), str(MAX_LEN), PROMPT,
                          json.dumps(buckets)],
                         capture_output=True, text=True, cwd=cwd, env=env, timeout=1200)
    assert out.returncode == 0, out.stderr[-4000:]
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("PROBE ")]
    assert line, out.stdout[-2000:]
    return json.loads(line[-1][len("PROBE "):])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    try:
        find_smollm2_gguf()
    except FileNotFoundError as e:
        pytest.skip(str(e))
    cache = tmp_path_factory.mktemp("warm-cache")
    cwd = tmp_path_factory.mktemp("user-dir")
    cold = _probe(cache, cwd, [8, 16])   # decode + two prefill buckets
    warm = _probe(cache, cwd, [8, 16])
    return cache, cold, warm


def test_cold_start_builds_the_model_once(runs):
    _, cold, _ = runs
    assert cold["models_built"] == 1
    assert cold["tensors_dequantized"] > 0
    assert cold["text"].startswith(" Paris"), cold["text"]


def test_warm_start_builds_no_model_and_reads_no_vocabulary_in_python(runs):
    _, cold, warm = runs
    assert warm["models_built"] == 0
    assert warm["tensors_dequantized"] == 0
    assert not warm["gguf_imported"], "the Python GGUF reader (which walks the vocabulary) was imported"
    assert not warm["transformers_imported"]
    assert not warm["frontend_imported"], "a warm start needs no importer"
    assert warm["text"] == cold["text"]


def test_cache_holds_one_weight_file_for_the_model(runs):
    cache, _, _ = runs
    weight_files = sorted(p.relative_to(cache) for p in cache.rglob("*.bwt"))
    assert len(weight_files) == 1, weight_files  # decode + 2 prefill buckets share it
    manifests = [json.loads(p.read_text()) for p in cache.rglob("manifest.json")]
    assert len(manifests) >= 3
    assert all(m["weights"] is None for m in manifests), "an artifact embeds its own weights"


def test_a_new_bucket_on_a_warm_cache_loads_the_model_then(runs, tmp_path):
    cache, cold, _ = runs
    again = _probe(cache, tmp_path, [8, 16, 12])  # 12 is not compiled yet (32 is the prompt's bucket)
    assert again["models_built"] == 1
    assert again["text"] == cold["text"]
    assert len(list(cache.rglob("*.bwt"))) == 1


def test_damaged_weight_file_is_rewritten_on_the_warm_path(runs, tmp_path):
    cache, cold, _ = runs
    (wf,) = cache.rglob("*.bwt")
    data = bytearray(wf.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the tensor data
    wf.write_bytes(bytes(data))
    fixed = _probe(cache, tmp_path, [8, 16])
    assert fixed["text"] == cold["text"]
    assert fixed["models_built"] == 1  # the model was needed to write the file again
    clean = _probe(cache, tmp_path, [8, 16])
    assert clean["models_built"] == 0
