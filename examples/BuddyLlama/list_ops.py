"""Capture buddy.llm's prefill and decode graphs to Core ATen and count the ops they use.

    python examples/BuddyLlama/list_ops.py [--gguf PATH] [--bucket 128] [--max-len 256] [--strict]
"""
from __future__ import annotations

import argparse
import collections
from pathlib import Path

import torch

from buddy.llm import DecodeGraph, LlamaStatic, PrefillGraph, find_smollm2_gguf


def core_aten_ops(ep: torch.export.ExportedProgram) -> collections.Counter[str]:
    return collections.Counter(str(n.target) for n in ep.graph.nodes if n.op == "call_function")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gguf", type=Path, default=None)
    ap.add_argument("--bucket", type=int, default=128)
    ap.add_argument("--max-len", type=int, default=256)
    ap.add_argument("--strict", action="store_true", help="capture with TorchDynamo (strict=True)")
    a = ap.parse_args()
    m = LlamaStatic.from_gguf(str(a.gguf or find_smollm2_gguf()), max_len=a.max_len)
    s = a.bucket
    pre = torch.export.export(PrefillGraph(m), (torch.zeros(1, s, dtype=torch.long), torch.tensor([s - 1])),
                              strict=a.strict).run_decompositions()
    k, v = m.new_cache()
    dec = torch.export.export(DecodeGraph(m), (torch.zeros(1, 1, dtype=torch.long), torch.tensor([3]), k, v),
                              strict=a.strict).run_decompositions()
    for name, ep in (("prefill", pre), ("decode", dec)):
        ops = core_aten_ops(ep)
        sig = ep.graph_signature
        print(f"== {name}: {sum(ops.values())} op nodes")
        for op, n in sorted(ops.items()):
            print(f"  {op}: {n}")
        print(f"  params {len(sig.parameters)}, buffers {len(sig.buffers)}, inputs {list(sig.user_inputs)}, "
              f"outputs {list(sig.user_outputs)}, mutated inputs {dict(sig.user_inputs_to_mutate)}")


if __name__ == "__main__":
    main()
