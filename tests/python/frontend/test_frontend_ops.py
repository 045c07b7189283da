"""Per-op tests, parametrized from the frontend's op tables: each Core ATen overload is traced,
lowered (linalg and tosa), JIT-compiled and compared with eager PyTorch."""

from __future__ import annotations

import os
import sys

import pytest
import torch

from support.frontend_op_samples import SAMPLES, cases, run_case  # noqa: E402

from buddy.frontend import UnsupportedOpError, op_table  # noqa: E402
from buddy.frontend.jit import JitError  # noqa: E402
from buddy.frontend.exclusions import DECOMPOSED, EXCLUDED, NOT_YET  # noqa: E402

LINALG = op_table("linalg")
TOSA = op_table("tosa")


def _params():
    out = []
    for dialect, table in (("linalg", LINALG), ("tosa", TOSA)):
        for op in sorted({k for k in table if k.startswith("aten.")} | set(DECOMPOSED)):
            if op not in SAMPLES:
                continue
            for dt, k in cases(op):
                out.append(pytest.param(op, dialect, dt, k, id=f"{dialect}-{op}-{str(dt)[6:]}-{k}"))
    return out


@pytest.mark.parametrize("op,dialect,dtype,k", _params())
def test_op(op, dialect, dtype, k):
    try:
        run_case(op, dialect, dtype, k)
    except (UnsupportedOpError, JitError) as e:
        if dialect == "linalg":
            raise
        pytest.skip(f"documented TOSA limitation: {e}")


def test_every_table_op_has_samples():
    missing = sorted(k for k in set(LINALG) | set(TOSA) if k.startswith("aten.") and k not in SAMPLES)
    assert not missing, f"ops without test samples: {missing}"


def test_core_ops_are_covered_or_excluded():
    core = set()
    for name in dir(torch.ops.aten):
        packet = getattr(torch.ops.aten, name, None)
        if not hasattr(packet, "overloads"):
            continue
        for ov in packet.overloads():
            o = getattr(packet, ov)
            if torch.Tag.core in o.tags:
                core.add(str(o))
    unaccounted = sorted(core - set(LINALG) - set(EXCLUDED) - set(NOT_YET) - set(DECOMPOSED))
    # every Core ATen op is either lowered or listed with a reason
    assert not unaccounted, f"Core ATen ops neither lowered nor excluded: {unaccounted}"
    assert all(v for v in list(EXCLUDED.values()) + list(NOT_YET.values()))


def test_op_tables_merge_their_families_without_overlap():
    from buddy.frontend.lowering import linalg, tosa
    from buddy.frontend.lowering.registry import OpTable
    for pkg, table in ((linalg, LINALG), (tosa, TOSA)):
        assert isinstance(table, OpTable)
        assert sum(len(m.OPS) for m in pkg.FAMILIES) == len(table)
        assert all(table[k] is m.OPS[k] for m in pkg.FAMILIES for k in m.OPS)
    t = OpTable("t")
    t.op("aten.foo.default")(lambda cx, a: None)
    with pytest.raises(ValueError, match="registered twice"):
        t["aten.foo.default"] = lambda cx, a: None
    with pytest.raises(ValueError, match="registered by both"):
        OpTable.merge("m", t, t)
