"""The riscv64 binary under qemu-user: linalg (int8 matmul + bias + requantization, or a plain
i32 matmul) -> buddy-opt's Gemmini passes -> LLVM IR -> llc-22 -> an object with the real
custom3 RoCC words, linked (riscv64-linux-gnu-g++ -static) with a driver
(qemu_matmul_main.cpp) and runtime/gemmini/sim/RoccTrap.cpp + the functional model, whose
SIGILL handler executes each word on the model. Checked: C bit for bit against NumPy, and the
counters of the run (instructions by funct, bytes in/out, MACs) equal to those of the
reference sequence of support/gemmini_tiling.py on the host model. Skipped only without
riscv64-linux-gnu-g++, llc-22 or qemu-riscv64-static."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from support import gemmini_qemu as gq
from support import gemmini_replay as gr
from support import gemmini_tiling as gt
from support.gemmini_qemu import Tools, parse_counters, reference_counters

RUNTIME = gq.RUNTIME
DRIVER = Path(__file__).with_name("qemu_matmul_main.cpp")
C_INTERFACE = "attributes {llvm.emit_c_interface} "
CXX_FLAGS = gq.CXX_FLAGS
# `tools` and `sim_objects` are fixtures of conftest.py.


def build(tools: Tools, sim: list[Path], mlir_text: str, tmp: Path, passes: list[str], *,
          c_elem: str = "int8_t", bias_rank: int = 0, defines: tuple[str, ...] = ()) -> Path:
    """The static riscv64 executable of `mlir_text`'s @f (after `passes`) and the driver."""
    kernel = gq.kernel_object(tools, mlir_text, tmp, passes)
    return gq.link(tools, sim, DRIVER, kernel, tmp / "matmul",
                   (f"C_ELEM={c_elem}", f"BIAS_RANK={bias_rank}", *defines))


def run(tools: Tools, exe: Path, tmp: Path, m: int, n: int, k: int,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tools.qemu), str(exe), str(m), str(n), str(k), str(tmp)],
                          capture_output=True, text=True, check=check, timeout=600)


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
