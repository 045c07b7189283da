"""The target table: one row per CPU target Buddy generates code for.

Adding a CPU means adding one ``Target`` row here (plus its tests). Every other
part of the backend reads the row: buddy-opt runs the named pipeline ``pipeline``,
llc/opt get ``triple``/``cpu``/``features`` (llc also ``abi``), the linker step
uses ``cc``/``link_static`` and links the ``simulator``'s objects, tests run cross
binaries through ``qemu``.
"""

from __future__ import annotations

import dataclasses
import platform
from dataclasses import dataclass
from pathlib import Path

from buddy.toolchain import ToolNotFound, find_tool, llc_targets


@dataclass(frozen=True)
class Target:
    """Everything the backend needs to know about one CPU target."""

    name: str
    triple: str
    cpu: str
    features: str  # llc/opt -mattr, comma separated, may be empty
    vector_bits: int  # native SIMD register width used for vectorization
    llc: str = "llc"  # tool names resolved through buddy.toolchain.find_tool
    opt: str = "opt"
    cc: str = "cc"
    qemu: tuple[str, ...] = ()  # runner for cross executables (empty: native)
    link_static: bool = False  # cross executables are linked -static
    llvm_arch: str = "x86-64"  # name in `llc --version` Registered Targets
    description: str = ""
    # The buddy-opt pipeline (backend/pipeline.py): "cpu" (`--buddy-cpu-pipeline`, tensor-level
    # input) or "gemmini" (`--buddy-gemmini-pipeline`, memref-level input).
    pipeline: str = "cpu"
    abi: str = ""  # llc -target-abi (empty: llc's default)
    # Accelerator simulator linked into executables: "" or "gemmini" (RoccTrap + the functional
    # model, compiled for the target by backend/gemmini_sim.py).
    simulator: str = ""

    @property
    def is_native(self) -> bool:
        return not self.qemu

    def codegen_flags(self) -> list[str]:
        """-mtriple/-mcpu/-mattr for llc and opt."""
        flags = [f"-mtriple={self.triple}", f"-mcpu={self.cpu}"]
        if self.features:
            flags.append(f"-mattr={self.features}")
        return flags

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "x86-avx2",
            "x86_64-unknown-linux-gnu",
            "x86-64-v3",
            "+avx2,+fma,+f16c",
            256,
            description="x86-64 with AVX2 + FMA (Haswell and later, Zen 1+)",
        ),
        Target(
            "x86-avx512",
            "x86_64-unknown-linux-gnu",
            "x86-64-v4",
            "+avx512f,+avx512bw,+avx512dq,+avx512vl,+fma,-prefer-256-bit",
            512,
            description="x86-64 with AVX-512 F/BW/DQ/VL (Skylake-X+, Zen 4+)",
        ),
        Target(
            "aarch64-neon",
            "aarch64-unknown-linux-gnu",
            "generic",
            "+neon",
            128,
            cc="aarch64-linux-gnu-gcc",
            qemu=("qemu-aarch64-static",),
            link_static=True,
            llvm_arch="aarch64",
            description="64-bit Arm with Neon (cross: static binary under qemu)",
        ),
        Target(
            "riscv64-rvv",
            "riscv64-unknown-linux-gnu",
            "generic-rv64",
            "+m,+a,+f,+d,+c,+v",
            256,
            llc="llc-22",
            opt="opt-22",
            cc="riscv64-linux-gnu-gcc",
            qemu=("qemu-riscv64-static", "-cpu", "rv64,v=true,vlen=256"),
            link_static=True,
            llvm_arch="riscv64",
            description="RV64GCV with the vector extension (Debian llc-22; qemu vlen=256)",
        ),
        Target(
            "riscv64-gemmini",
            "riscv64-unknown-linux-gnu",
            "generic-rv64",
            "+m,+a,+f,+d,+c",
            0,  # no vector unit: int8 matmuls go to Gemmini, the rest is scalar
            llc="llc-22",
            opt="opt-22",
            cc="riscv64-linux-gnu-g++",  # links the C++ simulator (RoccTrap + Model)
            qemu=("qemu-riscv64-static",),
            link_static=True,
            llvm_arch="riscv64",
            description="RV64GC + Gemmini: int8 matmuls as RoCC words (memref-level MLIR; "
                        "simulated under qemu)",
            pipeline="gemmini",
            abi="lp64d",  # Debian's cross g++ links rv64gc / lp64d objects only
            simulator="gemmini",
        ),
    )
}

