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
