"""`buddy.llm.Generator.from_model` (the Python API of `buddy llama`) and the runtime's C++
tokenizer behind it: same ids as the HF tokenizer path on the SmolLM2 GGUF, same options as
the CLI, and the CLI end to end (eager engine: no minutes of compilation)."""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from buddy.llm import (Generator, HFTokenizer, LlamaStatic, RuntimeTokenizer, SamplingConfig,
                       find_smollm2_gguf, load_tokenizer)
from buddy.llm.cli import add_llama_parser

TEXTS = [
    "The capital of France is",
    " Paris",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "héllo wörld 日本語 😀  two  spaces\ttab\n\nnew paragraph",
    "   leading spaces and trailing ones   ",
    "",
]


@pytest.fixture(scope="module")
def smollm2() -> Path:
    try:
        return find_smollm2_gguf()
    except FileNotFoundError as e:
        pytest.skip(str(e))


def test_runtime_tokenizer_matches_hf_on_smollm2(smollm2):
    cpp, hf = RuntimeTokenizer(smollm2), HFTokenizer(smollm2)
    assert isinstance(load_tokenizer(smollm2), RuntimeTokenizer)
    for text in TEXTS:
        ids = cpp.encode(text)
        assert ids == hf.encode(text), text
        assert cpp.decode(ids) == hf.decode(ids), text
    assert (cpp.bos_token_id, cpp.eos_token_id) == (hf.bos_token_id, hf.eos_token_id)
    assert (cpp.bos_token, cpp.eos_token) == (hf.bos_token, hf.eos_token)
    assert cpp.chat_template and cpp.chat_template == hf.chat_template
    assert cpp.token_str(cpp.eos_token_id) == "<|im_end|>"


def test_runtime_tokenizer_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such.gguf"):
        RuntimeTokenizer(tmp_path / "no_such.gguf")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file at all")
    with pytest.raises(RuntimeError, match="bad.gguf"):
        RuntimeTokenizer(bad)


def test_generator_from_model_eager_says_paris_like_the_hf_path(smollm2):
    gen = Generator.from_model(smollm2, max_len=64, engine="eager")
    assert isinstance(gen.tokenizer, RuntimeTokenizer)
    cfg = SamplingConfig(max_new_tokens=8, stop_at_eos=False)
    res = gen.generate_text("The capital of France is", cfg)
    assert res.text.startswith(" Paris"), res.text
    # The previous path: HF tokenizer around the same model, same tokens.
    hf = HFTokenizer(smollm2)
    ref = Generator(gen.runner, hf, prefill_buckets=gen.buckets).generate(
        hf.encode("The capital of France is"), cfg)
    assert res.prompt_tokens == ref.prompt_tokens and res.tokens == ref.tokens
    chat = gen.encode_prompt("Hi", chat=True)
    assert chat == hf.encode(gen.chat_prompt([{"role": "user", "content": "Hi"}]))
    assert gen.prepare(len(chat)) == 32


def test_generator_from_model_has_the_cli_options():
    parser = argparse.ArgumentParser()
    add_llama_parser(parser.add_subparsers())
    sub = parser._subparsers._group_actions[0].choices["llama"]  # noqa: SLF001
    cli = {a.dest for a in sub._actions if a.dest not in ("help", "func")}  # noqa: SLF001
    api = (set(inspect.signature(Generator.from_model).parameters)
           | {f.name for f in dataclasses.fields(SamplingConfig)}
           | set(inspect.signature(Generator.generate_text).parameters))
    renamed = {"quiet": "progress"}   # --quiet == progress=False
    missing = {renamed.get(o, o) for o in cli} - api
    assert not missing, f"CLI options without a Generator API equivalent: {sorted(missing)}"


def test_generator_from_model_errors(tmp_path):
    with pytest.raises(ValueError, match="engine"):
        Generator.from_model(tmp_path, engine="jit")
    with pytest.raises(FileNotFoundError, match="missing.gguf"):
        Generator.from_model(tmp_path / "missing.gguf", engine="eager")


def test_cli_eager_end_to_end(smollm2):
    proc = subprocess.run([sys.executable, "-m", "buddy", "llama", "--engine", "eager", "--max-len", "64",
                           "--max-new-tokens", "6", "--quiet"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("The capital of France is Paris"), proc.stdout
    assert "decode: 5 tokens" in proc.stderr and "engine: eager" in proc.stderr


def test_cli_int8_activations_in_a_fresh_process(smollm2, tmp_path):
    """`buddy llama --activations int8` as a user types it (fresh process, outside the source
    tree, its own cache): on a CPU with the int8 dot kernel (AVX-512 VNNI) the packaged file
    still answers " Paris"; elsewhere it stops with the error that names the missing kernel,
    not a traceback."""
    from buddy.backend.pipeline import int8_dot_kernel
    from buddy.backend.targets import detect_host

    env = dict(os.environ, BUDDY_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-m", "buddy", "llama", "--activations", "int8", "--max-len", "64",
                           "--temperature", "0", "--max-new-tokens", "4", "--quiet"],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    if int8_dot_kernel(detect_host()) is not None:
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("The capital of France is Paris"), proc.stdout
        manifests = [p.read_text() for p in (tmp_path / "cache").rglob("manifest.json")]
        assert any("int8-dot=avx512-vnni" in m for m in manifests), "no graph used the int8 kernel"
    else:
        assert proc.returncode == 1, proc.stderr
        assert "--activations int8 needs an integer dot-product kernel" in proc.stderr, proc.stderr


@pytest.mark.parametrize("command", ["llama", "serve"])
def test_cli_int8_activations_without_the_kernel_is_a_clear_error(smollm2, tmp_path, command):
    """The x86-avx2 target row has no int8 dot kernel: `--activations int8` stops with an
    error naming the target and the way out before anything is loaded or compiled, on every
    host, in `buddy llama` and `buddy serve` alike."""
    if command == "serve":
        pytest.importorskip("fastapi", reason="buddy serve needs fastapi (the `llm` extra)")
        pytest.importorskip("uvicorn", reason="buddy serve needs uvicorn (the `llm` extra)")
    env = dict(os.environ, BUDDY_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-m", "buddy", command, "--activations", "int8", "--target", "x86-avx2",
                           "--max-len", "64"], capture_output=True, text=True, timeout=900, cwd=tmp_path, env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert (f"buddy {command}: error: --activations int8 needs an integer dot-product kernel; target 'x86-avx2'"
            in proc.stderr), proc.stderr
    assert "use --activations f32" in proc.stderr, proc.stderr
    assert proc.stdout == "" and not (tmp_path / "cache").exists(), "something was compiled before the check"
