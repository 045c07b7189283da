"""Load a Hugging Face LLaMA checkpoint from a local directory (never the hub)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = ["HFModel", "load_hf_dir"]


@dataclass
class HFModel:
    path: Path
    config: Any  # transformers.LlamaConfig
    state_dict: dict[str, torch.Tensor]


def load_hf_dir(path: str | os.PathLike[str], dtype: torch.dtype = torch.float32) -> HFModel:
    """Read `config.json` and `*.safetensors` from a local directory.

    Raises FileNotFoundError when the directory, its config or its weights are
    missing, and ValueError when the config is not a LLaMA one.
    """
    from safetensors import safe_open
    from transformers import LlamaConfig

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"Hugging Face model directory not found: {path}")
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise FileNotFoundError(f"{path}: no config.json in the model directory")
    raw = json.loads(cfg_file.read_text())
    if raw.get("model_type") != "llama":
        raise ValueError(f"{cfg_file}: unsupported model_type {raw.get('model_type')!r} (expected 'llama')")
    config = LlamaConfig.from_pretrained(str(path), local_files_only=True)

    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{path}: no *.safetensors weight files in the model directory")
    state: dict[str, torch.Tensor] = {}
    for f in files:
        with safe_open(str(f), framework="pt") as st:
            for key in st.keys():
                state[key] = st.get_tensor(key).to(dtype)
    if "lm_head.weight" not in state:
        if not config.tie_word_embeddings:
            raise ValueError(f"{path}: lm_head.weight is missing and the config does not tie embeddings")
        state["lm_head.weight"] = state["model.embed_tokens.weight"]
    return HFModel(path=path, config=config, state_dict=state)
