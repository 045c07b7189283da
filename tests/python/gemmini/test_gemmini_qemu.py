"""The riscv64 binary under qemu-user: linalg (int8 matmul + bias + requantization, or a plain
i32 matmul) -> buddy-opt's Gemmini passes -> LLVM IR -> llc-22 -> an object with the real
custom3 RoCC words, linked (riscv64-linux-gnu-g++ -static) with a driver
(qemu_matmul_main.cpp) and runtime/gemmini/sim/RoccTrap.cpp + the functional model, whose
SIGILL handler executes each word on the model. Checked: C bit for bit against NumPy, and the
counters of the run (instructions by funct, bytes in/out, MACs) equal to those of the
reference sequence of support/gemmini_tiling.py on the host model. Skipped only without
riscv64-linux-gnu-g++, llc-22 or qemu-riscv64-static."""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from buddy._runtime import gemmini
from buddy.toolchain import ToolNotFound, buddy_opt_path, find_tool
from support import gemmini_replay as gr
from support import gemmini_tiling as gt

ROOT = Path(__file__).resolve().parents[3]
RUNTIME = ROOT / "runtime" / "gemmini"
DRIVER = Path(__file__).with_name("qemu_matmul_main.cpp")
C_INTERFACE = "attributes {llvm.emit_c_interface} "
TO_LLVM = ["--buddy-lower-gemmini", "--convert-scf-to-cf", "--buddy-convert-gemmini-to-llvm",
           "--finalize-memref-to-llvm", "--convert-arith-to-llvm", "--convert-cf-to-llvm",
           "--convert-func-to-llvm",
           "--reconcile-unrealized-casts"]
# Debian's riscv64-linux-gnu-g++ targets rv64gc / lp64d; the kernel object must match.
LLC_FLAGS = ["-mtriple=riscv64-unknown-linux-gnu", "-mattr=+m,+a,+f,+d,+c",
             "-target-abi=lp64d", "-O2", "-filetype=obj"]
CXX_FLAGS = ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror"]


@dataclass(frozen=True)
class Tools:
    cxx: Path
    llc: Path
    qemu: Path
    translate: Path


def _which(name: str) -> Path:
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} not found (apt-get install g++-riscv64-linux-gnu llvm-22 "
                    "qemu-user-static)")
    return Path(found)


@pytest.fixture(scope="module")
def tools() -> Tools:
    cxx, qemu = _which("riscv64-linux-gnu-g++"), _which("qemu-riscv64-static")
    try:
        llc = find_tool("llc-22")
    except ToolNotFound as e:
        pytest.skip(str(e))
    return Tools(cxx, llc, qemu, find_tool("mlir-translate"))


@pytest.fixture(scope="module")
def sim_objects(tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """RoccTrap.o and Model.o for riscv64, compiled once per module."""
    out = tmp_path_factory.mktemp("gemmini-sim")
    objs = []
    for src in (RUNTIME / "sim" / "RoccTrap.cpp", RUNTIME / "lib" / "Model.cpp"):
        obj = out / (src.stem + ".o")
        subprocess.run(["nice", "-n", "10", str(tools.cxx), *CXX_FLAGS,
                        "-I", str(RUNTIME / "include"), "-c", str(src), "-o", str(obj)],
                       check=True)
        objs.append(obj)
    return objs


def build(tools: Tools, sim: list[Path], mlir_text: str, tmp: Path, passes: list[str], *,
          c_elem: str = "int8_t", bias_rank: int = 0, defines: tuple[str, ...] = ()) -> Path:
    """The static riscv64 executable of `mlir_text`'s @f (after `passes`) and the driver."""
    llvm_mlir = subprocess.run([str(buddy_opt_path()), *passes, *TO_LLVM], input=mlir_text,
                               capture_output=True, text=True, check=True).stdout
    ll = tmp / "f.ll"
    subprocess.run([str(tools.translate), "--mlir-to-llvmir", "-o", str(ll)], input=llvm_mlir,
                   text=True, check=True)
    kernel = tmp / "f.o"
    subprocess.run(["nice", "-n", "10", str(tools.llc), *LLC_FLAGS, str(ll), "-o", str(kernel)],
                   check=True)
    exe = tmp / "matmul"
    subprocess.run(["nice", "-n", "10", str(tools.cxx), *CXX_FLAGS, "-static",
                    "-I", str(RUNTIME / "sim"), f"-DC_ELEM={c_elem}", f"-DBIAS_RANK={bias_rank}",
                    *(f"-D{d}" for d in defines), str(DRIVER), str(kernel), *map(str, sim),
                    "-o", str(exe)], check=True)
    return exe


def run(tools: Tools, exe: Path, tmp: Path, m: int, n: int, k: int,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tools.qemu), str(exe), str(m), str(n), str(k), str(tmp)],
                          capture_output=True, text=True, check=check, timeout=600)


