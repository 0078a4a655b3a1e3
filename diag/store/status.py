"""A summary of the database contents, for `kmsdiag status` and tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb


def database_status(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    tables = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY table_name"
        ).fetchall()
    ]
    counts = {}
    for t in tables:
        row = con.execute(f'SELECT count(*) FROM "{t}"').fetchone()  # names come from the catalog
        counts[t] = int(row[0]) if row else 0
    views = [
        r[0]
        for r in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal AND schema_name = 'main' ORDER BY 1"
        ).fetchall()
    ]
    migs = [
        f"{n:03d}_{name}"
        for n, name in con.execute("SELECT number, name FROM schema_migrations ORDER BY number").fetchall()
    ]
    inputs: dict[str, int] = {}
    if "ingested_files" in counts:
        inputs = {
            str(k): int(n)
            for k, n in con.execute("SELECT status, count(*) FROM ingested_files GROUP BY 1 ORDER BY 1").fetchall()
        }
    return {"tables": counts, "views": views, "migrations": migs, "inputs": inputs}
