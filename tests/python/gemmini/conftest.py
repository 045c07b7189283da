"""Fixtures of the qemu tests: the cross toolchain (skips without it) and the simulator
objects, compiled once per session."""
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