def parse_counters(stdout: str) -> dict[str, int]:
    return {key: int(value) for key, value in (line.split() for line in stdout.splitlines())}


FUNCT_NAMES = {gt.CONFIG: "config", gt.MVIN2: "mvin2", gt.MVIN: "mvin", gt.MVOUT: "mvout",
               gt.COMPUTE_PRELOADED: "compute_preloaded", gt.PRELOAD: "preload",
               gt.COMPUTE_ACCUMULATED: "compute_accumulated", gt.FLUSH: "flush",
               gt.MVIN3: "mvin3"}


def reference_counters(a: np.ndarray, b: np.ndarray, c: np.ndarray, bias: np.ndarray | None,
                       *, scale: float, dataflow: str, bias_per_row: bool) -> dict[str, int]:
    """The counters, in the report's keys, of the reference sequence (gemmini_tiling.py) run
    on the host model with copies of the operands."""
    model = gemmini.Model()
    addrs = [model.map(x.copy()) if x is not None else None for x in (a, b, c, bias)]
    m, k = a.shape
    prog = gt.tiled_matmul(addrs[0], addrs[1], addrs[2], addrs[3], m, b.shape[1], k,
                           bias_per_row=bias_per_row, scale=scale,
                           dataflow=gt.WS if dataflow == "ws" else gt.OS)
    model.run(prog)
    cnt = model.counters()
    out = {"traps": len(prog), "instructions": cnt["instructions"], "bytes_in": cnt["bytes_in"],
           "bytes_out": cnt["bytes_out"], "macs": cnt["macs"]}
    out.update({f"funct.{FUNCT_NAMES[f]}": v for f, v in cnt["by_funct"].items() if v})
    return out


def write_inputs(tmp: Path, a: np.ndarray, b: np.ndarray, c: np.ndarray,
                 bias: np.ndarray | None) -> None:
    for name, x in (("a", a), ("b", b), ("c", c), ("bias", bias)):
        if x is not None:
            (tmp / f"{name}.bin").write_bytes(np.ascontiguousarray(x).tobytes())


REQUANT_CASES = [
    # not a multiple of 16 in any dimension, one tile
    pytest.param(33, 45, 70, 1 / 1024, id="33x45x70"),
    # A (300 x 1000 int8) alone is larger than the 256 KiB scratchpad: 5 row tiles of C
    pytest.param(300, 40, 1000, 1 / 4096, id="300x40x1000"),
    # K split in two scratchpad tiles (128 + 29 blocks): C accumulates across them
    pytest.param(70, 50, 2500, 1 / 8192, id="70x50x2500"),
]


@pytest.mark.parametrize("dataflow", ["ws", "os"])
@pytest.mark.parametrize("bias", [None, "row", "full"])
@pytest.mark.parametrize("m,n,k,scale", REQUANT_CASES)
def test_requantized_matmul_under_qemu(tools, sim_objects, tmp_path, m, n, k, scale, bias,
                                       dataflow):
    a, b, bias_arr = gt.random_operands(m, n, k, bias, seed=3)
    c = np.full((m, n), 99, dtype=np.int8)
    write_inputs(tmp_path, a, b, c, bias_arr)
    text = gr.requant_mlir(m, n, k, bias, scale, func_attrs=C_INTERFACE)
    exe = build(tools, sim_objects, text, tmp_path,
                [f"--buddy-convert-linalg-to-gemmini=dataflow={dataflow}"],
                bias_rank={None: 0, "row": 1, "full": 2}[bias])
    counters = parse_counters(run(tools, exe, tmp_path, m, n, k).stdout)
    out = np.frombuffer((tmp_path / "out.bin").read_bytes(), dtype=np.int8).reshape(m, n)
    ref = gt.reference(a, b, bias_arr, scale, relu=False)
    np.testing.assert_array_equal(out, ref)
    assert (out != 99).any() and len(np.unique(out)) > 10  # a real result, not the fill
    # The binary executed exactly the reference instruction sequence: the same counters.
    assert counters == reference_counters(a, b, c, bias_arr, scale=scale, dataflow=dataflow,
                                          bias_per_row=bias == "full")
    assert counters["traps"] == counters["instructions"] > 0
    assert counters["macs"] == m * n * k
    assert counters["bytes_out"] == m * n


