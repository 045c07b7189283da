"""MLIR of a quantized network (`buddy.gemmini.quantize.QuantModel`: an MLP or a LeNet-style
CNN) in the form ``buddy-opt --buddy-convert-linalg-to-gemmini`` turns into one
``gemmini.tile_matmul`` per Linear and per Conv2d (docs/gemmini.md):

    func.func @<name>(%x: memref<Mx...xi8>, %out: memref<MxNLxi8> {buddy.output})

(``{buddy.output}`` marks the argument the function writes as its result, for
``buddy compile -t riscv64-gemmini``; name the function ``forward`` for that.)

For each Linear: a zero ``linalg.fill`` of an i32 buffer, the int8 x int8 -> i32
``linalg.matmul`` of the activations with the layer's weights, and the requantizing
``linalg.generic`` (per-column int32 bias, float32 scale, ``math.roundeven``, clamp to
[-128, 127], ``fptosi`` to i8, then ``arith.maxsi`` with 0 if the layer has a ReLU) writing
the next int8 activations (an allocated buffer, or ``%out`` for the last layer). A Conv2d is
the same with ``linalg.conv_2d_nchw_fchw`` (PyTorch's layouts; strides as the op's
attribute) and a 4-D generic (bias per channel); its zero padding is a zero-filled buffer the
input is copied into (``memref.copy`` to a subview), before the accumulator's fill (the pass
folds it into the im2col). MaxPool2d
is ``linalg.pooling_nchw_max`` into a buffer filled with -128 and Flatten a
``memref.collapse_shape``: both stay on the core. Weights and biases are ``memref.global``
constants (hex dense literals, 64-byte aligned), so the executable carries the model and
Gemmini's DMA reads them from its data section. Every buffer's allocation comes before the
fill (the matcher only lets memory-effect-free ops sit between the matmul/conv and the
generic).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from buddy.gemmini.quantize import Flatten, MaxPool, QuantConv, QuantLayer, QuantModel

__all__ = ["model_mlir", "requant_generic", "padded_input"]


def _hex(a: np.ndarray) -> str:
    return '"0x' + np.ascontiguousarray(a).tobytes().hex().upper() + '"'


def _mt(shape: tuple[int, ...], elem: str) -> str:
    return "memref<" + "x".join(map(str, shape)) + f"x{elem}>"


def _requant_body(scale: np.float32, relu: bool, bias: bool) -> str:
    head = (["    ^bb0(%v: i32, %bv: i32, %o: i8):", "      %s = arith.addi %v, %bv : i32"]
            if bias else ["    ^bb0(%s: i32, %o: i8):"])
    lines = head + [
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


def requant_generic(acc: str, bias: str | None, out: str, shape: tuple[int, ...],
                    channel: int, scale: np.float32, relu: bool) -> list[str]:
    """The requantizing generic (the lines) from the i32 `acc` (+ `bias`, one i32 per index of
    dimension `channel`, if given) into the i8 `out`, both shaped `shape`."""
    dims = ", ".join(f"d{i}" for i in range(len(shape)))
    ident = f"affine_map<({dims}) -> ({dims})>"
    iters = ", ".join(['"parallel"'] * len(shape))
    tacc, ty = _mt(shape, "i32"), _mt(shape, "i8")
    maps = [ident, f"affine_map<({dims}) -> (d{channel})>", ident] if bias else [ident, ident]
    ins = (f"ins({acc}, {bias} : {tacc}, {_mt((shape[channel],), 'i32')})" if bias
           else f"ins({acc} : {tacc})")
    return [
        f"  linalg.generic {{indexing_maps = [{', '.join(maps)}], iterator_types = [{iters}]}}",
        f"      {ins} outs({out} : {ty}) {{",
        _requant_body(scale, relu, bias is not None),
        "  }",
    ]


def padded_input(x: str, shape: tuple[int, ...], padding: int, name: str,
                 nchw: bool = True) -> tuple[list[str], str, str]:
    """(lines, value, type): the int8 4-D `x` zero-padded by `padding` in H and W (dims 2, 3
    for NCHW, 1, 2 for NHWC), as a buffer `name` filled with ``%pad`` (an i8 0 in scope) that
    `x` is copied into; free it after the conv."""
    spatial = (2, 3) if nchw else (1, 2)
    full = tuple(d + 2 * padding if i in spatial else d for i, d in enumerate(shape))
    strides = [int(np.prod(full[i + 1:])) for i in range(4)]
    offs = [padding if i in spatial else 0 for i in range(4)]
    offset = sum(o * st for o, st in zip(offs, strides))
    tp = _mt(full, "i8")
    sub = (_mt(shape, "i8")[:-1] + f", strided<[{', '.join(map(str, strides))}], "
           f"offset: {offset}>>")
    sv = name + "s"
    return [
        f"  {name} = memref.alloc() {{alignment = 64 : i64}} : {tp}",
        f"  linalg.fill ins(%pad : i8) outs({name} : {tp})",
        f"  {sv} = memref.subview {name}[{', '.join(map(str, offs))}] "
        f"[{', '.join(map(str, shape))}] [1, 1, 1, 1] : {tp} to {sub}",
        f"  memref.copy {x}, {sv} : {_mt(shape, 'i8')} to {sub}",
    ], name, tp


@dataclass
class _Emitter:
    """Writes the body one layer at a time; ``x``/``shape`` are the current activations,
    ``base`` the buffer to free once they are consumed (None: an argument or a view of one)."""
    batch: int
    last: int
    glob: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=lambda: ["  %z = arith.constant 0 : i32"])
    x: str = "%x"
    shape: tuple[int, ...] = ()
    base: tuple[str, str] | None = None

    def _constants(self, i: int, weight: np.ndarray, bias: np.ndarray) -> tuple[str, str]:
        tw, tb = _mt(weight.shape, "i8"), _mt(bias.shape, "i32")
        self.glob.append(f'memref.global "private" constant @w{i} : {tw} = '
                         f'dense<{_hex(weight)}> {{alignment = 64 : i64}}')
        self.glob.append(f'memref.global "private" constant @b{i} : {tb} = '
                         f'dense<{_hex(bias)}> {{alignment = 64 : i64}}')
        self.body.append(f"  %w{i} = memref.get_global @w{i} : {tw}")
        self.body.append(f"  %b{i} = memref.get_global @b{i} : {tb}")
        return f"%w{i}", f"%b{i}"

    def _output(self, i: int, shape: tuple[int, ...]) -> str:
        y = "%out" if i == self.last else f"%h{i}"
        if i != self.last:
            self.body.append(f"  {y} = memref.alloc() {{alignment = 64 : i64}} : "
                             f"{_mt(shape, 'i8')}")
        return y

    def _advance(self, y: str, shape: tuple[int, ...], base: tuple[str, str] | None) -> None:
        if self.base is not None:
            self.body.append(f"  memref.dealloc {self.base[0]} : {self.base[1]}")
        self.x, self.shape, self.base = y, shape, base

    def _own(self, y: str, shape: tuple[int, ...]) -> tuple[str, str] | None:
        return None if y == "%out" else (y, _mt(shape, "i8"))

    def _gemm(self, i: int, op_lines: list[str], shape: tuple[int, ...],
              layer: QuantLayer | QuantConv, b: str, pre_free: list[str]) -> None:
        """Fill, `op_lines` (the matmul/conv into %acc<i>), requant (bias per dim 1)."""
        y = self._output(i, shape)
        tacc = _mt(shape, "i32")
        self.body += [f"  %acc{i} = memref.alloc() {{alignment = 64 : i64}} : {tacc}",
                      f"  linalg.fill ins(%z : i32) outs(%acc{i} : {tacc})", *op_lines]
        self.body += requant_generic(f"%acc{i}", b, y, shape, 1, layer.scale, layer.relu)
        self.body.append(f"  memref.dealloc %acc{i} : {tacc}")
        self.body += pre_free
        self._advance(y, shape, self._own(y, shape))

    def linear(self, i: int, layer: QuantLayer) -> None:
        k, n = layer.weight.shape
        if len(self.shape) != 2 or k != self.shape[1]:
            raise ValueError(f"model_mlir: layer {i} takes {k} features, gets {self.shape}")
        w, b = self._constants(i, layer.weight, layer.bias)
        tx, tw = _mt(self.shape, "i8"), _mt(layer.weight.shape, "i8")
        mm = [f"  linalg.matmul ins({self.x}, {w} : {tx}, {tw}) "
              f"outs(%acc{i} : {_mt((self.batch, n), 'i32')})"]
        self._gemm(i, mm, (self.batch, n), layer, b, [])

    def conv(self, i: int, layer: QuantConv) -> None:
        f, c, _, _ = layer.weight.shape
        if len(self.shape) != 4 or c != self.shape[1]:
            raise ValueError(f"model_mlir: conv {i} takes {c} channels, gets {self.shape}")
        w, b = self._constants(i, layer.weight, layer.bias)
        n, _, h, wd = self.shape
        x, tx, free = self.x, _mt(self.shape, "i8"), []
        if layer.padding:
            lines, x, tx = padded_input(self.x, self.shape, layer.padding, f"%p{i}")
            self.body += lines
            free = [f"  memref.dealloc {x} : {tx}"]
        oh, ow = layer.out_hw(h, wd)
        s = layer.stride
        cv = [f"  linalg.conv_2d_nchw_fchw {{dilations = dense<1> : tensor<2xi64>, "
              f"strides = dense<{s}> : tensor<2xi64>}}",
              f"      ins({x}, {w} : {tx}, {_mt(layer.weight.shape, 'i8')}) "
              f"outs(%acc{i} : {_mt((n, f, oh, ow), 'i32')})"]
        self._gemm(i, cv, (n, f, oh, ow), layer, b, free)

    def max_pool(self, i: int, op: MaxPool) -> None:
        if len(self.shape) != 4:
            raise ValueError(f"model_mlir: max pool {i} on a {len(self.shape)}-D input")
        n, c, h, w = self.shape
        shape = (n, c, *op.out_hw(h, w))
        y = self._output(i, shape)
        ty, tk = _mt(shape, "i8"), _mt((op.kernel, op.kernel), "i8")
        self.body += [
            f"  %k{i} = memref.alloc() : {tk}",
            f"  linalg.fill ins(%lowest : i8) outs({y} : {ty})",
            f"  linalg.pooling_nchw_max {{dilations = dense<1> : tensor<2xi64>, "
            f"strides = dense<{op.stride}> : tensor<2xi64>}}",
            f"      ins({self.x}, %k{i} : {_mt(self.shape, 'i8')}, {tk}) outs({y} : {ty})",
            f"  memref.dealloc %k{i} : {tk}",
        ]
        self._advance(y, shape, self._own(y, shape))

    def flatten(self, i: int) -> None:
        n = self.shape[0]
        shape = (n, int(np.prod(self.shape[1:])))
        groups = "[[0], [" + ", ".join(str(d) for d in range(1, len(self.shape))) + "]]"
        y = f"%flat{i}"
        self.body.append(f"  {y} = memref.collapse_shape {self.x} {groups} : "
                         f"{_mt(self.shape, 'i8')} into {_mt(shape, 'i8')}")
        # The view keeps the buffer: freed when the flattened activations are consumed.
        self.x, self.shape = y, shape


def _input_shape(q: QuantModel, batch: int) -> tuple[int, ...]:
    first = q.layers[0]
    if isinstance(first, QuantLayer):
        return batch, first.in_features
    raise ValueError("model_mlir: a model starting with a conv or pool needs input_hw")


def model_mlir(q: QuantModel, batch: int, *, name: str = "f", c_interface: bool = True,
               input_chw: tuple[int, int, int] | None = None) -> str:
    """The module of `q` on `batch` inputs (see the module docstring); `input_chw` is the
    per-image [C, H, W] of a CNN (an MLP's input is [batch, in_features])."""
    if batch <= 0:
        raise ValueError("model_mlir: batch must be positive")
    shape = (batch, *input_chw) if input_chw is not None else _input_shape(q, batch)
    if not isinstance(q.layers[-1], (QuantLayer, QuantConv)):
        raise ValueError("model_mlir: the last layer must be a Linear or Conv2d")
    em = _Emitter(batch=batch, last=len(q.layers) - 1, shape=shape)
    em.body += ["  %pad = arith.constant 0 : i8", "  %lowest = arith.constant -128 : i8"]
    for i, op in enumerate(q.layers):
        if isinstance(op, QuantLayer):
            em.linear(i, op)
        elif isinstance(op, QuantConv):
            em.conv(i, op)
        elif isinstance(op, MaxPool):
            em.max_pool(i, op)
        elif isinstance(op, Flatten):
            em.flatten(i)
    attrs = " attributes {llvm.emit_c_interface}" if c_interface else ""
    head = (f"func.func @{name}(%x: {_mt(shape, 'i8')}, "
            f"%out: {_mt(em.shape, 'i8')} {{buddy.output}})"
            f"{attrs} {{")
    return "\n".join(em.glob + [head] + em.body + ["  return", "}", ""])
