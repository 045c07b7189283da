"""A generated C driver for compiled models: fills every param/input with a
deterministic pattern, calls ``_buddy_<f>``, prints the outputs. Linked with the
model object into a (static, for cross targets) executable that runs under
qemu; ``driver_inputs`` reproduces the same inputs in NumPy for a reference.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from buddy.toolchain import find_tool

from buddy.runtime.dtypes import DTYPES

from .abi import NUMPY_DTYPES, ArgSpec
from .link import link_executable
from .targets import Target, get_target

# The dtypes the C driver can fill and print (buddy.runtime.dtypes has their C types).
_DRIVER_DTYPES = ("f32", "f64", "i32", "i64", "i8", "i16")
C_TYPES = {n: DTYPES[n].ctype for n in _DRIVER_DTYPES}
ITEMSIZE = {DTYPES[n].ctype: DTYPES[n].itemsize for n in _DRIVER_DTYPES}
PRINT = {"float": ("%.9g", "(double)"), "double": ("%.17g", ""),
         "int32_t": ("%lld", "(long long)"), "int64_t": ("%lld", "(long long)"),
         "int8_t": ("%lld", "(long long)"), "int16_t": ("%lld", "(long long)")}


# The entry points are C functions also when the driver is compiled as C++ (a row whose `cc`
# is a C++ compiler, riscv64-gemmini: g++ compiles a .c file as C++).
EXTERN_C = """#ifdef __cplusplus
#define BUDDY_EXTERN extern "C"
#else
#define BUDDY_EXTERN extern
#endif
"""


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
    lines = ["#include <stdint.h>", "#include <stdio.h>", "#include <stdlib.h>", EXTERN_C,
             f"BUDDY_EXTERN void {symbol}(void **args);", "", "int main(void) {"]
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


def run_executable(exe: Path, target: str | Target, timeout: float = 600,
                   args: Sequence[str | Path] = (), env: Mapping[str, str] | None = None) -> str:
    """Run ``exe args...`` natively or under the target's qemu (``env``: variables to set in
    its environment); returns its stdout."""
    tgt = get_target(target)
    cmd = [str(find_tool(tgt.qemu[0])), *tgt.qemu[1:]] if tgt.qemu else []
    argv = [*cmd, str(exe), *(str(a) for a in args)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, **env} if env else None)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {proc.returncode}:\n"
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


# ---------------------------------------------------------------- file-based batch driver
# One executable calls several compiled functions; every param/input is read from
# `<dir>/<symbol>.a<j>.bin` and every output written to `<dir>/<symbol>.o<j>.bin` (raw,
# C order, little-endian): any dtype works, since the driver only moves bytes.

_FILE_DRIVER_PRELUDE = r"""#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void *buddy_read(const char *dir, const char *file, size_t nbytes) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  void *buf = aligned_alloc(64, nbytes < 64 ? 64 : (nbytes + 63) / 64 * 64);
  FILE *f = fopen(path, "rb");
  if (!buf || !f) { fprintf(stderr, "driver: cannot open %s\n", path); exit(2); }
  if (nbytes && fread(buf, 1, nbytes, f) != nbytes) {
    fprintf(stderr, "driver: %s is shorter than %zu bytes\n", path, nbytes); exit(2);
  }
  if (fgetc(f) != EOF) { fprintf(stderr, "driver: %s is longer than %zu bytes\n", path, nbytes); exit(2); }
  fclose(f);
  return buf;
}

