"""The user's path on the command line, for every target: `buddy compile model.py -o out -t T`
then `buddy run out -i x.npy --save res`, from a working directory outside the source tree,
must compute the user's model on its own weights and inputs (compared with torch eager).
Cross targets (aarch64-neon, riscv64-rvv) run under qemu-user; a test skips only when a tool
is missing, naming it. Also: `buddy compile -o DIR` never deletes a directory that is not
a Buddy artifact."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from support.user_cli import require_target as _require
from support.user_cli import run_buddy as _buddy
from support.user_cli import user_dir

torch = pytest.importorskip("torch")

TARGETS = ["host", "aarch64-neon", "riscv64-rvv"]

MODELS = {
    "linear_relu": '''
import torch

def build_model():
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(12, 7), torch.nn.ReLU()).eval()
    return model, (torch.zeros(3, 12),)
''',
    "conv": '''
import torch

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        return torch.relu(self.conv(x)) * 0.5

def build_model():
    torch.manual_seed(4)
    return Net().eval(), (torch.zeros(1, 3, 6, 5),)
''',
}
INPUT_SHAPES = {"linear_relu": (3, 12), "conv": (1, 3, 6, 5)}


def _reference(script: str, x: np.ndarray) -> np.ndarray:
    ns: dict = {}
    exec(script, ns)
    model, _ = ns["build_model"]()
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return user_dir(tmp_path)


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("target", TARGETS)
def test_compile_then_run_uses_the_models_weights_and_inputs(target, model, work):
    _require(target)
    (work / "model.py").write_text(MODELS[model])
    r = _buddy(work, "compile", "model.py", "-o", "out", "-t", target)
    assert r.returncode == 0, r.stderr
    assert (work / "out" / "weights.bwt").is_file()
    x = np.random.default_rng(7).standard_normal(INPUT_SHAPES[model]).astype(np.float32)
    np.save(work / "x.npy", x)
    r = _buddy(work, "run", "out", "-i", "x.npy", "--save", "res")
    assert r.returncode == 0, r.stderr
    assert "PATTERN" not in r.stderr + r.stdout
    names = json.loads((work / "res" / "outputs.json").read_text())
    got = np.load(work / "res" / f"{names[0]}.npy")
    want = _reference(MODELS[model], x)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert f"{names[0]}: float32{list(want.shape)}" in r.stdout


@pytest.mark.parametrize("target", ["host", "aarch64-neon"])
def test_run_checks_the_inputs(target, work):
    _require(target)
    (work / "model.py").write_text(MODELS["linear_relu"])
    assert _buddy(work, "compile", "model.py", "-o", "out", "-t", target).returncode == 0
    # No inputs: an error naming the input, not a run on made-up data.
    r = _buddy(work, "run", "out")
    assert r.returncode == 1 and "--inputs" in r.stderr and "float32" not in r.stdout
    assert "f32[3, 12]" in r.stderr
    # Wrong shape / dtype / count: errors naming the input and what it expects.
    np.save(work / "bad_shape.npy", np.zeros((3, 11), np.float32))
    r = _buddy(work, "run", "out", "-i", "bad_shape.npy")
    assert r.returncode == 1 and "expected f32[3, 12]" in r.stderr and "[3, 11]" in r.stderr
    np.save(work / "bad_dtype.npy", np.zeros((3, 12), np.float64))
    r = _buddy(work, "run", "out", "-i", "bad_dtype.npy")
    assert r.returncode == 1 and "float64" in r.stderr and "bad_dtype.npy" in r.stderr
    r = _buddy(work, "run", "out", "-i", "bad_dtype.npy", "bad_shape.npy")
    assert r.returncode == 1 and "takes 1 input" in r.stderr
    # The test pattern only when asked for, and said loudly.
    r = _buddy(work, "run", "out", "--pattern")
    assert r.returncode == 0, r.stderr
    assert "TEST PATTERN" in r.stderr


def test_compile_refuses_to_replace_a_directory_that_is_not_an_artifact(work):
    _require("host")
    (work / "model.py").write_text(MODELS["linear_relu"])
    (work / "notes.txt").write_text("mine\n")
    (work / "data").mkdir()
    (work / "data" / "keep.bin").write_bytes(b"\0" * 8)
    # `-o .` in a directory of the user's files, and `-o data`: refused, nothing deleted.
    for out in (".", "data"):
        r = _buddy(work, "compile", "model.py", "-o", out)
        assert r.returncode == 1, r.stdout
        assert "not a Buddy artifact" in r.stderr and "manifest.json" in r.stderr
    assert (work / "notes.txt").read_text() == "mine\n"
    assert (work / "data" / "keep.bin").is_file() and (work / "model.py").is_file()
    # A file where the directory should go: refused too.
    r = _buddy(work, "compile", "model.py", "-o", "notes.txt")
    assert r.returncode == 1 and "not a directory" in r.stderr
    # A new directory, then replacing that artifact (an old one's stray file goes): fine.
    assert _buddy(work, "compile", "model.py", "-o", "art").returncode == 0
    (work / "art" / "stale.txt").write_text("old artifact file\n")
    r = _buddy(work, "compile", "model.py", "-o", "art", "--no-cache")
    assert r.returncode == 0, r.stderr
    assert (work / "art" / "manifest.json").is_file() and not (work / "art" / "stale.txt").exists()
    # An empty directory is fine as well.
    (work / "empty").mkdir()
    assert _buddy(work, "compile", "model.py", "-o", "empty").returncode == 0
    assert (work / "empty" / "manifest.json").is_file()
