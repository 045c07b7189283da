#!/usr/bin/env python3
"""Issue 16's model benchmark: each family at its real published dimensions (random weights,
local configs, batch 1), through the public API, against torch eager and inductor in one run.

    python bench/bench_models.py [--only resnet18,vit_b16] [--reps 5] [--autotune]

Per model, in its own process (so one model's memory and threads do not touch the next):
Buddy's cold compile time (`buddy.compile(model, inputs, use_cache=False)`) and latency;
inductor's (`torch.compile(model)`, and with `--autotune` `mode="max-autotune"`) first-call
time (its compile, cold: a fresh TORCHINDUCTOR_CACHE_DIR per model) and latency; eager latency. Latency is the best of `--reps` calls after a
warm-up (bench_common.best_times). Buddy's outputs are checked against eager (max error
scaled by the output's magnitude, recorded). Writes bench/results/models.json and prints the
table that docs/performance.md quotes.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "python"))

Built = Tuple[Any, Tuple[Any, ...]]


def _img(size: int) -> Any:
    import torch

    return torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))


def resnet18() -> Built:
    from transformers import ResNetConfig, ResNetForImageClassification

    cfg = ResNetConfig(embedding_size=64, hidden_sizes=[64, 128, 256, 512], depths=[2, 2, 2, 2],
                       layer_type="basic", num_labels=1000)
    return ResNetForImageClassification(cfg).eval(), (_img(224),)


def mobilenet_v2() -> Built:
    from transformers import MobileNetV2Config, MobileNetV2ForImageClassification

    return MobileNetV2ForImageClassification(MobileNetV2Config(num_labels=1000)).eval(), (_img(224),)


def vit_b16() -> Built:
    from transformers import ViTConfig, ViTForImageClassification

    return ViTForImageClassification(ViTConfig(num_labels=1000)).eval(), (_img(224),)


def clip_vision_b32() -> Built:
    from transformers import CLIPVisionConfig, CLIPVisionModel

    cfg = CLIPVisionConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                           image_size=224, patch_size=32)
    return CLIPVisionModel(cfg).eval(), (_img(224),)


def clip_text_b32() -> Built:
    """CLIP ViT-B/32's text tower (also Stable Diffusion 1.5's text encoder): 77 tokens."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    cfg = CLIPTextConfig(vocab_size=49408, hidden_size=512, intermediate_size=2048, num_hidden_layers=12,
                         num_attention_heads=8, max_position_embeddings=77)
    ids = torch.randint(0, 49407, (1, 77), generator=torch.Generator().manual_seed(1))
    return CLIPTextModel(cfg).eval(), (ids,)


def _whisper_base() -> Any:
    from transformers import WhisperConfig

    return WhisperConfig(vocab_size=51865, d_model=512, encoder_layers=6, decoder_layers=6,
                         encoder_attention_heads=8, decoder_attention_heads=8, encoder_ffn_dim=2048,
                         decoder_ffn_dim=2048, num_mel_bins=80, max_source_positions=1500,
                         max_target_positions=448)


def whisper_base_encoder() -> Built:
    """whisper-base's encoder on 30 s of audio (80 mel bins x 3000 frames)."""
    import torch
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    feats = torch.randn(1, 80, 3000, generator=torch.Generator().manual_seed(1))
    return WhisperEncoder(_whisper_base()).eval(), (feats,)


def whisper_base_decoder() -> Built:
    """whisper-base's decoder without a cache: 16 tokens attending to 1500 encoder positions."""
    import torch
    from transformers.models.whisper.modeling_whisper import WhisperDecoder

    class NoCache(torch.nn.Module):
        def __init__(self, decoder: torch.nn.Module) -> None:
            super().__init__()
            self.decoder = decoder

        def forward(self, ids: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
            return self.decoder(input_ids=ids, encoder_hidden_states=states, use_cache=False).last_hidden_state

    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 51864, (1, 16), generator=gen)
    return NoCache(WhisperDecoder(_whisper_base()).eval()).eval(), (ids, torch.randn(1, 1500, 512, generator=gen))


def sd15_unet() -> Built:
    """Stable Diffusion 1.5's UNet (diffusers defaults = SD-1.5's channels) on a 64x64 latent."""
    import torch
    from diffusers import UNet2DConditionModel

    m = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8).eval()
    gen = torch.Generator().manual_seed(1)
    return m, (torch.randn(1, 4, 64, 64, generator=gen), torch.tensor([10.0]),
               torch.randn(1, 77, 768, generator=gen))


