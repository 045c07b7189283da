"""MLIR of a quantized MLP (`buddy.gemmini.quantize.QuantMLP`) in the form
``buddy-opt --buddy-convert-linalg-to-gemmini`` turns into one ``gemmini.tile_matmul`` per
layer (docs/gemmini.md):

    func.func @<name>(%x: memref<MxK0xi8>, %out: memref<MxNLxi8> {buddy.output})

(``{buddy.output}`` marks the argument the function writes as its result, for
``buddy compile -t riscv64-gemmini``; name the function ``forward`` for that.)

For each layer: a zero ``linalg.fill`` of an i32 buffer, the int8 x int8 -> i32
``linalg.matmul`` of the activations with the layer's weights, and the requantizing
``linalg.generic`` (per-column int32 bias, float32 scale, ``math.roundeven``, clamp to
[-128, 127], ``fptosi`` to i8, then ``arith.maxsi`` with 0 if the layer has a ReLU) writing
the next int8 activations (an allocated buffer, or ``%out`` for the last layer). Weights and
biases are ``memref.global`` constants (hex dense literals, 64-byte aligned), so the
executable carries the model and Gemmini's DMA reads them from its data section.
Every buffer's allocation comes before the fill (the matcher only lets memory-effect-free
ops sit between the matmul and the generic).
"""
from __future__ import annotations

import numpy as np

from buddy.gemmini.quantize import QuantMLP

__all__ = ["mlp_mlir"]


def _hex(a: np.ndarray) -> str:
    return '"0x' + np.ascontiguousarray(a).tobytes().hex().upper() + '"'


def _mt(shape: tuple[int, ...], elem: str) -> str:
    return "memref<" + "x".join(map(str, shape)) + f"x{elem}>"


def _requant_body(scale: np.float32, relu: bool) -> str:
    lines = [
        "    ^bb0(%v: i32, %bv: i32, %o: i8):",
        "      %s = arith.addi %v, %bv : i32",
        "      %f = arith.sitofp %s : i32 to f32",
        f"      %c = arith.constant {np.float32(scale).item()!r} : f32",
        "      %m = arith.mulf %f, %c : f32",
        "      %r = math.roundeven %m : f32",
        "      %lo = arith.constant -128.0 : f32",
        "      %hi = arith.constant 127.0 : f32",
        "      %l = arith.maximumf %r, %lo : f32",
        "      %h = arith.minimumf %l, %hi : f32",
        "      %i = arith.fptosi %h : f32 to i8",
    ]
    if relu:
        lines += ["      %z8 = arith.constant 0 : i8",
                  "      %y = arith.maxsi %i, %z8 : i8",
                  "      linalg.yield %y : i8"]
    else:
        lines.append("      linalg.yield %i : i8")
    return "\n".join(lines)


def mlp_mlir(q: QuantMLP, batch: int, *, name: str = "f", c_interface: bool = True) -> str:
    """The module of `q` on `batch` inputs (see the module docstring)."""
    if batch <= 0:
        raise ValueError("mlp_mlir: batch must be positive")
    glob: list[str] = []
    body: list[str] = ["  %z = arith.constant 0 : i32"]
    for i, layer in enumerate(q.layers):
        k, n = layer.weight.shape
        tw, tb = _mt((k, n), "i8"), _mt((n,), "i32")
        glob.append(f'memref.global "private" constant @w{i} : {tw} = dense<{_hex(layer.weight)}>'
                    " {alignment = 64 : i64}")
        glob.append(f'memref.global "private" constant @b{i} : {tb} = dense<{_hex(layer.bias)}>'
                    " {alignment = 64 : i64}")
        body.append(f"  %w{i} = memref.get_global @w{i} : {tw}")
        body.append(f"  %b{i} = memref.get_global @b{i} : {tb}")
    k0 = q.layers[0].in_features
    x, tx = "%x", _mt((batch, k0), "i8")
    last = len(q.layers) - 1
    for i, layer in enumerate(q.layers):
        k, n = layer.weight.shape
        if k != int(_dims(tx)[1]):
            raise ValueError(f"mlp_mlir: layer {i} takes {k} features, gets {_dims(tx)[1]}")
        tw, tb = _mt((k, n), "i8"), _mt((n,), "i32")
        tacc, ty = _mt((batch, n), "i32"), _mt((batch, n), "i8")
        y = "%out" if i == last else f"%h{i}"
        if i != last:
            body.append(f"  {y} = memref.alloc() {{alignment = 64 : i64}} : {ty}")
        body += [
            f"  %acc{i} = memref.alloc() {{alignment = 64 : i64}} : {tacc}",
            f"  linalg.fill ins(%z : i32) outs(%acc{i} : {tacc})",
            f"  linalg.matmul ins({x}, %w{i} : {tx}, {tw}) outs(%acc{i} : {tacc})",
            "  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, "
            "affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], "
            'iterator_types = ["parallel", "parallel"]}',
            f"      ins(%acc{i}, %b{i} : {tacc}, {tb}) outs({y} : {ty}) {{",
            _requant_body(layer.scale, layer.relu),
            "  }",
            f"  memref.dealloc %acc{i} : {tacc}",
        ]
        if x != "%x":
            body.append(f"  memref.dealloc {x} : {tx}")
        x, tx = y, ty
    attrs = " attributes {llvm.emit_c_interface}" if c_interface else ""
    nl = q.layers[-1].out_features
    head = (f"func.func @{name}(%x: {_mt((batch, k0), 'i8')}, "
            f"%out: {_mt((batch, nl), 'i8')} {{buddy.output}})"
            f"{attrs} {{")
    return "\n".join(glob + [head] + body + ["  return", "}", ""])


def _dims(memref_type: str) -> list[int]:
    return [int(d) for d in memref_type[len("memref<"):-1].split("x")[:-1]]
