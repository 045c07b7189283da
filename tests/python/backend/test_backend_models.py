"""Whole models through the AOT backend: `buddy.compile(model, inputs, target=...)` -> .so,
called through the packed ABI and compared with PyTorch eager, on both x86 target rows,
with the reference lowering (kernels=False) and with Buddy's kernels (the default)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Dict, Tuple

import pytest
import torch

import buddy
from buddy import toolchain

from support import model_zoo as zoo  # noqa: E402

pytest.importorskip("transformers")

NEEDS = {"x86-avx512": {"avx512f", "avx512bw", "avx512dq", "avx512vl"}, "x86-avx2": {"avx2", "fma"}}
ISA = {"x86-avx512": "avx512", "x86-avx2": "avx2"}


def _skip_unless_runs(target: str) -> None:
    cpu = Path("/proc/cpuinfo")
    flags = set(cpu.read_text().split()) if cpu.exists() else set()
    if not NEEDS[target] <= flags:
        pytest.skip(f"this CPU lacks {sorted(NEEDS[target])}: cannot run {target} code")


def _llama_logits() -> Tuple[torch.nn.Module, tuple]:
    ids = torch.randint(0, zoo.VOCAB, (1, 7), generator=torch.Generator().manual_seed(1))
    return zoo.LlamaLogits(zoo.tiny_llama()).eval(), (ids,)


def _llama_decode() -> Tuple[torch.nn.Module, tuple]:
    return zoo.LlamaDecodeStep(zoo.tiny_llama()).eval(), zoo.decode_step_inputs()


def _cnn() -> Tuple[torch.nn.Module, tuple]:
    return zoo.small_cnn(), (torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)),)


def _bert() -> Tuple[torch.nn.Module, tuple]:
    torch.manual_seed(0)
    return zoo.TinyBert().eval(), zoo.bert_inputs()


def _gqa() -> Tuple[torch.nn.Module, tuple]:
    torch.manual_seed(0)
    return zoo.GQAAttention().eval(), (torch.randn(2, 6, 32),)


MODELS: Dict[str, Callable[[], Tuple[torch.nn.Module, tuple]]] = {
    "llama": _llama_logits, "llama_kv_cache": _llama_decode, "cnn": _cnn, "bert": _bert, "gqa_sdpa": _gqa,
}


@pytest.mark.parametrize("pipeline", ["stages", "kernels"])
@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("target", list(NEEDS))
def test_model_aot_matches_eager(target, model, pipeline, tmp_path):
    _skip_unless_runs(target)
    kernels = pipeline == "kernels"
    if kernels:
        try:
            toolchain.find_libomp()  # the named pipeline's kernels are OpenMP-parallel
        except toolchain.ToolNotFound as e:
            pytest.skip(str(e))
    m, inputs = MODELS[model]()
    with torch.no_grad():
        want = m(*inputs)
    compiled = buddy.compile(m, inputs, target=target, kernels=kernels, cache_dir=tmp_path / "cache",
                             progress=False)
    assert compiled.library is not None and compiled.library.is_file()
    assert compiled.manifest["target"]["name"] == target
    stages = [s[0] for s in compiled.manifest["pipeline"]["buddy-opt"]]
    assert stages == ["cpu-pipeline"]
    flags = compiled.manifest["pipeline"]["buddy-opt"][0][1]
    assert f"target={ISA[target]} kernels={int(kernels)} " in flags
    # A fresh load reads the parameters back from the artifact's weight file.
    got = buddy.load(compiled.artifact_dir)(*inputs)
    zoo.close(got, want)
