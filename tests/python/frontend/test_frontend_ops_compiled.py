"""The op samples through the real pipeline: `buddy.compile` (fast kernels on, host target).

test_frontend_ops.py runs each sample through the in-process reference runner. Here the linalg
samples are traced together into a few large modules, each compiled once by `buddy.compile`
exactly as a user's model would be, and every output is compared with eager. A batch that fails to
compile is split in halves until the failing sample is found, so the error names the op.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, List, Sequence, Tuple

import numpy as np
import pytest
import torch

from support.frontend_op_samples import SAMPLES, TOL, cases  # noqa: E402

import buddy  # noqa: E402
from buddy.frontend import import_fx, op_table  # noqa: E402
from buddy.frontend.exclusions import DECOMPOSED  # noqa: E402

BATCHES = 4
DTYPES = (torch.float32, torch.int64)


class Case:
    """One sample case with its tensors split from its constant arguments."""

    def __init__(self, op: str, dtype: torch.dtype, k: int) -> None:
        self.op, self.dtype, self.k = op, dtype, k
        fn, args = SAMPLES[op].cases[k](dtype, torch.Generator().manual_seed(1000 + k))
        self.fn = fn
        self.args = list(args)
        self.tensor_pos = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor)]
        self.check_values = SAMPLES[op].check_values
        self.atol = SAMPLES[op].atol

    @property
    def tensors(self) -> List[torch.Tensor]:
        return [self.args[i] for i in self.tensor_pos]

    def call(self, tensors: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        args = list(self.args)
        for i, t in zip(self.tensor_pos, tensors):
            args[i] = t
        out = self.fn(*args)
        return list(out) if isinstance(out, (tuple, list)) else [out]

    def __repr__(self) -> str:
        return f"{self.op}[{str(self.dtype)[6:]}, case {self.k}]"


def _all_cases() -> List[Case]:
    table = op_table("linalg")
    out = []
    for op in sorted({k for k in table if k.startswith("aten.")} | set(DECOMPOSED)):
        if op not in SAMPLES:
            continue
        for dt, k in cases(op):
            if dt in DTYPES:
                out.append(Case(op, dt, k))
    return out


def _combined(batch: Sequence[Case]) -> Tuple[Callable[..., Any], List[torch.Tensor]]:
    sizes = [len(c.tensor_pos) for c in batch]

    def fn(*flat: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        outs: List[torch.Tensor] = []
        i = 0
        for c, n in zip(batch, sizes):
            outs.extend(c.call(flat[i:i + n]))
            i += n
        return tuple(outs)

    return fn, [t for c in batch for t in c.tensors]


def _to_torch(a: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    t = torch.from_numpy(np.array(a, copy=True))  # keeps 0-d (ascontiguousarray does not)
    return t.view(torch.bfloat16) if like.dtype == torch.bfloat16 else t


def _compile_and_check(batch: List[Case], cache: Any) -> None:
    from torch.fx.experimental.proxy_tensor import make_fx

    fn, tensors = _combined(batch)
    try:
        gm = make_fx(fn)(*tensors)
        imported = import_fx(gm, tensors, dialect="linalg")
        compiled = buddy.compile(imported, cache_dir=cache, progress=False)
    except Exception as e:  # noqa: BLE001 - bisect to the sample that fails
        if len(batch) == 1:
            raise AssertionError(f"{batch[0]} does not compile through buddy.compile: {e}") from e
        half = len(batch) // 2
        _compile_and_check(batch[:half], cache)
        _compile_and_check(batch[half:], cache)
        return
    before = [t.clone() for t in tensors]
    result = compiled(*[t.numpy() for t in tensors])  # views: the compiled code must not write them
    for c in batch:
        for t in c.tensors:
            b = before[next(i for i, x in enumerate(tensors) if x is t)]
            assert torch.equal(t, b) or (t.is_floating_point() and torch.equal(t.isnan(), b.isnan())), \
                f"{c}: compiled code wrote into its input"
    got = list(result) if isinstance(result, tuple) else [result]
    want = [w for c in batch for w in c.call(c.tensors)]
    assert len(got) == len(want)
    j = 0
    for c in batch:
        n = len(c.call(c.tensors))
        for g, w in zip(got[j:j + n], want[j:j + n]):
            g = _to_torch(g, w)
            assert g.shape == w.shape, (c, g.shape, w.shape)
            if c.check_values:
                atol, rtol = TOL.get(w.dtype, (0, 0))
                torch.testing.assert_close(g.to(w.dtype), w, atol=c.atol or atol, rtol=rtol,
                                           equal_nan=True, msg=lambda m, c=c: f"{c}: {m}")
        j += n


CASES = _all_cases()


@pytest.mark.parametrize("part", range(BATCHES))
def test_op_samples_through_buddy_compile(part: int, tmp_path: Any) -> None:
    batch = CASES[part::BATCHES]
    assert batch
    _compile_and_check(batch, tmp_path / "cache")
