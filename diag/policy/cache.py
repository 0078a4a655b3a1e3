"""Bounded memo tables, owned by an engine (``diag.policy.engine.Engine``) or a parser, never module globals.

``BoundedCache`` is a dict with a size limit: when full, the oldest entry goes first (insertion order).
Lookups are a plain ``dict.get``; a lost race between threads only evicts one entry too many or too few.

``EngineCache`` groups the memos of one engine: decisions, layer traces, statement traces and request
digests. Their keys hold the objects whose identity they rely on (compiled statements, parsed policies),
so an ``id`` can never be reused while an entry lives.
"""

from __future__ import annotations

import contextlib
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """A dict of at most ``limit`` entries; the oldest entry is dropped to make room for a new one."""

    __slots__ = ("_data", "get", "limit")

    def __init__(self, limit: int) -> None:
        self._data: dict[K, V] = {}
        self.limit = limit
        self.get = self._data.get

    def put(self, key: K, value: V) -> V:
        """Store ``key → value`` (dropping the oldest entry when full); return ``value``."""
        data = self._data
        if len(data) >= self.limit:
            with contextlib.suppress(KeyError, RuntimeError, StopIteration):
                del data[next(iter(data))]
        data[key] = value
        return value

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data


class EngineCache:
    """Every memo of one engine (see ``clear``)."""

    __slots__ = ("decisions", "layers", "policies", "requests", "statements", "verdicts")

    def __init__(self, decisions: int = 16384, traces: int = 65536, policies: int = 8192) -> None:
        self.decisions: BoundedCache[Any, Any] = BoundedCache(decisions)  # full-trace results
        self.verdicts: BoundedCache[Any, Any] = BoundedCache(decisions)  # results without the statement trace
        self.layers: BoundedCache[Any, Any] = BoundedCache(traces)
        self.statements: BoundedCache[Any, Any] = BoundedCache(traces)
        self.requests: BoundedCache[Any, Any] = BoundedCache(traces)
        # fingerprint of a policy document -> its CompiledPolicy (or the PolicyError it raised)
        self.policies: BoundedCache[Any, Any] = BoundedCache(policies)

    def clear(self, *, statements: bool = False, compiled: bool = False) -> None:
        """Forget decisions; with ``statements`` also layer and statement traces and request digests; with
        ``compiled`` also the compiled policies (and the per-element outcomes their statements memoize)."""
        self.decisions.clear()
        self.verdicts.clear()
        if statements or compiled:
            self.layers.clear()
            self.statements.clear()
            self.requests.clear()
        if compiled:
            self.policies.clear()
