"""buddy.llm: LLaMA models for Buddy (GGUF / Hugging Face loading, static-KV-cache model, generation)."""
from .gguf_loader import GGUFError, GGUFFormatError, UnsupportedModelError, load_gguf
from .hf_loader import load_hf_dir
from .model import DecodeGraph, KVCacheOverflowError, LlamaStatic, PrefillGraph
from .generate import Generator, SamplingConfig, GenerationResult, prefill_buckets
from .tokenizer import HFTokenizer, RuntimeTokenizer, Tokenizer, load_tokenizer, render_chat_template
from .data import find_smollm2_gguf
from .compiled import CompiledLlama

__all__ = [
    "GGUFError", "GGUFFormatError", "UnsupportedModelError", "load_gguf", "load_hf_dir",
    "LlamaStatic", "PrefillGraph", "DecodeGraph", "KVCacheOverflowError",
    "Generator", "SamplingConfig", "GenerationResult", "prefill_buckets",
    "HFTokenizer", "RuntimeTokenizer", "Tokenizer", "load_tokenizer", "render_chat_template", "find_smollm2_gguf", "CompiledLlama",
]
