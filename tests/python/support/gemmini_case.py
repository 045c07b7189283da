"""One memref-level MLIR case on Gemmini under qemu-user as a user runs it (test_gemmini_conv.py,
test_gemmini_batch.py): ``buddy compile -t riscv64-gemmini --dataflow ...`` and ``buddy run
--stats``, the output compared bit for bit with NumPy's and the MACs on the array checked;
and the text after ``--buddy-convert-linalg-to-gemmini`` alone."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

from buddy.toolchain import buddy_opt_path
from support.user_cli import require_target, run_buddy, user_dir

TARGET = "riscv64-gemmini"


def check_under_qemu(tmp_path: Path, mlir_text: str, arrays: list[np.ndarray],
                     want: np.ndarray, macs: int, dataflow: str, cache: Path) -> None:
    """`mlir_text` (entry ``forward``) run on `arrays` (its inputs, in order) gives exactly
    `want`, which has more than 10 distinct values, with `macs` MACs on the array and one
    trap per Gemmini instruction."""
    require_target(TARGET)
    work = user_dir(tmp_path)
    (work / "case.mlir").write_text(mlir_text)
    files = []
    for i, a in enumerate(arrays):
        np.save(work / f"in{i}.npy", a)
        files.append(f"in{i}.npy")
    r = run_buddy(work, "compile", "case.mlir", "-o", "out", "-t", TARGET, "--dataflow",
                  dataflow, cache=cache)
    assert r.returncode == 0, r.stderr
    r = run_buddy(work, "run", "out", "-i", *files, "--save", "res", "--stats", cache=cache)
    assert r.returncode == 0, r.stderr
    got = np.load(work / "res" / "out0.npy")
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    assert len(np.unique(got)) > 10
    stats = json.loads((work / "res" / "stats.json").read_text())
    assert stats["macs"] == macs
    assert stats["traps"] == stats["instructions"] > 0


def convert_linalg_to_gemmini(mlir_text: str) -> str:
    """`mlir_text` after ``buddy-opt --buddy-convert-linalg-to-gemmini`` (WS)."""
    return subprocess.run([str(buddy_opt_path()), "--buddy-convert-linalg-to-gemmini"],
                          input=mlir_text, capture_output=True, text=True, check=True).stdout
