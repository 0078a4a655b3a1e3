"""Questions about the database's catalog (which tables and views exist)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """True when a table or view called ``name`` exists (any schema, temporary included)."""
    rows = con.execute(
        "SELECT count(*) FROM (SELECT table_name AS n FROM duckdb_tables() UNION ALL "
        "SELECT view_name FROM duckdb_views()) WHERE n = ?",
        [name],
    ).fetchall()  # fetchall: DuckDB 2 keeps a half-read result open
    return bool(rows and rows[0][0])
