"""The per-key usage summary (table ``key_usage``, migration 025): who called each key successfully, per
KMS operation, how many times and when last. ``explain`` reads it for ``key_users`` in one indexed lookup
instead of aggregating the key's events, whose number grows with the database.

The summary is derived state: ``refresh_key_usage`` rebuilds it whole from ``events`` in one transaction
(idempotent; a rebuild killed half-way leaves no state row, so nothing reads the half-built summary), and
records the number of events it was built from. Events are only ever added (their ``event_id`` is the primary key), so
the summary is up to date exactly when that number equals ``count(*)`` of events; ``key_usage_rows``
returns None otherwise and the caller aggregates the events as before.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from diag.store.catalog import table_exists

if TYPE_CHECKING:
    import duckdb

# the successful KMS calls, by key, operation and caller (the role for a role session, else the caller)
_AGGREGATE = (
    "SELECT key_arn, event_name, coalesce(caller_role_arn, caller_arn) AS who, count(*), max(event_time) FROM events"
    " WHERE key_arn IS NOT NULL AND event_name IS NOT NULL AND error_code IS NULL"
    " AND event_source = 'kms.amazonaws.com' AND coalesce(caller_role_arn, caller_arn) IS NOT NULL"
    " GROUP BY ALL"
)


def _events_rows(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT count(*) FROM events").fetchone()
    return int(row[0]) if row else 0


def _state(con: duckdb.DuckDBPyConnection) -> int | None:
    row = con.execute("SELECT max(events_rows) FROM key_usage_state").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def refresh_key_usage(con: duckdb.DuckDBPyConnection) -> bool:
    """Rebuild ``key_usage`` when events were added since it was built; True when it was rebuilt."""
    if not table_exists(con, "key_usage") or not table_exists(con, "events"):
        return False
    n = _events_rows(con)
    if _state(con) == n:
        return False
    # no transaction of its own (a caller's transaction, if any, holds the rebuild): the state row goes
    # first and comes back last, so a rebuild killed half-way leaves no state row, the readers aggregate
    # the events meanwhile, and the next refresh rebuilds
    con.execute("DELETE FROM key_usage_state")
    con.execute("DELETE FROM key_usage")
    con.execute(f"INSERT INTO key_usage {_AGGREGATE}")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con.execute("INSERT INTO key_usage_state VALUES (?, ?)", [n, now])
    return True


def _has_summary(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the table ``key_usage`` exists: one catalog lookup by name. (Listing ``duckdb_tables()``
    makes DuckDB load every table's entry first: ~10 ms of each ``explain``, the first time.) A failed
    lookup runs no statement, so it leaves a caller's transaction usable."""
    import duckdb

    try:
        con.table("key_usage")
    except duckdb.CatalogException:
        return False
    return True


def key_usage_rows(
    con: duckdb.DuckDBPyConnection, key_arn: str, event_name: str, limit: int
) -> list[tuple[Any, ...]] | None:
    """(who, calls, last call) of the key's successful ``event_name`` calls, most calls first, from the
    summary; None when there is no summary or it is older than the events (then aggregate the events)."""
    if not _has_summary(con):  # a database older than migration 025, opened read-only
        return None
    # one statement: whether the summary is as new as the events, and its rows when it is
    rows = con.execute(
        "SELECT f.fresh, u.who, u.calls, u.last_call FROM (SELECT (SELECT max(events_rows) FROM key_usage_state)"
        " IS NOT DISTINCT FROM (SELECT count(*) FROM events) AS fresh) f LEFT JOIN (SELECT who, calls, last_call"
        " FROM key_usage WHERE key_arn = ? AND event_name = ? ORDER BY calls DESC, who LIMIT ?) u ON f.fresh"
        " ORDER BY u.calls DESC, u.who",
        [key_arn, event_name, limit],
    ).fetchall()
    if not rows or not rows[0][0]:
        return None
    return [tuple(r[1:]) for r in rows if r[1] is not None]
