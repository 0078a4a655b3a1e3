"""A summary of the database contents, for `kmsdiag status` and tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb


def database_status(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Rows per table, views, applied and pending migrations, inputs by status.

    A database whose creation was interrupted (killed while its schema was being created) has pending
    migrations, possibly no ``schema_migrations`` table at all: reported, never an error; the next
    command that writes applies them.
    """
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
    migs: list[str] = []
    if "schema_migrations" in counts:
        migs = [
            f"{n:03d}_{name}"
            for n, name in con.execute("SELECT number, name FROM schema_migrations ORDER BY number").fetchall()
        ]
    from diag.store.migrations import discover

    pending = [f"{m.number:03d}_{m.name}" for m in discover() if f"{m.number:03d}_{m.name}" not in set(migs)]
    inputs: dict[str, int] = {}
    if "ingested_files" in counts:
        inputs = {
            str(k): int(n)
            for k, n in con.execute("SELECT status, count(*) FROM ingested_files GROUP BY 1 ORDER BY 1").fetchall()
        }
    return {"tables": counts, "views": views, "migrations": migs, "migrations_pending": pending, "inputs": inputs}
