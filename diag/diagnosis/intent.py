"""Who the policies were set up for: the principals that used a key successfully (from the trail).

``key_users(con, key_arn, event_name)`` lists the callers (the role for a role session, else the user)
whose calls of this operation on this key succeeded, with how many and the last time. The rules compare
them with the principals that the key policy and the grants name (``diag.rules._intent``).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

_LIMIT = 50


def key_users(
    con: duckdb.DuckDBPyConnection | None, key_arn: str | None, event_name: str | None
) -> tuple[tuple[str, int, dt.datetime], ...]:
    """(principal ARN, successful calls, last call) of every caller that used ``key_arn`` for ``event_name``."""
    if con is None or not key_arn or not event_name:
        return ()
    from diag.store.key_usage import key_usage_rows

    # the summary kept at ingest (one indexed lookup); the key's events when it is missing or out of date
    rows = key_usage_rows(con, key_arn, event_name, _LIMIT)
    if rows is not None:
        return tuple((str(r[0]), int(r[1]), r[2]) for r in rows)
    rows = con.execute(
        "SELECT coalesce(caller_role_arn, caller_arn) AS who, count(*), max(event_time) FROM events"
        " WHERE key_arn = ? AND event_name = ? AND error_code IS NULL AND event_source = 'kms.amazonaws.com'"
        " AND coalesce(caller_role_arn, caller_arn) IS NOT NULL GROUP BY who ORDER BY 2 DESC, 1 LIMIT ?",
        [key_arn, event_name, _LIMIT],
    ).fetchall()
    return tuple((str(r[0]), int(r[1]), r[2]) for r in rows)
