"""`kmsdiag failures`: the failed calls of the ``failures`` view, filtered, newest first (read-only).

Parameterized SQL only: every filter value is a bound parameter. ``--caller`` and ``--key`` match a
substring (case-insensitive) of the caller's ARN or role, and of the key ARN, the key ID or alias given, or
the bucket, so a role name or a key ID is enough.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

COLUMNS = (
    "event_time",
    "caller_principal",
    "caller_arn",
    "caller_type",
    "invoked_by",
    "action",
    "key_ref",
    "bucket",
    "aws_region",
    "error_code",
    "verdict",
    "event_id",
    "cross_account",
)

NOT_DIAGNOSED = "NOT_DIAGNOSED"


@dataclass
class FailureFilter:
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    verdicts: list[str] = field(default_factory=list)
    caller: str | None = None
    key: str | None = None
    limit: int = 50


def _where(flt: FailureFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if flt.since is not None:
        clauses.append("event_time >= ?")
        params.append(flt.since)
    if flt.until is not None:
        clauses.append("event_time < ?")
        params.append(flt.until)
    if flt.verdicts:
        wanted = [v.upper() for v in flt.verdicts]
        parts = []
        named = [v for v in wanted if v != NOT_DIAGNOSED]
        if named:
            parts.append("verdict IN (" + ", ".join("?" for _ in named) + ")")
            params.extend(named)
        if NOT_DIAGNOSED in wanted:
            parts.append("verdict IS NULL")
        clauses.append("(" + " OR ".join(parts) + ")")
    if flt.caller:
        clauses.append(
            "(contains(lower(coalesce(caller_arn, '')), ?) OR contains(lower(coalesce(caller_principal, '')), ?))"
        )
        params.extend([flt.caller.lower()] * 2)
    if flt.key:
        clauses.append(
            "(contains(lower(coalesce(key_ref, '')), ?) OR contains(lower(coalesce(key_id_given, '')), ?)"
            " OR contains(lower(coalesce(bucket, '')), ?))"
        )
        params.extend([flt.key.lower()] * 3)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def list_failures(con: duckdb.DuckDBPyConnection, flt: FailureFilter) -> tuple[list[dict[str, Any]], int]:
    """The matching failed calls (at most ``flt.limit``, newest first) and how many match in all."""
    where, params = _where(flt)
    total = con.execute("SELECT count(*) FROM failures" + where, params).fetchone()
    rows = con.execute(
        "SELECT " + ", ".join(COLUMNS) + " FROM failures" + where + " ORDER BY event_time DESC, event_id LIMIT ?",
        [*params, flt.limit],
    ).fetchall()
    return [dict(zip(COLUMNS, r, strict=True)) for r in rows], int(total[0] if total else 0)
