"""Backend: hand-written tensor-level MLIR -> .so for x86 targets, called
through the packed ABI (buddy._runtime.Function) and compared with NumPy."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import buddy
from buddy import toolchain
from buddy.backend import cdriver, targets
from buddy.backend.abi import ArgSpec
from buddy.backend.pipeline import CompileError

from support.backend_kernels import KERNELS, LINEAR_TANH, check_outputs  # noqa: E402

X86 = ["x86-avx512", "x86-avx2"]


def _cpu_has(flags: set[str]) -> bool:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return flags <= set(text.split())


def _skip_unless_runs(target: str) -> None:
    need = {"x86-avx512": {"avx512f", "avx512bw", "avx512dq", "avx512vl"},
            "x86-avx2": {"avx2", "fma"}}[target]
    if not _cpu_has(need):
        pytest.skip(f"this CPU lacks {sorted(need)}: cannot run {target} code")


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def _random_args(signature: list[ArgSpec], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for s in signature:
        if s.role == "output":
            continue
        if s.dtype == "f32":
            out.append(rng.standard_normal(s.shape).astype(np.float32))
        else:
            out.append(rng.integers(-1000, 1000, s.shape).astype(np.int32))
    return out


@pytest.mark.parametrize("openmp", [False, True], ids=["serial", "openmp"])
@pytest.mark.parametrize("kernel", KERNELS, ids=[k.name for k in KERNELS])
@pytest.mark.parametrize("target", X86)
def test_compile_and_run_against_numpy(target, kernel, openmp, cache):
    _skip_unless_runs(target)
    if openmp:
        try:
            toolchain.find_libomp()
        except toolchain.ToolNotFound as e:
            pytest.skip(str(e))
    m = buddy.compile(kernel.mlir, target=target, num_params=kernel.num_params, openmp=openmp,
                      cache_dir=cache, progress=False)
    args = _random_args(m.signature)
    params = {s.name: a for s, a in zip(m.signature, args) if s.role == "param"}
    m = buddy.load(m.artifact_dir, params=params)
    out = m(*args[kernel.num_params:])
    check_outputs(kernel, out if isinstance(out, tuple) else (out,), args)
    assert m.manifest["target"]["name"] == target
    assert m.manifest["pipeline"]["openmp"] is openmp


def test_progress_bar_counts_every_stage(tmp_path):
    lines: list[str] = []
    buddy.compile(LINEAR_TANH, target="x86-avx2", num_params=1, artifact_dir=tmp_path / "art",
                  progress=lines.append, use_cache=False)
    bars = [ln for ln in lines if ln.startswith("[")]
    total = int(bars[-1].split("]")[1].split("/")[1].split()[0])
    assert [int(b.split("]")[1].split("/")[0]) for b in bars] == list(range(1, total + 1))
    assert bars[-1].startswith("[##########]") and bars[-1].split()[2] == "llc"


def test_artifact_holds_every_stage_and_manifest(tmp_path):
    art = tmp_path / "art"
    # openmp explicit: its default depends on whether this machine has a libomp.
    m = buddy.compile(LINEAR_TANH, target="x86-avx2", num_params=1, artifact_dir=art,
                      openmp=True, progress=False)
    assert m.artifact_dir == art
    for name in ("0-input.mlir", "2-llvm.mlir", "3-module.ll", "4-opt.ll",
                 "model.o", "libmodel.so", "manifest.json"):
        assert (art / name).is_file(), name
    manifest = json.loads((art / "manifest.json").read_text())
    assert manifest["version"] == 2 and manifest["symbol"] == "_buddy_forward"
    assert {"libmodel.so", "model.o", "0-input.mlir"} <= set(manifest["files"])
    assert [(a["role"], a["dtype"], a["shape"]) for a in manifest["signature"]] == [
        ("param", "f32", [16, 8]), ("input", "f32", [4, 8]),
        ("output", "f32", [4, 16]), ("output", "f32", [4, 8])]
    assert "-mcpu=x86-64-v3" in manifest["pipeline"]["llc"]
    # Outputs are caller-allocated out-params; the packed wrapper is exported.
    # One buddy-opt invocation: the named pipeline (its pass list lives in C++ only).
    assert manifest["pipeline"]["buddy-opt"] == [[
        "cpu-pipeline", "--buddy-cpu-pipeline=target=avx2 kernels=1 parallel-loops=1 from-tosa=0"]]
    assert "llvm.func @_buddy_forward(%arg0: !llvm.ptr)" in (art / "2-llvm.mlir").read_text()
    nm = subprocess.run(["nm", "-D", "--defined-only", str(art / "libmodel.so")],
                        capture_output=True, text=True, check=True).stdout
    assert " T _buddy_forward" in nm


def test_avx512_code_uses_zmm_registers(tmp_path):
    fma = next(k for k in KERNELS if k.name == "fma")
    m = buddy.compile(fma.mlir, target="x86-avx512", artifact_dir=tmp_path / "a", progress=False,
                      openmp=False)
    dis = subprocess.run([str(toolchain.find_tool("llvm-objdump")), "-d", str(m.object_file)],
                         capture_output=True, text=True, check=True).stdout
    assert "%zmm" in dis and "vfmadd" in dis
    m2 = buddy.compile(fma.mlir, target="x86-avx2", artifact_dir=tmp_path / "b", progress=False,
                       openmp=False)
    dis2 = subprocess.run([str(toolchain.find_tool("llvm-objdump")), "-d", str(m2.object_file)],
                          capture_output=True, text=True, check=True).stdout
    assert "%ymm" in dis2 and "%zmm" not in dis2


_CHILD = textwrap.dedent("""
    import json, sys, time
    import numpy as np, buddy
    t0 = time.perf_counter()
    m = buddy.compile(open(sys.argv[1]).read(), target="x86-avx2", num_params=1,
                      cache_dir=sys.argv[2], progress=False, openmp=False)
    seconds = time.perf_counter() - t0
    w = np.arange(128, dtype=np.float32).reshape(16, 8) / 100
    x = np.ones((4, 8), np.float32)
    y, t = buddy.load(m.artifact_dir, params={"arg0": w})(x)
    print(json.dumps({"hit": m.cache_hit, "seconds": seconds, "dir": str(m.artifact_dir),
                      "err": float(np.abs(y - x @ w.T).max())}))