@pytest.mark.parametrize("dataflow", ["ws", "os"])
def test_i32_matmul_accumulates_under_qemu(tools, sim_objects, tmp_path, dataflow):
    # linalg.matmul without a fill: C (int32, nonzero) += A @ B, moved in through mvin3.
    m, n, k = 45, 37, 70
    rng = np.random.default_rng(17)
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    b = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
    c0 = rng.integers(-10**6, 10**6, size=(m, n), dtype=np.int32)
    write_inputs(tmp_path, a, b, c0, None)
    ta, tb, tc = gr.memref_type(a), gr.memref_type(b), gr.memref_type(c0)
    text = (f"func.func @f(%a: {ta}, %b: {tb}, %c: {tc}) {C_INTERFACE}{{\n"
            f"  linalg.matmul ins(%a, %b : {ta}, {tb}) outs(%c : {tc})\n  return\n}}\n")
    exe = build(tools, sim_objects, text, tmp_path,
                [f"--buddy-convert-linalg-to-gemmini=dataflow={dataflow}"], c_elem="int32_t")
    counters = parse_counters(run(tools, exe, tmp_path, m, n, k).stdout)
    out = np.frombuffer((tmp_path / "out.bin").read_bytes(), dtype=np.int32).reshape(m, n)
    np.testing.assert_array_equal(out, a.astype(np.int32) @ b.astype(np.int32) + c0)
    assert counters["macs"] == m * n * k
    assert counters["bytes_out"] == 4 * m * n  # full-width int32 rows
    assert counters["funct.mvin3"] > 0  # C enters the accumulator


def test_stray_dma_stops_the_run(tools, sim_objects, tmp_path):
    # C's window one byte short: the last mvout is outside every window -> the model's error.
    m, n, k = 17, 20, 9
    a, b, _ = gt.random_operands(m, n, k, None)
    write_inputs(tmp_path, a, b, np.zeros((m, n), np.int8), None)
    exe = build(tools, sim_objects, gr.requant_mlir(m, n, k, None, 0.25, func_attrs=C_INTERFACE),
                tmp_path, ["--buddy-convert-linalg-to-gemmini"], defines=("SHRINK_C_WINDOW",))
    r = run(tools, exe, tmp_path, m, n, k, check=False)
    assert r.returncode != 0
    assert "gemmini-sim: instruction" in r.stderr and "mvout" in r.stderr
    assert "outside every mapped window" in r.stderr
    assert not (tmp_path / "out.bin").exists()


def test_other_illegal_instruction_still_crashes(tools, sim_objects, tmp_path):
    # A custom0 word is not Gemmini's: the handler restores SIG_DFL and the process dies of
    # SIGILL after the Gemmini words before it ran.
    src = tmp_path / "bad.cpp"
    src.write_text(
        '#include "RoccTrap.h"\n#include <cstdint>\n#include <cstdio>\n'
        "int main() {\n"
        "  uint64_t st = 2, stride = 16;\n"
        '  asm volatile(".insn r 0x7b, 3, 0, x0, %0, %1" :: "r"(st), "r"(stride) : "memory");\n'
        "  buddy_gemmini_sim_report(stdout);\n"
        '  asm volatile(".insn r 0x0b, 3, 0, x0, %0, %1" :: "r"(st), "r"(stride) : "memory");\n'
        '  std::puts("after");\n  return 0;\n}\n')
    exe = tmp_path / "bad"
    subprocess.run(["nice", "-n", "10", str(tools.cxx), *CXX_FLAGS, "-static", "-I",
                    str(RUNTIME / "sim"), str(src), *map(str, sim_objects), "-o", str(exe)],
                   check=True)
    r = subprocess.run([str(tools.qemu), str(exe)], capture_output=True, text=True, timeout=60)
    assert r.returncode in (-4, 128 + 4), (r.returncode, r.stderr)  # SIGILL
    assert parse_counters(r.stdout) == {"traps": 1, "instructions": 1, "funct.config": 1,
                                        "bytes_in": 0, "bytes_out": 0, "macs": 0}
    assert "is not a custom3 (0x7b) RoCC word" in r.stderr
    assert "after" not in r.stdout
