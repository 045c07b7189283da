"""`buddy.compile(model, inputs)` behaves as eager does: in-place updates of inputs and
buffers reach the caller's tensors, outputs keep their pytree structure (dicts, tuples,
Python scalars), unused arguments are accepted, a value returned twice comes back twice, and
importing never changes the example inputs or the model. Each case is run side by side with
eager for several calls, on the reference lowering (fast to compile) and the default one."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
import torch
from torch import nn

import buddy


class AddInPlace(nn.Module):
    def forward(self, a: torch.Tensor) -> torch.Tensor:
        a.add_(1)
        return a * 2


class ReturnsMutatedInput(nn.Module):
    def forward(self, a: torch.Tensor) -> torch.Tensor:
        a.mul_(3)
        return a


class DictOut(nn.Module):
    def forward(self, a: torch.Tensor) -> dict:
        return {"x": a + 1, "y": a * 2, "nested": [a - 1, (a * a,)]}


class ScalarOut(nn.Module):
    def forward(self, a: torch.Tensor) -> tuple:
        return a + 1, 3, None, "tag"


class Unused(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return a + c


class OneTuple(nn.Module):
    def forward(self, a: torch.Tensor) -> tuple:
        return (a + 1,)


class SameTwice(nn.Module):
    def forward(self, a: torch.Tensor) -> tuple:
        b = a + 1
        return b, b


class Counter(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("cnt", torch.zeros(2))

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        self.cnt += 1
        return a + self.cnt


class ReturnsBuffer(nn.Module):
    """Returns the buffer it updates: one value, two results (buddy-opt used to segfault)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("total", torch.zeros(3))

    def forward(self, a: torch.Tensor) -> tuple:
        self.total.add_(a)
        return self.total, a * 2


class ScalarArg(nn.Module):
    def forward(self, a: torch.Tensor, k: int) -> torch.Tensor:
        return a * k


CASES: list[tuple[str, Callable[[], nn.Module], Callable[[], tuple]]] = [
    ("add_in_place", AddInPlace, lambda: (torch.arange(3.0),)),
    ("returns_mutated_input", ReturnsMutatedInput, lambda: (torch.arange(3.0),)),
    ("dict_out", DictOut, lambda: (torch.arange(4.0),)),
    ("scalar_out", ScalarOut, lambda: (torch.arange(3.0),)),
    ("unused_input", Unused, lambda: (torch.arange(3.0), torch.ones(5), torch.ones(3))),
    ("one_tuple", OneTuple, lambda: (torch.arange(3.0),)),
    ("same_twice", SameTwice, lambda: (torch.arange(3.0),)),
    ("buffer_counter", Counter, lambda: (torch.ones(2),)),
    ("returns_buffer", ReturnsBuffer, lambda: (torch.arange(3.0),)),
    ("scalar_arg", ScalarArg, lambda: (torch.arange(3.0), 4)),
]


def _same(got: Any, want: Any, where: str = "output") -> None:
    if isinstance(want, torch.Tensor):
        assert isinstance(got, torch.Tensor), f"{where}: {type(got).__name__}, eager gives a tensor"
        torch.testing.assert_close(got, want, msg=lambda m: f"{where}: {m}")
    elif isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), f"{where}: {got!r} vs {want!r}"
        for k in want:
            _same(got[k], want[k], f"{where}[{k!r}]")
    elif isinstance(want, (list, tuple)):
        assert type(got) is type(want) and len(got) == len(want), f"{where}: {got!r} vs {want!r}"
        for i, (g, w) in enumerate(zip(got, want)):
            _same(g, w, f"{where}[{i}]")
    else:
        assert got == want, f"{where}: {got!r} vs {want!r}"


@pytest.mark.parametrize("kernels", [False, True], ids=["reference", "default"])
@pytest.mark.parametrize("name,factory,make_args", CASES, ids=[c[0] for c in CASES])
def test_like_eager(tmp_path, name: str, factory, make_args, kernels: bool) -> None:
    torch.manual_seed(0)
    eager, compiled_model = factory().eval(), factory().eval()
    examples = make_args()
    before = [x.clone() if isinstance(x, torch.Tensor) else x for x in examples]
    mod = buddy.compile(compiled_model, examples, cache_dir=tmp_path, progress=False, kernels=kernels)
    for x, b in zip(examples, before):  # importing ran the model on copies
        if isinstance(x, torch.Tensor):
            torch.testing.assert_close(x, b, msg="buddy.compile changed an example input")
    for n, t in compiled_model.named_buffers():
        torch.testing.assert_close(t, dict(eager.named_buffers())[n], msg=f"buddy.compile changed buffer {n}")
    for step in range(3):
        args_e, args_b = make_args(), make_args()
        want = eager(*args_e)
        got = mod(*args_b)
        _same(got, want, f"call {step}")
        for i, (xe, xb) in enumerate(zip(args_e, args_b)):
            if isinstance(xe, torch.Tensor):
                torch.testing.assert_close(xb, xe, msg=lambda m: f"call {step}, argument {i} after the call: {m}")
        for n, t in eager.named_buffers():
            torch.testing.assert_close(dict(compiled_model.named_buffers())[n], t,
                                       msg=lambda m: f"call {step}, buffer {n}: {m}")


def test_numpy_arguments_give_numpy_and_are_updated(tmp_path) -> None:
    mod = buddy.compile(AddInPlace(), (torch.arange(3.0),), cache_dir=tmp_path, progress=False)
    a = np.arange(3, dtype=np.float32)
    out = mod(a)
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(a, [1, 2, 3])
    np.testing.assert_array_equal(out, [2, 4, 6])


def test_specialized_scalar_argument_is_checked(tmp_path) -> None:
    mod = buddy.compile(ScalarArg(), (torch.arange(3.0), 4), cache_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"argument 1 was 4 when the model was compiled.*got 5"):
        mod(torch.arange(3.0), 5)
    with pytest.raises(TypeError, match="model takes 2 arguments, got 1"):
        mod(torch.arange(3.0))


def test_loaded_artifact_updates_its_buffer(tmp_path) -> None:
    """From the artifact alone (weights from the read-only weight file) the buffer still counts."""
    mod = buddy.compile(Counter(), (torch.ones(2),), artifact_dir=tmp_path / "art", progress=False)
    del mod
    loaded = buddy.load(tmp_path / "art")
    eager = Counter()
    for _ in range(3):
        torch.testing.assert_close(loaded(torch.ones(2)), eager(torch.ones(2)))
