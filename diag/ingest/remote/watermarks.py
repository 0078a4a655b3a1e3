"""Read and advance the per-scope watermarks of time-based remote sources (``remote_watermarks``)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def get_watermark(con: duckdb.DuckDBPyConnection, source: str, scope: str) -> dt.datetime | None:
    row = con.execute(
        "SELECT watermark FROM remote_watermarks WHERE source = ? AND scope = ?", [source, scope]
    ).fetchone()
    return row[0] if row else None


def get_watermarks(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, dt.datetime]:
    rows = con.execute("SELECT scope, watermark FROM remote_watermarks WHERE source = ?", [source]).fetchall()
    return {str(s): w for s, w in rows}


def set_watermark(con: duckdb.DuckDBPyConnection, source: str, scope: str, watermark: dt.datetime) -> None:
    """Advance (never move back) the watermark of one scope."""
    con.execute(
        "INSERT INTO remote_watermarks VALUES (?, ?, ?, now()::TIMESTAMP) "
        "ON CONFLICT (source, scope) DO UPDATE SET "
        "watermark = greatest(remote_watermarks.watermark, excluded.watermark), updated_at = excluded.updated_at",
        [source, scope, watermark],
    )
