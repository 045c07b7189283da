"""The C++ runtime through its bindings: weight files (torch -> .bwt -> mmap,
bit for bit), their rejection when corrupt, and calls into real compiled code
lowered from MLIR with the pinned toolchain."""

from __future__ import annotations

import gc
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from buddy import runtime as rt
from buddy.toolchain import ToolNotFound, find_tool

DTYPES = {
    "f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16, "i8": torch.int8,
    "i32": torch.int32, "i64": torch.int64, "bool": torch.bool,
}
BITS = {torch.float32: torch.int32, torch.float16: torch.int16, torch.bfloat16: torch.int16}


def sample(dtype: torch.dtype, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if dtype.is_floating_point:
        t = (torch.randn(shape, generator=g) * 100).to(dtype)
        flat = t.view(-1)
        if flat.numel() >= 4:  # special values must survive bit for bit
            flat[0], flat[1], flat[2], flat[3] = float("nan"), float("inf"), -0.0, float("-inf")
        return t
    info = torch.iinfo(dtype)
    t = torch.randint(max(info.min, -2**40), min(info.max, 2**40), shape, generator=g, dtype=dtype)
    t.view(-1)[0] = info.min
    t.view(-1)[-1] = info.max
    return t


def bits(t: torch.Tensor) -> torch.Tensor:
    return t.view(BITS[t.dtype]) if t.dtype in BITS else t


# --- weight files ----------------------------------------------------------------

@pytest.fixture
def all_dtypes() -> dict[str, torch.Tensor]:
    shapes = [(3, 5), (7,), (2, 3, 4), (), (1, 9), (4, 1, 2)]
    return {f"t.{name}": sample(dt, shapes[i % len(shapes)], i)
            for i, (name, dt) in enumerate(DTYPES.items())}


def test_round_trip_is_bit_identical_for_every_dtype(tmp_path, all_dtypes):
    path = tmp_path / "w.bwt"
    rt.save_weights(path, all_dtypes)
    wf = rt.WeightFile(str(path), verify_data=True)
    assert wf.names() == list(all_dtypes)
    for spec in wf.specs():
        ref = all_dtypes[spec.name]
        assert spec.dtype == next(k for k, v in DTYPES.items() if v == ref.dtype)
        assert spec.shape == tuple(ref.shape)
        got = rt.to_torch(wf[spec.name], spec.dtype)
        assert got.dtype == ref.dtype and got.shape == ref.shape
        assert torch.equal(bits(got), bits(ref)), spec.name
    loaded = rt.load_weights(path, as_torch=True)
    for name, ref in all_dtypes.items():
        assert torch.equal(bits(loaded[name]), bits(ref))


def test_mmap_views_are_zero_copy_aligned_readonly_and_keep_the_file_mapped(tmp_path):
    path = tmp_path / "w.bwt"
    ref = np.arange(1000, dtype=np.float32).reshape(10, 100)
    rt.save_weights(path, {"a": ref, "b": np.ones(3, np.int8)})
    wf = rt.WeightFile(str(path))
    a1, a2 = wf["a"], wf["a"]
    assert a1.ctypes.data == a2.ctypes.data  # the same mapped bytes, no copies
    assert a1.ctypes.data % 64 == 0 and wf["b"].ctypes.data % 64 == 0
    assert not a1.flags.writeable
    with pytest.raises(ValueError):
        a1[0, 0] = 1
    del wf, a2
    gc.collect()
    np.testing.assert_array_equal(a1, ref)  # the array holds the mapping
    with pytest.raises(KeyError, match="no tensor named 'zz'"):
        rt.WeightFile(str(path))["zz"]


FNV_OFFSET, FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3


def checksum(data: bytes) -> int:
    """Word-wise FNV-1a 64 as documented in WeightFile.h: zero-pad to 8-byte
    little-endian words, fold each, then fold the byte length."""
    mask, h = 0xFFFFFFFFFFFFFFFF, FNV_OFFSET
    padded = data + bytes(-len(data) % 8)
    for (word,) in struct.iter_unpack("<Q", padded):
        h = ((h ^ word) * FNV_PRIME) & mask
    return ((h ^ len(data)) * FNV_PRIME) & mask


def parse_header(raw: bytes) -> dict:
    """The layout documented in runtime/include/buddy/WeightFile.h, independently."""
    magic, version, flags, count, doff, dsize, toff, tsize, dsum, hsum = struct.unpack_from(
        "<8sIIQQQQQQQ", raw, 0)
    entries, pos = [], toff
    for _ in range(count):
        (n,) = struct.unpack_from("<I", raw, pos)
        name = raw[pos + 4:pos + 4 + n].decode()
        pos += 4 + n
        code, rank, _res = struct.unpack_from("<BBH", raw, pos)
        pos += 4
        dims = struct.unpack_from(f"<{rank}q", raw, pos)
        pos += 8 * rank
        off, nbytes = struct.unpack_from("<QQ", raw, pos)
        pos += 16
        entries.append(dict(name=name, code=code, dims=dims, offset=off, nbytes=nbytes, at=pos))
    return dict(magic=magic, version=version, flags=flags, count=count, data_offset=doff,
                data_size=dsize, table_offset=toff, table_size=tsize, data_sum=dsum,
                header_sum=hsum, entries=entries, table_end=pos)


def rehash(raw: bytearray) -> None:
    h = parse_header(bytes(raw))
    toff, tsize = h["table_offset"], h["table_size"]
    struct.pack_into("<Q", raw, 64, checksum(bytes(raw[:64]) + bytes(raw[toff:toff + tsize])))


def test_file_layout_matches_the_documented_format(tmp_path, all_dtypes):
    path = tmp_path / "w.bwt"
    rt.save_weights(path, all_dtypes)
    raw = path.read_bytes()
    h = parse_header(raw)
    assert h["magic"] == b"BUDDYWT\0" and h["version"] == 1 and h["flags"] == 0
    assert h["count"] == len(all_dtypes)
    assert h["table_end"] == len(raw) == h["table_offset"] + h["table_size"]
    assert h["header_sum"] == checksum(raw[:64] + raw[h["table_offset"]:])
    assert h["data_sum"] == checksum(raw[h["data_offset"]:h["data_offset"] + h["data_size"]])
    for e, (name, t) in zip(h["entries"], all_dtypes.items()):
        assert e["name"] == name and e["dims"] == tuple(t.shape) and e["offset"] % 64 == 0
        assert raw[e["offset"]:e["offset"] + e["nbytes"]] == bits(t).numpy().tobytes()


@pytest.fixture
def good_file(tmp_path) -> bytes:
    path = tmp_path / "good.bwt"
    rt.save_weights(path, {"w": np.arange(12, dtype=np.float32).reshape(3, 4),
                           "v": np.arange(5, dtype=np.int64)})
    return path.read_bytes()


def corrupt(raw: bytes, how: str) -> bytes:
    b = bytearray(raw)
    h = parse_header(raw)
    e0 = h["entries"][0]
    e0_start = h["table_offset"]
    dtype_at = e0_start + 4 + len(e0["name"])
    dims_at = dtype_at + 4
    if how == "bad_magic":
        b[0:4] = b"GGUF"
    elif how == "unsupported_version":
        struct.pack_into("<I", b, 8, 99)
    elif how == "truncated":
        del b[50:]
    elif how == "header_out_of_bounds":
        del b[-5:]
    elif how == "checksum_mismatch":
        b[e0_start + 4] ^= 0x20  # 'w' -> 'W' without fixing the checksum
    elif how == "unknown_dtype":
        b[dtype_at] = 77
        rehash(b)
    elif how == "shape_overflow":
        struct.pack_into("<qq", b, dims_at, 2**62, 2**62)
        rehash(b)
    elif how == "tensor_out_of_bounds":
        struct.pack_into("<Q", b, dims_at + 16, h["table_offset"] + 64)
        rehash(b)
    elif how == "invalid_entry":
        b[e0_start + 4] = ord("v")  # duplicate name
        rehash(b)
    else:
        raise AssertionError(how)
    return bytes(b)


CORRUPTIONS = {
    "bad_magic": "bad magic",
    "unsupported_version": "unsupported version: version 99",
    "truncated": "truncated file: file has 50 bytes",
    "header_out_of_bounds": "header out of bounds",
    "checksum_mismatch": "checksum mismatch: header checksum",
    "unknown_dtype": "unknown dtype: tensor 'w' has dtype code 77",
    "shape_overflow": "overflow in shape product: tensor 'w'",
    "tensor_out_of_bounds": "tensor out of bounds: tensor 'w'",
    "invalid_entry": "invalid entry: duplicate tensor 'v'",
}


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_corrupt_files_raise_their_named_error(tmp_path, good_file, kind):
    bad = corrupt(good_file, kind)
    path = tmp_path / "bad.bwt"
    path.write_bytes(bad)
    for opener in (lambda: rt.WeightFile(str(path)), lambda: rt.WeightFile.from_bytes(bad)):
        with pytest.raises(rt.WeightFileError, match=CORRUPTIONS[kind]) as info:
            opener()
        assert info.value.kind == kind
        assert isinstance(info.value, ValueError)
    with pytest.raises(rt.WeightFileError, match=str(path)):
        rt.WeightFile(str(path))


def test_data_corruption_is_found_on_request(tmp_path, good_file):
    b = bytearray(good_file)
    b[parse_header(good_file)["data_offset"] + 5] ^= 1
    path = tmp_path / "bad.bwt"
    path.write_bytes(bytes(b))
    wf = rt.WeightFile(str(path))  # lazy: open does not touch the data pages
    with pytest.raises(rt.WeightFileError, match="data checksum") as info:
        wf.verify_data()
    assert info.value.kind == "checksum_mismatch"
    with pytest.raises(rt.WeightFileError, match="data checksum"):
        rt.WeightFile(str(path), verify_data=True)
    rt.WeightFile.from_bytes(good_file, verify_data=True)  # the intact file passes


def test_writer_rejects_bad_input_and_discards_on_error(tmp_path):
    path = tmp_path / "w.bwt"
    with rt.WeightFileWriter(str(path)) as w:
        with pytest.raises(TypeError, match="uint16.*dtype='bf16'"):
            w.add("u", np.zeros(3, np.uint16))
        with pytest.raises(TypeError, match="needs 4-byte elements"):
            w.add("x", np.zeros(3, np.int16), dtype="f32")
        with pytest.raises(ValueError, match="unknown dtype 'f8'"):
            w.add("x", np.zeros(3, np.int8), dtype="f8")
        w.add("x", np.zeros(3, np.float32))
        with pytest.raises(rt.WeightFileError, match="duplicate tensor name 'x'"):
            w.add("x", np.zeros(3, np.float32))
        w.add("strided", np.arange(12, dtype=np.int32).reshape(3, 4).T)  # copied contiguous
    np.testing.assert_array_equal(rt.WeightFile(str(path))["strided"],
                                  np.arange(12, dtype=np.int32).reshape(3, 4).T)
    with pytest.raises(RuntimeError, match="boom"):
        with rt.WeightFileWriter(str(tmp_path / "partial.bwt")) as w:
            w.add("x", np.zeros(3, np.float32))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == [path]


# --- calling compiled code -----------------------------------------------------------

MLIR = """
func.func @forward(%a: memref<4x5xf32>, %b: memref<4x5xf32>, %out: memref<4x5xf32>)
    attributes {llvm.emit_c_interface} {
  linalg.add ins(%a, %b : memref<4x5xf32>, memref<4x5xf32>) outs(%out : memref<4x5xf32>)
  return
}
func.func @twice(%x: memref<2x3xi64>, %out: memref<2x3xi64>) attributes {llvm.emit_c_interface} {
  linalg.add ins(%x, %x : memref<2x3xi64>, memref<2x3xi64>) outs(%out : memref<2x3xi64>)
  return
}
func.func @copy_bf16(%x: memref<2x4xbf16>, %out: memref<2x4xbf16>) attributes {llvm.emit_c_interface} {
  linalg.copy ins(%x : memref<2x4xbf16>) outs(%out : memref<2x4xbf16>)
  return
}
func.func @total(%x: memref<8xf32>, %out: memref<f32>) attributes {llvm.emit_c_interface} {
  linalg.reduce ins(%x : memref<8xf32>) outs(%out : memref<f32>) dimensions = [0]
    (%in: f32, %acc: f32) {
      %s = arith.addf %in, %acc : f32
      linalg.yield %s : f32
    }
  return
}
"""
LOWERING = ["--convert-linalg-to-loops", "--convert-scf-to-cf", "--finalize-memref-to-llvm",
            "--convert-arith-to-llvm", "--convert-cf-to-llvm", "--convert-func-to-llvm",
            "--reconcile-unrealized-casts"]
# The packed entry points written by hand, for a toolchain without the pass.
C_WRAPPERS = """
extern void _mlir_ciface_forward(void *, void *, void *);
extern void _mlir_ciface_twice(void *, void *);
extern void _mlir_ciface_total(void *, void *);
extern void _mlir_ciface_copy_bf16(void *, void *);
void _buddy_copy_bf16(void **args) { _mlir_ciface_copy_bf16(args[0], args[1]); }
void _buddy_forward(void **args) { _mlir_ciface_forward(args[0], args[1], args[2]); }
void _buddy_twice(void **args) { _mlir_ciface_twice(args[0], args[1]); }
void _buddy_total(void **args) { _mlir_ciface_total(args[0], args[1]); }
"""


def run(cmd: list) -> None:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    assert proc.returncode == 0, f"{cmd[0]} failed:\n{proc.stderr}"


def buddy_opt_with_packed_pass() -> Path | None:
    try:
        opt = find_tool("buddy-opt")
    except ToolNotFound:
        return None
    help_text = subprocess.run([str(opt), "--help"], capture_output=True, text=True).stdout
    return opt if "--buddy-emit-packed-interface" in help_text else None


def build_library(d: Path, packed: str) -> Path:
    """MLIR -> LLVM dialect -> LLVM IR -> object (llc) -> shared library."""
    (d / "m.mlir").write_text(MLIR)
    if packed == "pass":
        opt = buddy_opt_with_packed_pass()
        if opt is None:
            pytest.skip("buddy-opt with --buddy-emit-packed-interface is not built")
        passes = LOWERING + ["--buddy-emit-packed-interface"]
    else:
        opt = buddy_opt_with_packed_pass() or find_tool("mlir-opt")
        passes = LOWERING
    run([opt, d / "m.mlir", *passes, "-o", d / "m.llvm.mlir"])
    run([find_tool("mlir-translate"), "--mlir-to-llvmir", d / "m.llvm.mlir", "-o", d / "m.ll"])
    run([find_tool("llc"), "-O2", "-filetype=obj", "-relocation-model=pic", d / "m.ll",
         "-o", d / "m.o"])
    objs = [d / "m.o"]
    if packed == "c":
        (d / "wrap.c").write_text(C_WRAPPERS)
        objs.append(d / "wrap.c")
    run([find_tool("cc"), "-shared", "-fPIC", *objs, "-o", d / "libmodel.so"])
    return d / "libmodel.so"


@pytest.fixture(scope="module", params=["c", "pass"])
def libpath(request, tmp_path_factory) -> Path:
    return build_library(tmp_path_factory.mktemp(f"lib_{request.param}"), request.param)


ADD_IN = [("a", "f32", (4, 5)), ("b", "f32", (4, 5))]
ADD_OUT = [("out", "f32", (4, 5))]


def test_call_adds_like_numpy(libpath):
    lib = rt.Library(str(libpath))
    a = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    (out,) = lib.call("forward", [a, b], inputs=ADD_IN, outputs=ADD_OUT)
    np.testing.assert_array_equal(out, a + b)
    assert out.dtype == np.float32 and out.flags.c_contiguous and out.flags.writeable
    assert out.ctypes.data % 64 == 0
    # Non-contiguous inputs are copied to contiguous ones first.
    at = np.ascontiguousarray(a.T).T
    (out2,) = lib.call("forward", [at, b[:, :]], inputs=ADD_IN, outputs=ADD_OUT)
    np.testing.assert_array_equal(out2, a + b)
    bt = np.asfortranarray(b)
    (out3,) = lib.call("forward", [a, bt], inputs=ADD_IN, outputs=ADD_OUT)
    np.testing.assert_array_equal(out3, a + b)


def test_call_with_torch_tensors_and_weight_file_params(libpath, tmp_path):
    lib = rt.Library(str(libpath))
    fn = lib.function("forward", inputs=[rt.TensorSpec(*s) for s in ADD_IN], outputs=ADD_OUT)
    assert [s.name for s in fn.inputs] == ["a", "b"] and fn.outputs[0].shape == (4, 5)
    a, b = torch.randn(4, 5), torch.randn(4, 5)
    (out,) = rt.call(fn, a, b, as_torch=True)
    assert torch.equal(out, a + b)
    rt.save_weights(tmp_path / "p.bwt", {"a": a})
    param = rt.WeightFile(str(tmp_path / "p.bwt"))["a"]  # read-only mmap view, passed as is
    (out,) = fn(param, b.numpy())
    np.testing.assert_array_equal(out, (a + b).numpy())


def test_integer_and_rank0_functions(libpath):
    lib = rt.Library(str(libpath))
    x = np.arange(-3, 3, dtype=np.int64).reshape(2, 3) * (2**40)
    (y,) = lib.call("twice", [x], inputs=[("x", "i64", (2, 3))], outputs=[("i64", (2, 3))])
    np.testing.assert_array_equal(y, 2 * x)
    v = np.linspace(-1, 2, 8, dtype=np.float32)
    (s,) = lib.call("total", [v], inputs=[("x", "f32", (8,))], outputs=[("out", "f32", ())])
    assert s.shape == () and s.dtype == np.float32
    assert s == pytest.approx(float(v.sum()), rel=1e-6)


def test_bf16_arguments_travel_as_raw_bits(libpath):
    fn = rt.Library(str(libpath)).function("copy_bf16", inputs=[("x", "bf16", (2, 4))],
                                           outputs=[("y", "bf16", (2, 4))])
    x = torch.tensor([[1.0, -2.5, 3.140625, float("inf")], [0.0, -0.0, 1e-3, 65280.0]],
                     dtype=torch.bfloat16)
    (y,) = rt.call(fn, x, as_torch=True)
    assert y.dtype == torch.bfloat16 and torch.equal(bits(y), bits(x))
    (raw,) = fn(x.view(torch.int16).numpy())  # int16/uint16 bits are accepted for bf16
    assert raw.dtype == np.uint16
    np.testing.assert_array_equal(raw.view(np.int16), x.view(torch.int16).numpy())
    with pytest.raises(TypeError, match=r"argument 0 \('x'\): expected dtype bf16, got f16"):
        fn(np.zeros((2, 4), np.float16))


def test_argument_errors_name_the_argument(libpath):
    fn = rt.Library(str(libpath)).function("forward", inputs=ADD_IN, outputs=ADD_OUT)
    a = np.zeros((4, 5), np.float32)
    with pytest.raises(TypeError, match=r"takes 2 inputs \(a, b\), got 1"):
        fn(a)
    with pytest.raises(TypeError, match=r"takes 2 inputs \(a, b\), got 3"):
        fn(a, a, a)
    with pytest.raises(TypeError, match=r"argument 1 \('b'\): expected dtype f32, got f64"):
        fn(a, np.zeros((4, 5), np.float64))
    with pytest.raises(ValueError, match=r"argument 0 \('a'\): expected shape 4x5, got 5x4"):
        fn(np.zeros((5, 4), np.float32), a)
    with pytest.raises(ValueError, match=r"argument 1 \('b'\): expected shape 4x5, got 20"):
        fn(a, np.zeros(20, np.float32))
    with pytest.raises(TypeError, match=r"argument 0 \('a'\): unsupported array dtype"):
        fn(np.zeros((4, 5), np.uint32), a)
    with pytest.raises(ValueError, match="unknown dtype 'f7'"):
        rt.Library(str(libpath)).function("forward", inputs=[("a", "f7", (1,))], outputs=[])


def test_library_errors(libpath, tmp_path):
    with pytest.raises(rt.LibraryError, match="cannot load compiled model .*nope.so") as info:
        rt.Library(str(tmp_path / "nope.so"))
    assert isinstance(info.value, OSError)
    lib = rt.Library(str(libpath))
    assert lib.has("forward") and not lib.has("backward")
    with pytest.raises(rt.LibraryError, match="has no function '_buddy_backward'.*undefined symbol"):
        lib.function("backward", inputs=[], outputs=[])


def test_outputs_outlive_the_library(libpath):
    lib = rt.Library(str(libpath))
    fn = lib.function("forward", inputs=ADD_IN, outputs=ADD_OUT)
    a = np.full((4, 5), 1.5, np.float32)
    outs = [fn(a, a)[0] for _ in range(3)]
    del lib, fn
    gc.collect()
    for out in outs:
        np.testing.assert_array_equal(out, np.full((4, 5), 3.0, np.float32))
        out += 1  # owned, writable memory
    assert len({o.ctypes.data for o in outs}) == 3


def test_bound_call_reuses_its_buffers_and_rebinds_one_slot(libpath):
    fn = rt.Library(str(libpath)).function("forward", inputs=ADD_IN, outputs=ADD_OUT)
    a, b = np.full((4, 5), 1.0, np.float32), np.full((4, 5), 2.0, np.float32)
    out = rt.aligned_empty("f32", (4, 5))
    bound = fn.bind([a, b, out])
    assert isinstance(bound, rt.BoundCall) and len(bound) == 3 and bound.symbol == "_buddy_forward"
    assert bound() is None
    np.testing.assert_array_equal(out, a + b)
    a[...] = 10.0  # the bound arrays are the buffers the code reads: no copies
    bound()
    np.testing.assert_array_equal(out, a + b)
    assert bound.arrays[0] is a and bound[2] is out and bound[-1] is out
    # set() rebinds one slot (an input, or an output written in place)
    other = np.zeros((4, 5), np.float32)
    bound.set(2, other)
    bound()
    np.testing.assert_array_equal(other, a + b)
    bound.set(-3, b)  # negative indices count from the end
    bound()
    np.testing.assert_array_equal(other, b + b)
    # in place: an input slot and an output slot bound to the same array
    acc = np.ones((4, 5), np.float32)
    fn.bind([acc, acc, acc])()
    np.testing.assert_array_equal(acc, np.full((4, 5), 2.0, np.float32))


def test_bound_call_keeps_its_arrays_alive(libpath):
    fn = rt.Library(str(libpath)).function("forward", inputs=ADD_IN, outputs=ADD_OUT)
    out = np.zeros((4, 5), np.float32)
    bound = fn.bind([np.full((4, 5), 1.5, np.float32), np.full((4, 5), 0.5, np.float32), out])
    del fn
    gc.collect()
    bound()
    np.testing.assert_array_equal(out, np.full((4, 5), 2.0, np.float32))


def test_bound_call_checks_every_argument_once(libpath):
    fn = rt.Library(str(libpath)).function("forward", inputs=ADD_IN, outputs=ADD_OUT)
    a, out = np.zeros((4, 5), np.float32), np.zeros((4, 5), np.float32)
    with pytest.raises(TypeError, match=r"takes 3 arrays \(2 inputs, 1 outputs: a, b, out\), got 2"):
        fn.bind([a, a])
    with pytest.raises(TypeError, match=r"argument 1 \('b'\): expected dtype f32, got f64"):
        fn.bind([a, np.zeros((4, 5), np.float64), out])
    with pytest.raises(ValueError, match=r"argument 2 \('out'\): expected shape 4x5, got 5x4"):
        fn.bind([a, a, np.zeros((5, 4), np.float32)])
    with pytest.raises(ValueError, match=r"argument 0 \('a'\): bound arrays must be C-contiguous"):
        fn.bind([np.zeros((5, 4), np.float32).T, a, out])
    with pytest.raises(TypeError, match=r"argument 0 \('a'\): bound arguments must be NumPy arrays"):
        fn.bind([torch.zeros(4, 5), a, out])
    ro = np.zeros((4, 5), np.float32)
    ro.flags.writeable = False
    fn.bind([ro, ro, out])  # read-only inputs are fine
    with pytest.raises(ValueError, match=r"argument 2 \('out'\): is an output but its buffer is read-only"):
        fn.bind([a, a, ro])
    bound = fn.bind([a, a, out])
    with pytest.raises(ValueError, match=r"argument 1 \('b'\): expected shape 4x5, got 20"):
        bound.set(1, np.zeros(20, np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        bound.set(2, np.zeros((4, 10), np.float32)[:, ::2])
    with pytest.raises(IndexError, match="out of range"):
        bound.set(3, a)
    bound()  # a failed set() leaves the old binding in place
    np.testing.assert_array_equal(out, a + a)


def test_bound_call_bf16_and_rank0(libpath):
    lib = rt.Library(str(libpath))
    fn = lib.function("copy_bf16", inputs=[("x", "bf16", (2, 4))], outputs=[("y", "bf16", (2, 4))])
    x = torch.tensor([[1.0, -2.5, 3.140625, float("inf")], [0.0, -0.0, 1e-3, 65280.0]],
                     dtype=torch.bfloat16)
    y = np.zeros((2, 4), np.uint16)
    fn.bind([x.view(torch.int16).numpy(), y])()
    np.testing.assert_array_equal(y.view(np.int16), x.view(torch.int16).numpy())
    total = lib.function("total", inputs=[("x", "f32", (8,))], outputs=[("out", "f32", ())])
    v, s = np.arange(8, dtype=np.float32), np.zeros((), np.float32)
    total.bind([v, s])()
    assert float(s) == 28.0


def test_dtype_table_matches_the_runtime_and_imports_no_torch():
    import sys

    from buddy.runtime import dtypes

    assert set(dtypes.CALLABLE) == set(rt._runtime.dtypes())
    for name in dtypes.CALLABLE:
        row = dtypes.get(name)
        assert row.numpy.itemsize == row.itemsize
        assert np.dtype(rt.aligned_empty(name, (2,)).dtype) == row.numpy
        assert row.torch.itemsize == row.itemsize
        assert dtypes.from_torch(row.torch) == name and dtypes.from_mlir(row.mlir) == name
    assert not dtypes.get("u8").callable
    with pytest.raises(TypeError, match="dtype u8 is not supported by the Buddy runtime"):
        dtypes.check_callable("u8", "input 'x'")
    with pytest.raises(ValueError, match="unknown Buddy dtype 'f7'"):
        dtypes.get("f7")
    from buddy.backend.abi import ArgSpec
    from buddy.backend.signature import check_signature

    with pytest.raises(TypeError, match=r"input 'x': dtype u8 is not supported .*callable dtypes: f32"):
        check_signature([ArgSpec("input", "x", "u8", (2,)), ArgSpec("output", "y", "f32", (2,))])
    x = torch.tensor([1.0, -2.0], dtype=torch.bfloat16)
    assert torch.equal(dtypes.to_torch(dtypes.to_numpy(x), "bf16"), x)
    code = ("import sys; import buddy.runtime.dtypes as d; d.get('f32');"
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
