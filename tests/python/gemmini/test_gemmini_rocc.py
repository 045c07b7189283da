"""--buddy-convert-gemmini-to-llvm, assembled for riscv64 (Debian llc-22): every Gemmini
instruction op becomes one 32-bit RoCC word with opcode custom3 (0x7b), funct3 011 (xs1 +
xs2, no xd), rd = x0 and the op's funct7, in program order; the words decode to the same
fields as Buddy's encoder (`buddy._runtime.gemmini.encode`) with the registers llc chose.
The whole chain tile_matmul -> instructions -> LLVM IR -> riscv64 object is also built."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from buddy._runtime import gemmini
from buddy.toolchain import ToolNotFound, buddy_opt_path, find_tool

OPS = [("config_ex", 0), ("config_ld", 0), ("config_st", 0), ("mvin", 2), ("mvin2", 1),
       ("mvin3", 14), ("mvout", 3), ("preload", 6), ("compute_preloaded", 4),
       ("compute_accumulated", 5), ("flush", 7)]

TO_LLVM = ["--convert-scf-to-cf", "--buddy-convert-gemmini-to-llvm", "--finalize-memref-to-llvm",
           "--convert-arith-to-llvm", "--convert-cf-to-llvm",
           "--convert-func-to-llvm", "--reconcile-unrealized-casts"]


def _tools() -> tuple[Path, Path, Path]:
    try:
        llc = find_tool("llc-22")
    except ToolNotFound as e:
        pytest.skip(str(e))
    objdump = llc.parent / "llvm-objdump"
    if not objdump.exists():
        pytest.skip(f"no llvm-objdump next to {llc}")
    return llc, objdump, find_tool("mlir-translate")


def _words(mlir_text: str, tmp_path: Path, *passes: str) -> list[int]:
    llc, objdump, translate = _tools()
    llvm_mlir = subprocess.run([str(buddy_opt_path()), *passes, *TO_LLVM], input=mlir_text,
                               capture_output=True, text=True, check=True).stdout
    ll = subprocess.run([str(translate), "--mlir-to-llvmir"], input=llvm_mlir,
                        capture_output=True, text=True, check=True).stdout
    obj = tmp_path / "g.o"
    subprocess.run([str(llc), "-mtriple=riscv64-unknown-linux-gnu", "-mattr=+m", "-O2",
                    "-filetype=obj", "-o", str(obj)], input=ll, text=True, check=True)
    dis = subprocess.run([str(objdump), "-d", str(obj)], capture_output=True, text=True,
                         check=True).stdout
    words = []
    for line in dis.splitlines():
        m = re.match(r"\s*[0-9a-f]+:\s+((?:[0-9a-f]{2} ){4})", line)
        if m:
            b = bytes.fromhex(m.group(1).replace(" ", ""))
            words.append(int.from_bytes(b, "little"))
        else:
            m = re.match(r"\s*[0-9a-f]+:\s+([0-9a-f]{8})\s", line)
            if m:
                words.append(int(m.group(1), 16))
    return [w for w in words if w & 0x7F == 0x7B]


def test_every_instruction_op_is_one_rocc_word(tmp_path):
    body = "\n".join(f"  gemmini.{name} %x, %y" for name, _ in OPS)
    text = f"func.func @all(%x: i64, %y: i64) {{\n{body}\n  return\n}}\n"
    words = _words(text, tmp_path)
    assert len(words) == len(OPS)
    for w, (name, funct) in zip(words, OPS):
        d = gemmini.decode(w)
        assert d["opcode"] == gemmini.OPCODE_CUSTOM3 == 0x7B
        assert d["funct7"] == funct, name
        assert (d["xd"], d["xs1"], d["xs2"], d["rd"]) == (False, True, True, 0), name
        # %x and %y are the first two integer arguments: a0 (x10), a1 (x11).
        assert (d["rs1"], d["rs2"]) == (10, 11), name
        assert w == gemmini.encode(funct, 10, 11)


def test_lowered_matmul_assembles_for_riscv64(tmp_path):
    text = ("func.func @mm(%a: memref<17x33xi8>, %b: memref<33x9xi8>, %c: memref<17x9xi8>) {\n"
            "  gemmini.tile_matmul %a, %b -> %c {scale = 0.015625 : f32} : "
            "memref<17x33xi8>, memref<33x9xi8>, memref<17x9xi8>\n  return\n}\n")
    words = _words(text, tmp_path, "--buddy-lower-gemmini")
    functs = [gemmini.decode(w)["funct7"] for w in words]
    # The static words: config_ex, config_st, 3 x config_ld, 2 mvin (A), mvin2 (B) of the
    # two full K blocks (an scf.for of 2 iterations, kept as a loop by llc) and of the
    # 1-row one, 6 preload/compute pairs (3 K blocks x 2 row blocks, all different: the
    # first K block overwrites, the last has 1 row), 2 mvout, flush.
    assert functs == [0] * 5 + [2] * 2 + [1] * 2 + [6, 4, 6, 5] * 3 + [3] * 2 + [7]
