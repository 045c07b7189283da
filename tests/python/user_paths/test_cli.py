"""The command-line entry points and toolchain discovery."""

import subprocess
import sys

import pytest

from buddy import cli, doctor, toolchain


def run_buddy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "buddy", *args], capture_output=True, text=True)


def test_buddy_opt_lists_upstream_and_buddy_passes():
    out = subprocess.run([str(toolchain.buddy_opt_path()), "--help"], capture_output=True, text=True, check=True)
    assert "--buddy-fold-transpose-into-matmul" in out.stdout
    assert "--convert-linalg-to-loops" in out.stdout  # upstream pass
    assert "--one-shot-bufferize" in out.stdout


def test_buddy_opt_version_names_buddy_and_mlir():
    out = subprocess.run([str(toolchain.buddy_opt_path()), "--version"], capture_output=True, text=True, check=True)
    assert "Buddy 0.1.0" in out.stdout
    assert "22.1.8" in out.stdout


def test_doctor_finds_the_pinned_toolchain(capsys):
    rc = doctor.run()
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "[ok]      MLIR (mlir-opt): " in text and "22.1.8" in text
    assert "[ok]      llc (pip): targets: " in text and "x86-64" in text


def test_doctor_reports_missing_tool_with_install_command(monkeypatch, capsys):
    monkeypatch.setitem(
        toolchain.TOOLS, "qemu-riscv64-static",
        toolchain.ToolSpec("qemu-riscv64-static", "apt-get install qemu-user-static", None, ("/nonexistent/qemu",)),
    )
    toolchain.find_tool.cache_clear()
    try:
        doctor.run()
    finally:
        toolchain.find_tool.cache_clear()
    text = capsys.readouterr().out
    assert "qemu-riscv64-static: qemu-riscv64-static not found. Install it with: apt-get install qemu-user-static" in text


def test_find_tool_unknown_raises_named_error():
    with pytest.raises(toolchain.ToolNotFound, match="no-such-tool-xyz not found"):
        toolchain.find_tool("no-such-tool-xyz")


def test_cli_without_command_prints_help(capsys):
    assert cli.main([]) == 2
    assert "doctor" in capsys.readouterr().out


def test_cli_module_runs():
    out = run_buddy("version")
    assert out.returncode == 0 and out.stdout.strip() == "buddy 0.1.0"


def test_runtime_extension_imports():
    from buddy import _runtime

    assert _runtime.__version__ == "0.1.0"


# ------------------------------------------------------------------ the OpenMP runtime


def _libm() -> str:
    import ctypes.util
    from pathlib import Path

    for cand in ("/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6",
                 "/lib/aarch64-linux-gnu/libm.so.6", "/usr/lib64/libm.so.6"):
        if Path(cand).is_file():
            return cand
    pytest.skip(f"no libm.so.6 found to test with ({ctypes.util.find_library('m')})")


@pytest.mark.parametrize("kind", ["libm", "empty", "text", "missing"])
def test_buddy_libomp_must_be_an_openmp_runtime(kind, tmp_path, monkeypatch):
    path = {"libm": None, "empty": tmp_path / "libomp.so", "text": tmp_path / "notes.so",
            "missing": tmp_path / "nope" / "libomp.so"}[kind]
    if kind == "libm":
        path = _libm()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not a library\n")
    monkeypatch.setenv("BUDDY_LIBOMP", str(path))
    with pytest.raises(toolchain.ToolNotFound) as e:
        toolchain.find_libomp()
    msg = str(e.value)
    assert f"BUDDY_LIBOMP={path}" in msg and "cmeel-libomp" in msg
    if kind == "libm":
        assert "__kmpc_fork_call" in msg
    # ... and compiling with OpenMP fails on it rather than silently going serial.
    from buddy.backend import compiler

    with pytest.raises(toolchain.ToolNotFound):
        compiler._libomp_available()


def test_openmp_runtime_origin_and_doctor(monkeypatch, capsys):
    try:
        rt = toolchain.find_openmp_runtime()
    except toolchain.ToolNotFound as e:
        assert "pip install cmeel-libomp==21.1.8" in str(e)
        pytest.skip(f"no OpenMP runtime here: {e}")
    assert rt.origin in ("BUDDY_LIBOMP", "system") or rt.origin.startswith("pip cmeel-libomp ")
    assert toolchain.LIBOMP_SYMBOL in toolchain.elf_dynamic_symbols(rt.path)
    monkeypatch.setenv("BUDDY_LIBOMP", str(rt.path))
    assert toolchain.find_openmp_runtime().origin == "BUDDY_LIBOMP"
    doctor.run()
    assert f"[ok]      OpenMP runtime (libomp): {rt.path}  (BUDDY_LIBOMP)" in capsys.readouterr().out


def test_pip_openmp_runtime_is_found_through_its_distribution(monkeypatch):
    import importlib.metadata as md

    try:
        dist = md.distribution(toolchain.LIBOMP_PYPI)
    except md.PackageNotFoundError:
        pytest.skip(f"{toolchain.LIBOMP_PYPI} is not installed in this Python")
    monkeypatch.delenv("BUDDY_LIBOMP", raising=False)
    rt = toolchain.find_openmp_runtime()
    assert rt.origin == f"pip {toolchain.LIBOMP_PYPI} {dist.version}"
    assert dist.version == toolchain.LIBOMP_PYPI_VERSION


def test_cache_key_changes_with_the_openmp_runtime(tmp_path, monkeypatch):
    import shutil

    import buddy

    try:
        rt = toolchain.find_openmp_runtime()
    except toolchain.ToolNotFound as e:
        pytest.skip(f"no OpenMP runtime here: {e}")
    mlir = """
func.func @forward(%a: tensor<64xf32>, %b: tensor<64xf32>) -> tensor<64xf32> {
  %e = tensor.empty() : tensor<64xf32>
  %0 = linalg.add ins(%a, %b : tensor<64xf32>, tensor<64xf32>) outs(%e : tensor<64xf32>) -> tensor<64xf32>
  return %0 : tensor<64xf32>
}
"""
    copy = tmp_path / "other" / "libomp.so"
    copy.parent.mkdir()
    shutil.copy2(rt.path, copy)
    keys = []
    for lib in (rt.path, copy):
        monkeypatch.setenv("BUDDY_LIBOMP", str(lib))
        m = buddy.compile(mlir, target="host", openmp=True, cache_dir=tmp_path / "cache",
                          progress=False)
        keys.append(m.manifest["cache_key"])
        assert not m.cache_hit
    assert keys[0] != keys[1]