DEFAULT_TARGET = "host"


def _cpu_flags(cpuinfo: str) -> tuple[str, set[str]]:
    vendor = ""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "vendor_id" and not vendor:
            vendor = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return vendor, flags


def detect_host(cpuinfo_path: str = "/proc/cpuinfo") -> Target:
    """The table row that fits this machine, with the CPU model tuned for it."""
    machine = platform.machine()
    if machine in ("aarch64", "arm64"):
        return dataclasses.replace(TARGETS["aarch64-neon"], name="host", cc="cc", qemu=(),
                                   link_static=False)
    if machine not in ("x86_64", "AMD64"):
        raise ValueError(f"host CPU {machine!r} is not in the target table; "
                         f"pick one of {', '.join(TARGETS)} explicitly")
    try:
        vendor, flags = _cpu_flags(Path(cpuinfo_path).read_text())
    except OSError:
        vendor, flags = "", set()
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags:
        base = TARGETS["x86-avx512"]
        if "avx512_vnni" in flags:  # vpdpbusd: the int8-activation decode kernels
            base = dataclasses.replace(base, features=base.features + ",+avx512vnni")
        if vendor == "AuthenticAMD":
            cpu = "znver4"
        elif "avx512_fp16" in flags:
            cpu = "sapphirerapids"
        else:
            cpu = base.cpu
    elif {"avx2", "fma"} <= flags:
        base, cpu = TARGETS["x86-avx2"], TARGETS["x86-avx2"].cpu
    else:
        base = dataclasses.replace(TARGETS["x86-avx2"], features="", vector_bits=128)
        cpu = "x86-64"
    vnni = " + VNNI" if "+avx512vnni" in base.features else ""
    return dataclasses.replace(base, name="host", cpu=cpu,
                               description=f"this machine ({base.name}{vnni}, -mcpu={cpu})")


def get_target(name: str | Target) -> Target:
    """Row for ``name`` (``host`` is detected); unknown names list the table."""
    if isinstance(name, Target):
        return name
    if name == "host":
        return detect_host()
    try:
        return TARGETS[name]
    except KeyError:
        raise ValueError(
            f"unknown target {name!r}; known targets: host, {', '.join(TARGETS)}"
        ) from None


def check_tools(target: Target, *, link: bool = True, run: bool = False) -> dict[str, Path]:
    """Resolve the tools ``target`` needs; ToolNotFound names the package to install."""
    tools = {"llc": find_tool(target.llc), "opt": find_tool(target.opt)}
    if target.llvm_arch not in llc_targets(tools["llc"]):
        raise ToolNotFound(
            f"{tools['llc']} has no {target.llvm_arch} backend, needed for target "
            f"{target.name}. Install it with: "
            + "apt-get install llvm-22   # Debian's llc-22 has every LLVM backend"
        )
    if link:
        tools["cc"] = find_tool(target.cc)
    if run and target.qemu:
        tools["qemu"] = find_tool(target.qemu[0])
    return tools


def describe_targets() -> str:
    """Human-readable table for `--help`."""
    lines = ["  host            detected from /proc/cpuinfo (default)"]
    for t in TARGETS.values():
        lines.append(f"  {t.name:<15} {t.description} [{t.triple}, -mcpu={t.cpu}]")
    return "\n".join(lines)
