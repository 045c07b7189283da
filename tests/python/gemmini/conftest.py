"""Fixtures of the qemu tests: the cross toolchain (skips without it) and the simulator
objects, compiled once per session; a compile cache per module for `buddy compile`."""
from __future__ import annotations

from pathlib import Path

import pytest

from support import gemmini_qemu as gq


@pytest.fixture(scope="session")
def tools() -> gq.Tools:
    return gq.find_tools()


@pytest.fixture(scope="session")
def sim_objects(tools: gq.Tools, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """RoccTrap.o and Model.o for riscv64."""
    return gq.compile_sim(tools, tmp_path_factory.mktemp("gemmini-sim"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A compile cache per test module (test_gemmini_conv.py, test_gemmini_batch.py): the
    simulator objects are built once per module."""
    return tmp_path_factory.mktemp("buddy-cache")