static void buddy_write(const char *dir, const char *file, const void *buf, size_t nbytes) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  FILE *f = fopen(path, "wb");
  if (!f || (nbytes && fwrite(buf, 1, nbytes, f) != nbytes)) {
    fprintf(stderr, "driver: cannot write %s\n", path); exit(2);
  }
  fclose(f);
}
"""


def _nbytes(s: ArgSpec) -> int:
    return int(np.prod(s.shape, dtype=np.int64)) * NUMPY_DTYPES[s.dtype].itemsize


def generate_file_driver(entries: Sequence[tuple[str, Sequence[ArgSpec]]]) -> str:
    """C source of a driver calling each ``(symbol, signature)`` in turn on files in argv[1]."""
    lines = [_FILE_DRIVER_PRELUDE, EXTERN_C]
    for symbol, _ in entries:
        lines.append(f"BUDDY_EXTERN void {symbol}(void **args);")
    for e, (symbol, signature) in enumerate(entries):
        lines.append(f"\nstatic void run{e}(const char *dir) {{")
        for k, s in enumerate(signature):
            if s.dtype not in NUMPY_DTYPES:
                raise ValueError(f"file driver: dtype {s.dtype} of {s.role} {s.name!r} "
                                 f"of {symbol} is not supported")
            rank = len(s.shape)
            dims = f" int64_t sizes[{rank}]; int64_t strides[{rank}];" if rank else ""
            lines.append(f"  struct {{ void *allocated; void *aligned; int64_t offset;{dims} }} d{k};")
            if s.role == "output":
                n = max(64, (_nbytes(s) + 63) // 64 * 64)
                lines.append(f"  void *b{k} = aligned_alloc(64, {n});")
            else:
                lines.append(f'  void *b{k} = buddy_read(dir, "{symbol}.a{k}.bin", {_nbytes(s)});')
            lines.append(f"  d{k}.allocated = d{k}.aligned = b{k}; d{k}.offset = 0;")
            stride = 1
            for d in reversed(range(rank)):
                lines.append(f"  d{k}.sizes[{d}] = {s.shape[d]}; d{k}.strides[{d}] = {stride};")
                stride *= s.shape[d]
        args = ", ".join(f"&d{k}" for k in range(len(signature)))
        lines.append(f"  void *args[{len(signature)}] = {{{args}}};")
        lines.append(f"  {symbol}(args);")
        for k, s in enumerate(signature):
            if s.role == "output":
                lines.append(f'  buddy_write(dir, "{symbol}.o{k}.bin", b{k}, {_nbytes(s)});')
        lines.append("  " + " ".join(f"free(b{k});" for k in range(len(signature))))
        lines.append("}")
    lines.append("\nint main(int argc, char **argv) {")
    lines.append('  if (argc != 2) { fprintf(stderr, "usage: %s <io-dir>\\n", argv[0]); return 2; }')
    for e, (symbol, _) in enumerate(entries):
        lines.append(f'  run{e}(argv[1]); printf("ran {symbol}\\n");')
    lines += ["  return 0;", "}", ""]
    return "\n".join(lines)


def build_file_executable(object_files: Sequence[Path],
                          entries: Sequence[tuple[str, Sequence[ArgSpec]]], out: Path,
                          target: str | Target, *, openmp: bool = False) -> Path:
    """Model objects + a file-based driver for ``entries`` -> executable for ``target``
    (``openmp``: the objects call the OpenMP runtime, i.e. built with Buddy's kernels, the
    default, or ``openmp=True``: ``PipelineOptions.uses_openmp_runtime``)."""
    tgt = get_target(target)
    src = out.with_suffix(".c")
    src.write_text(generate_file_driver(entries))
    return link_executable([*object_files, src], out, tgt, openmp=openmp)


def write_inputs(io_dir: Path, symbol: str, signature: Sequence[ArgSpec],
                 arrays: Sequence[np.ndarray]) -> None:
    """Write the params + inputs of ``symbol`` where the file driver reads them."""
    specs = [s for s in signature if s.role != "output"]
    if len(arrays) != len(specs):
        raise ValueError(f"{symbol}: expected {len(specs)} params + inputs, got {len(arrays)}")
    for k, (s, a) in enumerate(zip(specs, arrays)):
        arr = np.asarray(a, order="C")  # (ascontiguousarray would make rank 0 rank 1)
        want = NUMPY_DTYPES[s.dtype]
        if arr.dtype != want or tuple(arr.shape) != s.shape:
            raise ValueError(f"{symbol}: {s.role} {s.name!r} expects {s.dtype}{list(s.shape)}, "
                             f"got {arr.dtype}{list(arr.shape)}")
        (Path(io_dir) / f"{symbol}.a{k}.bin").write_bytes(arr.astype(want.newbyteorder("<")).tobytes())


def read_outputs(io_dir: Path, symbol: str, signature: Sequence[ArgSpec]) -> list[np.ndarray]:
    """The outputs the file driver wrote for ``symbol``."""
    outs = []
    for k, s in enumerate(signature):
        if s.role != "output":
            continue
        path = Path(io_dir) / f"{symbol}.o{k}.bin"
        data = np.frombuffer(path.read_bytes(), dtype=NUMPY_DTYPES[s.dtype].newbyteorder("<"))
        if data.size != int(np.prod(s.shape, dtype=np.int64)):
            raise ValueError(f"{path}: {data.size} elements, expected shape {list(s.shape)}")
        outs.append(data.astype(NUMPY_DTYPES[s.dtype]).reshape(s.shape))
    return outs
