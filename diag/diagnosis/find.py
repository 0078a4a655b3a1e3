"""Find a stored event by eventID, sharedEventID, requestID or a unique eventID prefix, with indexed lookups only.

Each identifier is tried in turn with an equality predicate on an indexed column (``event_id`` is the
primary key; ``shared_event_id`` and ``request_id`` have indexes), so a lookup costs the same on a
thousand or a billion events. Several rows can share a sharedEventID or requestID (the caller's copy and the
key owner's copy): the caller's failed copy wins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from diag.diagnosis.facts import ROW_COLUMNS_READ
from diag.diagnosis.model import EventFacts
from diag.errors import NotFoundError
from diag.store.event_columns import COLUMNS as EVENT_COLUMNS

if TYPE_CHECKING:
    import duckdb

COLUMNS = EVENT_COLUMNS  # every column of the events table (ingest writes them), raw last
# The columns an explain reads of the event: what facts_from_row reads, and what _rank orders the copies by.
# Each column more is one more column segment for DuckDB to read (the first lookup of a process reads them
# from disk): all 35 cost ~1.7 ms more CPU than these ~20 on the 300k-event database.
_READ = tuple(c for c in COLUMNS if c in ROW_COLUMNS_READ or c in ("error_code", "caller_type"))
_SELECT = "SELECT " + ", ".join(_READ) + " FROM events WHERE "


def _rank(row: dict[str, Any]) -> tuple[int, int]:
    """Prefer the failed copy, then the caller's copy (not the key owner's AWSAccount copy)."""
    return (0 if row.get("error_code") else 1, 1 if row.get("caller_type") == "AWSAccount" else 0)


def find_rows(con: duckdb.DuckDBPyConnection, ident: str) -> list[dict[str, Any]]:
    """Every stored copy of the event ``ident`` names, best first (the columns ``facts_from_row`` reads)."""
    for column in ("event_id", "shared_event_id", "request_id"):
        rows = con.execute(_SELECT + f"{column} = ?", [ident]).fetchall()
        if rows:
            found = [dict(zip(_READ, r, strict=True)) for r in rows]
            return sorted(found, key=_rank)
    return []


MIN_PREFIX = 4
_MAX_CANDIDATES = 10


def _looks_like_prefix(ident: str) -> bool:
    return len(ident) >= MIN_PREFIX and all(c in "0123456789abcdefABCDEF-" for c in ident)


def expand_prefix(con: duckdb.DuckDBPyConnection, ident: str) -> str | None:
    """The one eventID that starts with ``ident`` (like a git commit prefix), None when none does.

    Several matches raise AmbiguousIdError (exit code 2) listing the candidates, failed calls first.
    """
    if not _looks_like_prefix(ident):
        return None
    rows = con.execute(
        "SELECT event_id, event_time, event_name, error_code FROM events WHERE starts_with(event_id, ?)"
        " ORDER BY (error_code IS NULL), event_time DESC, event_id LIMIT ?",
        [ident, _MAX_CANDIDATES + 1],
    ).fetchall()
    if len(rows) == 1:
        return str(rows[0][0])
    if not rows:
        return None
    from diag.errors import AmbiguousIdError

    shown = rows[:_MAX_CANDIDATES]
    lines = [f"  {r[0]}  {r[1]:%Y-%m-%d %H:%M:%S}  {r[2]} {r[3] or 'ok'}" if r[1] else f"  {r[0]}" for r in shown]
    more = "\n  … and more" if len(rows) > _MAX_CANDIDATES else ""
    raise AmbiguousIdError(
        f"the prefix {ident!r} matches several events:\n" + "\n".join(lines) + more,
        hint="give more characters of the event ID (kmsdiag failures lists full IDs)",
    )


def find_event_or_none(con: duckdb.DuckDBPyConnection, ident: str) -> EventFacts | None:
    """The event ``ident`` names: an eventID, sharedEventID, requestID, or a unique eventID prefix."""
    from diag.diagnosis.facts import facts_from_row

    ident = ident.strip()
    rows = find_rows(con, ident)
    if not rows:
        full = expand_prefix(con, ident)
        rows = find_rows(con, full) if full else []
    return facts_from_row(rows[0]) if rows else None


def find_event(con: duckdb.DuckDBPyConnection, ident: str) -> EventFacts:
    """The event ``ident`` names (eventID, sharedEventID or requestID); NotFoundError (exit 1) if none."""
    facts = find_event_or_none(con, ident)
    if facts is None:
        raise NotFoundError(
            f"no event with eventID (or eventID prefix), sharedEventID or requestID {ident!r} in the database",
            hint="kmsdiag failures lists the failed calls with their event IDs; ingest the trail that holds it"
            " (kmsdiag ingest …), or explain the error text: kmsdiag explain --error '…'",
        )
    return facts


def recent_key_for(con: duckdb.DuckDBPyConnection, principal: str, action: str) -> str | None:
    """The one key ARN that this caller's (role's) recent events of ``action`` used, when they agree on one."""
    from diag.diagnosis.facts import role_arn_from_session

    role = role_arn_from_session(principal)
    name = action.split(":", 1)[-1]
    rows = con.execute(
        "SELECT DISTINCT key_arn FROM (SELECT key_arn FROM events WHERE (caller_role_arn = ? OR caller_arn = ?)"
        " AND event_name = ? AND key_arn IS NOT NULL ORDER BY event_time DESC LIMIT 50)",
        [role, principal, name],
    ).fetchall()
    return rows[0][0] if len(rows) == 1 else None
