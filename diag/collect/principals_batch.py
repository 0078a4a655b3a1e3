"""Reading many principals' half of the policies in force with a few queries instead of a few per principal.

``policies_in_force`` reads one caller's half (identity policies, managed-policy versions, boundary,
groups, SCPs, the changes to replay) with small indexed queries. The audit matrix and the blast radius of a
fix read that half for every collected role and user, which made ~5 queries per principal (263 of an
explain's 281). ``BatchReader`` stands in for the connection during those reads, so that the very same
code (``policies_in_force``, unchanged) computes each half, and the answers are the same by construction:

- the per-principal lookups of one snapshot (its ``principals`` row, its inline ``identity_policies``, a
  ``managed_policies`` policy's versions) go through the typed reader it carries,
  ``diag.collect.asof.principals.SnapshotRows``: ONE query per table over the whole snapshot, read the
  first time any principal of that snapshot asks (the snapshot is the one nearest the time asked, chosen by
  ``policies_in_force`` as before, so "as of the time asked" holds);
- a query repeated with the same parameters (the account's policy changes to replay, its organization path
  and SCPs, its identity gap: the same for every principal of an account) is run once and its rows reused.

``tests/collect/test_principals_batch.py`` checks that the halves are the same and the lookups batched. Hold
one reader only while the database does not change (one ``explain``, one ``audit`` run), like
``SnapshotIndex``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from diag.collect.asof.principals import SnapshotRows

if TYPE_CHECKING:
    import duckdb


T = TypeVar("T")


class Rows:
    """The rows of one answered query (what ``policies_in_force`` reads of a DuckDB result)."""

    def __init__(self, rows: Sequence[Any]) -> None:
        self._rows = rows

    def fetchall(self) -> list[Any]:
        return list(self._rows)

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


def _hashable(params: Sequence[Any] | None) -> tuple[Any, ...] | None:
    out = tuple(tuple(p) if isinstance(p, list) else p for p in params or ())
    try:
        hash(out)
    except TypeError:
        return None
    return out


class BatchReader:
    """A read-only stand-in for a DuckDB connection while many principals' halves are read (module doc)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.principal_rows = SnapshotRows(con)  # what diag.collect.asof.principals.Identity reads through
        self._sent = 0  # other queries sent to the database
        self.answered = 0  # queries answered without one
        self._memo: dict[tuple[str, tuple[Any, ...]], list[Any]] = {}
        self._derived: dict[tuple[str, tuple[Any, ...]], Any] = {}

    @property
    def queries(self) -> int:
        """Queries sent to the database: whole-snapshot reads and the others."""
        return self._sent + self.principal_rows.queries

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Rows:
        """The rows of ``sql`` with ``params``: from an earlier identical query, or the database."""
        key = _hashable(params)
        if key is None:
            self._sent += 1
            return Rows(self.con.execute(sql, params).fetchall())
        hit = self._memo.get((sql, key))
        if hit is None:
            self._sent += 1
            hit = self._memo[(sql, key)] = self.con.execute(sql, list(params or ())).fetchall()
        else:
            self.answered += 1
        return Rows(hit)

    def derived(self, sql: str, params: Sequence[Any] | None, build: Callable[[list[Any]], T]) -> T:
        """``build(rows)`` of ``sql`` with ``params``, built once while the reader lives (e.g. the policy
        changes every principal of an account replays: ``diag.collect.asof.history.load_changes``)."""
        key = _hashable(params)
        if key is None:
            return build(self.execute(sql, params).fetchall())
        if (sql, key) not in self._derived:
            self._derived[(sql, key)] = build(self.execute(sql, params).fetchall())
        else:
            self.answered += 1
        return self._derived[(sql, key)]  # type: ignore[no-any-return,unused-ignore]
