"""A generated C driver for compiled models: fills every param/input with a
deterministic pattern, calls ``_buddy_<f>``, prints the outputs. Linked with the
model object into a (static, for cross targets) executable that runs under
qemu; ``driver_inputs`` reproduces the same inputs in NumPy for a reference.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Sequence

import numpy as np

from buddy.toolchain import find_tool

from .abi import ArgSpec
from .link import link_executable
from .targets import Target, get_target

C_TYPES = {"f32": "float", "f64": "double", "i32": "int32_t", "i64": "int64_t",
           "i8": "int8_t", "i16": "int16_t"}
ITEMSIZE = {"float": 4, "double": 8, "int32_t": 4, "int64_t": 8, "int8_t": 1, "int16_t": 2}
PRINT = {"float": ("%.9g", "(double)"), "double": ("%.17g", ""),
         "int32_t": ("%lld", "(long long)"), "int64_t": ("%lld", "(long long)"),
         "int8_t": ("%lld", "(long long)"), "int16_t": ("%lld", "(long long)")}


def _fill_expr(ctype: str, seed: int) -> str:
    if ctype in ("float", "double"):
        return f"({ctype})((double)((i * 37 + {seed * 101}) % 211) / 105.5 - 1.0)"
    return f"({ctype})((i * 37 + {seed}) % 17 - 8)"


def driver_inputs(signature: Sequence[ArgSpec]) -> list[np.ndarray]:
    """The params + inputs the driver feeds, bit for bit, as NumPy arrays."""
    arrays = []
    for seed, s in enumerate(a for a in signature if a.role != "output"):
        n = int(np.prod(s.shape, dtype=np.int64))
        i = np.arange(n, dtype=np.int64)
        if s.dtype in ("f32", "f64"):
            v = ((i * 37 + seed * 101) % 211).astype(np.float64) / 105.5 - 1.0
            arr = v.astype(np.float32 if s.dtype == "f32" else np.float64)
        else:
            arr = ((i * 37 + seed) % 17 - 8).astype({"i32": np.int32, "i64": np.int64,
                                                      "i8": np.int8, "i16": np.int16}[s.dtype])
        arrays.append(arr.reshape(s.shape))
    return arrays


def generate_driver(signature: Sequence[ArgSpec], symbol: str = "_buddy_forward") -> str:
    """C source of the driver for ``signature``."""
    lines = ["#include <stdint.h>", "#include <stdio.h>", "#include <stdlib.h>", "",
             f"extern void {symbol}(void **args);", "", "int main(void) {"]
    for k, s in enumerate(signature):
        if s.dtype not in C_TYPES:
            raise ValueError(f"C driver: dtype {s.dtype} of {s.role} {s.name!r} is not supported")
        ctype, rank = C_TYPES[s.dtype], len(s.shape)
        n = int(np.prod(s.shape, dtype=np.int64))
        dims = f" int64_t sizes[{rank}]; int64_t strides[{rank}];" if rank else ""
        lines.append(f"  struct {{ {ctype} *allocated; {ctype} *aligned; int64_t offset;{dims} }} d{k};")
        nbytes = max(64, (n * ITEMSIZE[ctype] + 63) // 64 * 64)  # aligned_alloc: multiple of 64
        lines.append(f"  {ctype} *b{k} = ({ctype} *)aligned_alloc(64, {nbytes});")
        lines.append(f"  d{k}.allocated = d{k}.aligned = b{k}; d{k}.offset = 0;")
        stride = 1
        for d in reversed(range(rank)):
            lines.append(f"  d{k}.sizes[{d}] = {s.shape[d]}; d{k}.strides[{d}] = {stride};")
            stride *= s.shape[d]
    seed = 0
    for k, s in enumerate(signature):
        if s.role == "output":
            continue
        n = int(np.prod(s.shape, dtype=np.int64))
        lines.append(f"  for (int64_t i = 0; i < {n}; ++i) b{k}[i] = {_fill_expr(C_TYPES[s.dtype], seed)};")
        seed += 1
    args = ", ".join(f"&d{k}" for k in range(len(signature)))
    lines.append(f"  void *args[{len(signature)}] = {{{args}}};")
    lines.append(f"  {symbol}(args);")
    for k, s in enumerate(signature):
        if s.role != "output":
            continue
        n = int(np.prod(s.shape, dtype=np.int64))
        fmt, cast = PRINT[C_TYPES[s.dtype]]
        lines.append(f'  printf("output {s.name} {n}\\n");')
        lines.append(f'  for (int64_t i = 0; i < {n}; ++i) printf("{fmt}\\n", {cast}b{k}[i]);')
    lines += ["  return 0;", "}", ""]
    return "\n".join(lines)


def build_executable(object_file: Path, signature: Sequence[ArgSpec], out: Path,
                     target: str | Target, symbol: str = "_buddy_forward") -> Path:
    """Model object + generated driver -> executable for ``target``."""
    tgt = get_target(target)
    src = out.with_suffix(".c")
    src.write_text(generate_driver(signature, symbol))
    return link_executable([object_file, src], out, tgt)


def run_executable(exe: Path, target: str | Target, timeout: float = 600) -> str:
    """Run ``exe`` natively or under the target's qemu; returns its stdout."""
    tgt = get_target(target)
    cmd = [str(find_tool(tgt.qemu[0])), *tgt.qemu[1:]] if tgt.qemu else []
    proc = subprocess.run([*cmd, str(exe)], capture_output=True, text=True, timeout=timeout,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join([*cmd, str(exe)])} exited with {proc.returncode}:\n"
                           f"{proc.stderr.strip()}")
    return proc.stdout


def parse_outputs(stdout: str, signature: Sequence[ArgSpec]) -> list[np.ndarray]:
    """The arrays printed by the driver, shaped and typed per the signature."""
    lines = stdout.splitlines()
    pos, outs = 0, []
    for s in (a for a in signature if a.role == "output"):
        header = lines[pos].split()
        if header[:2] != ["output", s.name]:
            raise ValueError(f"driver output: expected header for {s.name!r}, got {lines[pos]!r}")
        n = int(header[2])
        vals = lines[pos + 1:pos + 1 + n]
        pos += 1 + n
        dt = np.float64 if s.dtype in ("f32", "f64") else np.int64
        arr = np.array([dt(v) for v in vals], dtype=dt).reshape(s.shape)
        outs.append(arr.astype(np.float32) if s.dtype == "f32" else arr)
    return outs