""")


def test_cache_hit_in_a_new_process(tmp_path, cache):
    src = tmp_path / "k.mlir"
    src.write_text(LINEAR_TANH)
    runs = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", _CHILD, str(src), str(cache)],
                             capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    cold, warm = runs
    assert cold["hit"] is False and warm["hit"] is True
    assert cold["dir"] == warm["dir"]
    assert cold["err"] < 1e-5 and warm["err"] < 1e-5
    # Reported, not asserted (timing): see the backend report for measurements.
    print(f"cold compile {cold['seconds']:.3f}s, cache hit {warm['seconds']:.3f}s "
          f"({cold['seconds'] / warm['seconds']:.1f}x)")
    # A different opt level is a different entry.
    m = buddy.compile(LINEAR_TANH, target="x86-avx2", num_params=1, cache_dir=cache,
                      progress=False, openmp=False, opt_level=1)
    assert not m.cache_hit and str(m.artifact_dir) != cold["dir"]


def test_wrong_inputs_raise_clear_errors(cache):
    fma = next(k for k in KERNELS if k.name == "fma")
    m = buddy.compile(fma.mlir, target="x86-avx2", cache_dir=cache, progress=False)
    x = np.zeros((32, 64), np.float32)
    with pytest.raises(ValueError, match=r"'arg1'\): expected shape 32x64, got 64x32"):
        m(x, x.T.copy(), x)
    with pytest.raises(TypeError, match="expected dtype f32"):
        m(x, x.astype(np.float64), x)
    with pytest.raises(TypeError, match="takes 3 inputs"):
        m(x)


def test_invalid_mlir_is_rejected_naming_the_fault(cache):
    bad = LINEAR_TANH.replace("tensor<8x16xf32>) outs(%acc", "tensor<8x17xf32>) outs(%acc")
    with pytest.raises(Exception, match="8x17"):
        buddy.compile(bad, target="x86-avx2", num_params=1, cache_dir=cache, progress=False)
    # An op no dialect defines is reported by name.
    unbufferizable = """
    func.func @forward(%x: tensor<4xf32>) -> tensor<4xf32> {
      %r = "test.unknown_op"(%x) : (tensor<4xf32>) -> tensor<4xf32>
      return %r : tensor<4xf32>
    }"""
    with pytest.raises(Exception, match="test.unknown_op|unregistered"):
        buddy.compile(unbufferizable, target="x86-avx2", cache_dir=cache, progress=False)


def test_pipeline_failure_is_a_compile_error(tmp_path, monkeypatch):
    # Dynamic shapes are outside the ABI: rejected before any tool runs...
    with pytest.raises(ValueError, match="dynamic shape"):
        buddy.compile("func.func @forward(%x: tensor<?xf32>) -> tensor<?xf32> {\n"
                      "  return %x : tensor<?xf32>\n}", target="x86-avx2", progress=False,
                      cache_dir=tmp_path)
    # ...and a stage that fails reports itself.
    monkeypatch.setenv("BUDDY_OPT", "/bin/false")
    toolchain.find_tool.cache_clear()
    try:
        with pytest.raises(CompileError, match="stage 'cpu-pipeline' failed on .*0-input.mlir"):
            buddy.compile(LINEAR_TANH, target="x86-avx2", num_params=1, progress=False,
                          cache_dir=tmp_path)
    finally:
        monkeypatch.delenv("BUDDY_OPT")
        toolchain.find_tool.cache_clear()


def test_host_detection(tmp_path):
    amd = tmp_path / "amd"
    amd.write_text("vendor_id\t: AuthenticAMD\nflags\t\t: fpu sse avx2 fma avx512f avx512bw "
                   "avx512dq avx512vl\n")
    t = targets.detect_host(str(amd))
    assert (t.name, t.cpu, t.vector_bits) == ("host", "znver4", 512)
    old = tmp_path / "old"
    old.write_text("vendor_id\t: GenuineIntel\nflags\t\t: fpu sse sse2 avx avx2 fma\n")
    t = targets.detect_host(str(old))
    assert (t.cpu, t.vector_bits, t.features) == ("x86-64-v3", 256, "+avx2,+fma,+f16c")
    with pytest.raises(ValueError, match="known targets: host, x86-avx2, x86-avx512"):
        targets.get_target("sparc-vis")


def test_missing_tools_name_their_package():
    no_cc = dataclasses.replace(targets.TARGETS["aarch64-neon"], cc="aarch64-no-such-gcc")
    with pytest.raises(toolchain.ToolNotFound, match="aarch64-no-such-gcc not found"):
        targets.check_tools(no_cc)
    # The pip llc has no RISC-V backend: say which package has one.
    pip_llc = dataclasses.replace(targets.TARGETS["riscv64-rvv"], llc="llc")
    with pytest.raises(toolchain.ToolNotFound, match="no riscv64 backend.*apt-get install llvm-22"):
        targets.check_tools(pip_llc, link=False)


def test_host_driver_executable_matches_library(tmp_path):
    """The generated C driver (used for cross targets) also runs natively."""
    kernel = next(k for k in KERNELS if k.name == "softmax_sum_i32")
    m = buddy.compile(kernel.mlir, target="x86-avx2", artifact_dir=tmp_path / "a",
                      progress=False, openmp=False)
    exe = cdriver.build_executable(m.object_file, m.signature, tmp_path / "drv", "x86-avx2")
    out = cdriver.parse_outputs(cdriver.run_executable(exe, "x86-avx2"), m.signature)
    args = cdriver.driver_inputs(m.signature)
    check_outputs(kernel, out, args)
    lib_out = m(*args)
    for a, b in zip(out, lib_out):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def _buddy(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "buddy", *args], capture_output=True, text=True,
                          env=env)


def test_cli_compile_and_run(tmp_path):
    src = tmp_path / "linear.mlir"
    src.write_text(LINEAR_TANH)
    env = {**os.environ, "BUDDY_CACHE_DIR": str(tmp_path / "cache")}
    help_text = _buddy("compile", "--help", env=env).stdout
    for name in ("host", "x86-avx2", "x86-avx512", "aarch64-neon", "riscv64-rvv", "qemu"):
        assert name in help_text
    art = tmp_path / "art"
    r = _buddy("compile", str(src), "--num-params", "1", "-t", "x86-avx2", "-o", str(art), env=env)
    assert r.returncode == 0, r.stderr
    assert "cpu-pipeline" in r.stderr and "llc" in r.stderr  # one progress line per stage
    r = _buddy("run", str(art), "--save", str(tmp_path / "out"), env=env)
    assert r.returncode == 1 and "no weight file" in r.stderr and "--pattern" in r.stderr
    r = _buddy("run", str(art), "--pattern", "--save", str(tmp_path / "out"), env=env)
    assert r.returncode == 0, r.stderr
    assert "TEST PATTERN" in r.stderr
    assert "out0: float32[4, 16]" in r.stdout
    w, x = cdriver.driver_inputs(buddy.load(art).signature)
    np.testing.assert_allclose(np.load(tmp_path / "out" / "out0.npy"), x @ w.T, rtol=1e-5,
                               atol=1e-5)
    r = _buddy("compile", str(tmp_path / "missing.mlir"), "-o", str(art), env=env)
    assert r.returncode == 1 and "not found" in r.stderr


TOSA_ADD_TANH = """
func.func @forward(%a: tensor<4x8xf32>, %b: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = tosa.add %a, %b : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %1 = tosa.tanh %0 : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return %1 : tensor<4x8xf32>
}
"""


def test_tosa_input_is_lowered_to_linalg_first(tmp_path):
    m = buddy.compile(TOSA_ADD_TANH, target="x86-avx2", artifact_dir=tmp_path / "a",
                      progress=False)
    assert "from-tosa=1" in m.manifest["pipeline"]["buddy-opt"][0][1]
    a, b = _random_args(m.signature)
    np.testing.assert_allclose(m(a, b), np.tanh(a + b), rtol=1e-5, atol=1e-6)


def test_torch_model_through_the_frontend(cache):
    torch = pytest.importorskip("torch")
    from buddy.frontend import import_model

    class MLP(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.l1 = torch.nn.Linear(8, 16)
            self.l2 = torch.nn.Linear(16, 4)

        def forward(self, x):
            return torch.softmax(self.l2(torch.relu(self.l1(x))), -1)

    torch.manual_seed(0)
    model = MLP().eval()
    x = torch.randn(3, 8)
    graph = import_model(model, (x,))
    m = buddy.compile(graph, target="host", cache_dir=cache, progress=False)
    roles = [s.role for s in m.signature]
    assert roles == ["param"] * 4 + ["input", "output"]
    with torch.no_grad():
        want = model(x).numpy()
    np.testing.assert_allclose(m(x.numpy()), want, rtol=1e-5, atol=1e-6)
    assert m.manifest["weights"] == "weights.bwt"
    # A fresh load reads the parameters back from the weight file.
    reloaded = buddy.load(m.artifact_dir)
    np.testing.assert_allclose(reloaded(x.numpy()), want, rtol=1e-5, atol=1e-6)


IMPORT_SCRIPT = '''
import torch

def build_model():
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh()).eval()
    return model, (torch.zeros(2, 6),)
'''


def test_cli_compiles_an_import_script_with_weights(tmp_path):
    pytest.importorskip("torch")
    import torch

    script = tmp_path / "import_model.py"
    script.write_text(IMPORT_SCRIPT)
    env = {**os.environ, "BUDDY_CACHE_DIR": str(tmp_path / "cache")}
    art = tmp_path / "art"
    r = _buddy("compile", str(script), "-t", "x86-avx2", "-o", str(art), env=env)
    assert r.returncode == 0, r.stderr
    assert (art / "weights.bwt").is_file()
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(2, 6)
    np.save(tmp_path / "x.npy", x)
    r = _buddy("run", str(art), "-i", str(tmp_path / "x.npy"), "--save", str(tmp_path / "o"),
               env=env)
    assert r.returncode == 0, r.stderr
    name = json.loads((tmp_path / "o" / "outputs.json").read_text())[0]
    ns: dict = {}
    exec(IMPORT_SCRIPT, ns)
    model, _ = ns["build_model"]()
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "o" / f"{name}.npy"), want, rtol=1e-5,
                               atol=1e-6)


def test_kernels_is_a_bool(tmp_path):
    # The vector ISA comes from the target row; the old ISA strings are a clear TypeError.
    with pytest.raises(TypeError, match=r"kernels must be True .* or False .*got 'avx2'"):
        buddy.compile(LINEAR_TANH, target="x86-avx2", num_params=1, kernels="avx2",
                      progress=False, cache_dir=tmp_path)
    ref = buddy.compile(LINEAR_TANH, target="x86-avx2", num_params=1, kernels=False,
                        openmp=False, artifact_dir=tmp_path / "ref", progress=False)
    assert "kernels=0 parallel-loops=0" in ref.manifest["pipeline"]["buddy-opt"][0][1]
    assert "omp" not in (ref.artifact_dir / "2-llvm.mlir").read_text()
    # Both lowerings compute the same thing (NumPy reference).
    fast = buddy.compile(LINEAR_TANH, target="x86-avx2", num_params=1, openmp=False,
                         artifact_dir=tmp_path / "fast", progress=False)
    assert "kernels=1 parallel-loops=0" in fast.manifest["pipeline"]["buddy-opt"][0][1]
    w, x = cdriver.driver_inputs(ref.signature)
    for m in (ref, fast):
        y, t = buddy.load(m.artifact_dir, params={"arg0": w})(x)
        np.testing.assert_allclose(y, x @ w.T, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(t, np.tanh(x), rtol=1e-5, atol=1e-6)


def test_cli_no_kernels_is_the_reference_lowering(tmp_path):
    src = tmp_path / "linear.mlir"
    src.write_text(LINEAR_TANH)
    env = {**os.environ, "BUDDY_CACHE_DIR": str(tmp_path / "cache")}
    art = tmp_path / "art"
    r = _buddy("compile", str(src), "--num-params", "1", "-t", "x86-avx2", "--no-openmp",
               "--no-kernels", "-o", str(art), env=env)
    assert r.returncode == 0, r.stderr
    w, x = cdriver.driver_inputs(buddy.load(art).signature)
    m = buddy.load(art, params={"arg0": w})
    assert "kernels=0" in m.manifest["pipeline"]["buddy-opt"][0][1]
    y, t = m(x)
    np.testing.assert_allclose(y, x @ w.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(t, np.tanh(x), rtol=1e-5, atol=1e-6)


def test_kernels_without_libomp_link_the_serial_runtime(tmp_path, monkeypatch):
    """Kernels are on by default and call __kmpc_*: with no libomp on the machine the library
    gets the serial entry points (omp_serial.py), with a warning, and still computes right."""
    from buddy.backend import link

    def missing():
        raise toolchain.ToolNotFound("libomp not found (test)")

    monkeypatch.setattr(link, "find_libomp", missing)
    with pytest.warns(RuntimeWarning, match="serial OpenMP entry points"):
        m = buddy.compile(LINEAR_TANH, target="x86-avx2", num_params=1, openmp=True,
                          artifact_dir=tmp_path / "a", progress=False)
    assert "kernels=1 parallel-loops=1" in m.manifest["pipeline"]["buddy-opt"][0][1]
    assert "omp.parallel" in (m.artifact_dir / "2-llvm.mlir").read_text()
    w, x = cdriver.driver_inputs(m.signature)
    y, t = buddy.load(m.artifact_dir, params={"arg0": w})(x)
    np.testing.assert_allclose(y, x @ w.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(t, np.tanh(x), rtol=1e-5, atol=1e-6)


def test_tosa_is_detected_from_ops_not_text(tmp_path):
    """A "tosa." in a comment does not make linalg input TOSA; a tosa op does."""
    plain = ("// this model has no tosa.abs\n"
             "func.func @forward(%a: tensor<4xf32>) -> tensor<4xf32> {\n"
             "  return %a : tensor<4xf32>\n}\n")
    tosa_text = ("func.func @forward(%a: tensor<4xf32>) -> tensor<4xf32> {\n"
                 "  %0 = tosa.abs %a : (tensor<4xf32>) -> tensor<4xf32>\n"
                 "  return %0 : tensor<4xf32>\n}\n")
    for text, want in ((plain, "from-tosa=0"), (tosa_text, "from-tosa=1")):
        m = buddy.compile(text, cache_dir=tmp_path, progress=False)
        flags = " ".join(" ".join(stage) for stage in m.manifest["pipeline"]["buddy-opt"])
        assert want in flags, flags
        x = np.array([-1.0, 2.0, -3.0, 4.0], np.float32)
        np.testing.assert_array_equal(m(x), np.abs(x) if want.endswith("1") else x)
