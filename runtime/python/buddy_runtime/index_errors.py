"""Index checks of compiled code: the contract between the frontend and every caller.

A graph imported with index checks (the default; ``import_model(..., check_indices=False)``
turns them off) computes, for each gather/scatter/embedding index operand, the number of
indices outside ``[-size, size)`` and the largest such index, while the op itself reads a
clamped, in-range index (no out-of-bounds access, whatever the input). Those numbers come
back as one extra, last result of @forward, ``index_errors``: an i64 tensor of shape
[sites, 2]. ``sites`` describes each check (op, FX node, source location, dimension size);
the manifest stores it as "index_checks". Callers pass the results through :func:`check`,
which drops that result and raises IndexError, as eager PyTorch does, when a site saw a bad
index (the outputs of such a call are not returned)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

RESULT_NAME = "index_errors"


class CompiledIndexError(IndexError):
    """An index outside its dimension reached a gather, scatter or embedding of compiled code."""


def describe(site: Mapping[str, Any], count: int, value: int) -> str:
    where = f" at {site['loc']}" if site.get("loc") else ""
    more = f" ({count} indices out of range)" if count > 1 else ""
    return (f"index {value} is out of range for a dimension of size {site['size']} in "
            f"`{site['op']}`{where} (node `{site['node']}`){more}")


def check(outputs: Sequence[Any], sites: Sequence[Mapping[str, Any]] | None) -> list[Any]:
    """`outputs` without the trailing ``index_errors`` result; CompiledIndexError if any site saw
    an index out of range."""
    outs = list(outputs)
    if not sites:
        return outs
    errors = np.asarray(outs[-1]).reshape(len(sites), 2)
    for site, (count, value) in zip(sites, errors.tolist()):
        if count:
            raise CompiledIndexError(describe(site, int(count), int(value)))
    return outs[:-1]
