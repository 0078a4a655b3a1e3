"""Every table of a kmsdiag database as comparable rows (columns that hold the time of the run left out)."""

from __future__ import annotations

from pathlib import Path

import duckdb

# Columns that record when a run happened, not what it derived: they differ between two runs by design.
RUN_TIME_COLUMNS = {"ingested_at", "applied_at", "updated_at", "loaded_at", "diagnosed_at", "generated_at", "queued_at"}


def database_state(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """``table -> sorted rows`` for every table in ``main``, without the run-time columns."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY 1"
            ).fetchall()
        ]
        out: dict[str, list[tuple[object, ...]]] = {}
        for t in tables:
            cols = [
                r[0]
                for r in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = ?"
                    " ORDER BY column_index",
                    [t],
                ).fetchall()
                if r[0] not in RUN_TIME_COLUMNS
            ]
            select = ", ".join(f'CAST("{c}" AS VARCHAR)' for c in cols)  # names come from the catalog
            rows = con.execute(f'SELECT {select} FROM "{t}"').fetchall()
            out[t] = sorted(rows, key=lambda r: tuple("" if v is None else str(v) for v in r))
        return out
    finally:
        con.close()