MODELS: Dict[str, Callable[[], Built]] = {
    "resnet18": resnet18, "mobilenet_v2": mobilenet_v2, "vit_b16": vit_b16, "clip_vision_b32": clip_vision_b32,
    "clip_text_b32": clip_text_b32, "whisper_base_encoder": whisper_base_encoder,
    "whisper_base_decoder": whisper_base_decoder, "sd15_unet": sd15_unet,
}
DEFAULT = [m for m in MODELS if m != "sd15_unet"]  # the UNet takes minutes per engine: --only sd15_unet


def worker(name: str, reps: int, autotune: bool) -> Dict[str, Any]:
    import torch

    import buddy
    from bench_common import best_times
    from support.model_families import max_scaled_error

    torch.manual_seed(0)
    model, inputs = MODELS[name]()
    row: Dict[str, Any] = {"model": name, "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
                           "inputs": [list(x.shape) for x in inputs]}
    with torch.no_grad():
        want = model(*inputs)
        t0 = time.perf_counter()
        compiled = buddy.compile(model, inputs, use_cache=False, progress=False)
        row["buddy_compile_s"] = round(time.perf_counter() - t0, 1)
        row["buddy_max_scaled_error"] = max_scaled_error(compiled(*inputs), want)
        engines: Dict[str, Callable[[], Any]] = {"buddy": lambda: compiled(*inputs), "eager": lambda: model(*inputs)}
        modes = {"inductor": {}, **({"inductor_max_autotune": {"mode": "max-autotune"}} if autotune else {})}
        for label, kw in modes.items():
            try:
                fn = torch.compile(model, **kw)
                t0 = time.perf_counter()
                fn(*inputs)
                row[f"{label}_compile_s"] = round(time.perf_counter() - t0, 1)
                engines[label] = lambda fn=fn: fn(*inputs)
            except Exception as e:  # noqa: BLE001 - a peer that fails is reported, not fatal
                row[f"{label}_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        row["latency_ms"] = {k: round(best_times(f, reps)[0] * 1e3, 2) for k, f in engines.items()}
    lat = row["latency_ms"]
    row["speedup_vs_eager"] = round(lat["eager"] / lat["buddy"], 3)
    if "inductor" in lat:
        row["speedup_vs_inductor"] = round(lat["inductor"] / lat["buddy"], 3)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(DEFAULT), help=f"comma-separated, of: {', '.join(MODELS)}")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--autotune", action="store_true", help='also inductor mode="max-autotune"')
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per model")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("-o", "--out", type=Path, default=ROOT / "bench" / "results" / "models.json")
    a = ap.parse_args()
    if a.worker:
        print("RESULT " + json.dumps(worker(a.worker, a.reps, a.autotune)))
        return 0
    names = [n for n in a.only.split(",") if n]
    bad = [n for n in names if n not in MODELS]
    if bad:
        ap.error(f"--only: unknown model {bad[0]!r} (known: {', '.join(MODELS)})")
    rows: List[Dict[str, Any]] = []
    for name in names:
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, "--worker", name, "--reps", str(a.reps)] + (["--autotune"] if a.autotune else [])
        try:
            # inductor's compile is cold like Buddy's (use_cache=False): its FX graph and
            # kernel caches go to a fresh folder per model
            with tempfile.TemporaryDirectory(prefix="bench-inductor-") as cache:
                env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache)
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout, env=env)
            line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
            row = (json.loads(line[-1][len("RESULT "):]) if p.returncode == 0 and line else
                   {"model": name, "error": (p.stderr.strip().splitlines() or ["no output"])[-1][:300]})
        except subprocess.TimeoutExpired:
            row = {"model": name, "error": f"timed out after {a.timeout:.0f}s"}
        rows.append(row)
        print(f"{name}: {time.perf_counter() - t0:.0f}s {json.dumps(row)}", file=sys.stderr, flush=True)
    import torch

    doc = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
           "torch": torch.__version__, "load_average_1m_after": round(os.getloadavg()[0], 2),
           "command": "python bench/bench_models.py " + " ".join(sys.argv[1:]), "rows": rows}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=2) + "\n")
    print("| model | params M | Buddy ms | eager ms | inductor ms | vs eager | vs inductor | "
          "Buddy compile s | inductor compile s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        if "error" in r:
            print(f"| {r['model']} | error: {r['error'][:100]} | | | | | | | |")
            continue
        lat = r["latency_ms"]
        print(f"| {r['model']} | {r['params_m']} | {lat['buddy']} | {lat['eager']} | {lat.get('inductor', '-')} | "
              f"{r['speedup_vs_eager']:.2f} | {r.get('speedup_vs_inductor', float('nan')):.2f} | "
              f"{r['buddy_compile_s']} | {r.get('inductor_compile_s', '-')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
