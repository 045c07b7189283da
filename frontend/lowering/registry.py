"""The op-table type of both dialects: ATen overload name (or Buddy graph op) -> emitter.

Each op-family module owns one `OpTable` and registers its emitters with `@OPS.op(name, ...)` or
`OPS[name] = fn`; the dialect package (`lowering/linalg`, `lowering/tosa`) merges its family tables
in one place with `OpTable.merge`. A name can be registered only once, in a family and across the
families of a dialect, so two emitters never silently compete for an op.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, Mapping

EmitFn = Callable[[Any, Dict[str, Any]], Any]  # (EmitContext, schema-named args) -> Value | [Value | None]


class OpTable(Mapping[str, EmitFn]):
    """A read-mostly mapping `overload name -> emitter` that refuses duplicate registrations."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._ops: Dict[str, EmitFn] = {}

    def op(self, *names: str) -> Callable[[EmitFn], EmitFn]:
        """Decorator: register the function as the emitter of every overload in `names`."""
        def deco(fn: EmitFn) -> EmitFn:
            for n in names:
                self[n] = fn
            return fn
        return deco

    def __setitem__(self, name: str, fn: EmitFn) -> None:
        if name in self._ops:
            raise ValueError(f"op table {self.name}: `{name}` is registered twice")
        self._ops[name] = fn

    def __getitem__(self, name: str) -> EmitFn:
        return self._ops[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._ops)

    def __len__(self) -> int:
        return len(self._ops)

    def __repr__(self) -> str:
        return f"OpTable({self.name!r}, {len(self)} ops)"

    @classmethod
    def merge(cls, name: str, *tables: "OpTable") -> "OpTable":
        """One table holding every entry of `tables`; an op found in two of them is an error."""
        out = cls(name)
        owner: Dict[str, str] = {}
        for t in tables:
            for k, fn in t.items():
                if k in owner:
                    raise ValueError(f"op table {name}: `{k}` is registered by both {owner[k]} and {t.name}")
                owner[k] = t.name
                out._ops[k] = fn
        return out
