"""Reading many principals' half of the policies in force with a few queries instead of a few per principal.

``policies_in_force`` reads one caller's half (identity policies, managed-policy versions, boundary,
groups, SCPs, the changes to replay) with small indexed queries. The audit matrix and the blast radius of a
fix read that half for every collected role and user, which made ~5 queries per principal (263 of an
explain's 281). ``BatchReader`` stands in for the connection during those reads, so that the very same
code (``policies_in_force``, unchanged) computes each half, and the answers are the same by construction:

- the per-principal lookups of one snapshot (its ``principals`` row, its inline ``identity_policies``, a
  ``managed_policies`` policy's versions) are answered from ONE query per table over the whole snapshot,
  read the first time any principal of that snapshot asks (the snapshot is the one nearest the time asked,
  chosen by ``policies_in_force`` as before, so "as of the time asked" holds);
- a query repeated with the same parameters (the account's policy changes to replay, its organization path
  and SCPs, its identity gap: the same for every principal of an account) is run once and its rows reused.

Any other query goes to the database (a lookup whose text changes there is simply sent to the database:
slower, never different; ``tests/collect/test_principals_batch.py`` checks that the lookups are batched). Hold one reader only while the database does not change (one
``explain``, one ``audit`` run), like ``SnapshotIndex``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

# The per-principal lookups of ``diag.collect.asof.principals`` (``_principal_row``, ``_inline_rows``,
# ``_managed_doc``), exactly as they are issued, and the whole-snapshot query that answers each:
# (table query selecting the lookup's columns plus the lookup's keys last, number of key columns).
_PRINCIPAL = (
    "SELECT arn, account, kind, name, unique_id, create_date, permissions_boundary_arn, groups, attached_policy_arns"
    " FROM principals WHERE snapshot_id = ? AND name = ? AND kind = ? AND account = ?"
)
_INLINE = "SELECT policy_name, document FROM identity_policies WHERE snapshot_id = ? AND principal_arn = ?"
_MANAGED = "SELECT version_id, is_default, document, policy_name FROM managed_policies WHERE snapshot_id = ? AND policy_arn = ?"
BATCHED: dict[str, tuple[str, int]] = {
    _PRINCIPAL: (
        "SELECT arn, account, kind, name, unique_id, create_date, permissions_boundary_arn, groups,"
        " attached_policy_arns, name, kind, account FROM principals WHERE snapshot_id = ?",
        3,
    ),
    _INLINE: ("SELECT policy_name, document, principal_arn FROM identity_policies WHERE snapshot_id = ?", 1),
    _MANAGED: (
        "SELECT version_id, is_default, document, policy_name, policy_arn FROM managed_policies WHERE snapshot_id = ?",
        1,
    ),
}


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
        self.queries = 0  # queries sent to the database
        self.answered = 0  # queries answered without one
        self._tables: dict[tuple[str, Any], dict[tuple[Any, ...], list[Any]]] = {}
        self._memo: dict[tuple[str, tuple[Any, ...]], list[Any]] = {}

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Rows:
        """The rows of ``sql`` with ``params``, from a whole-snapshot read, a repeated query, or the database."""
        batched = BATCHED.get(sql)
        if batched is not None and params:
            table = self._table(sql, params[0], *batched)
            self.answered += 1
            return Rows(table.get(tuple(params[1:]), ()))
        key = _hashable(params)
        if key is None:
            self.queries += 1
            return Rows(self.con.execute(sql, params).fetchall())
        hit = self._memo.get((sql, key))
        if hit is None:
            self.queries += 1
            hit = self._memo[(sql, key)] = self.con.execute(sql, list(params or ())).fetchall()
        else:
            self.answered += 1
        return Rows(hit)

    def _table(self, sql: str, snapshot_id: Any, whole: str, nkeys: int) -> dict[tuple[Any, ...], list[Any]]:
        """The snapshot's rows of one table, by the lookup's keys (one query per table and snapshot)."""
        table = self._tables.get((sql, snapshot_id))
        if table is None:
            self.queries += 1
            table = {}
            for r in self.con.execute(whole, [snapshot_id]).fetchall():
                table.setdefault(tuple(r[-nkeys:]), []).append(tuple(r[:-nkeys]))
            self._tables[(sql, snapshot_id)] = table
        return table
