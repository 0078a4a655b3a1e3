"""Every table of a kmsdiag database as comparable rows (columns that hold the time of the run left out)."""

from __future__ import annotations

from pathlib import Path

import duckdb

# Columns that record when a run happened, not what it derived: they differ between two runs by design.
RUN_TIME_COLUMNS = {
    "ingested_at",
    "built_at",
    "applied_at",
    "updated_at",
    "loaded_at",
    "diagnosed_at",
    "generated_at",
    "queued_at",
}


# Which input's copy of a duplicated eventID is stored depends on the order inputs arrive in; S3 downloads
# complete in any order, so two uninterrupted S3 runs may differ there (and only there).
ARRIVAL_ORDER_COLUMNS = {
    "events": {"source_file"},
    "ingested_files": {"records_kept", "records_duplicate"},
}


def database_state(db: Path, *, any_arrival_order: bool = False) -> dict[str, list[tuple[object, ...]]]:
    """``table -> sorted rows`` for every table in ``main``, without the run-time columns (and with
    ``any_arrival_order``, without the columns that depend on the order inputs arrived in)."""
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
                if r[0] not in RUN_TIME_COLUMNS and not (any_arrival_order and r[0] in ARRIVAL_ORDER_COLUMNS.get(t, ()))
            ]
            select = ", ".join(f'CAST("{c}" AS VARCHAR)' for c in cols)  # names come from the catalog
            rows = con.execute(f'SELECT {select} FROM "{t}"').fetchall()
            out[t] = sorted(rows, key=lambda r: tuple("" if v is None else str(v) for v in r))
        if any_arrival_order:  # still: every stored row is counted by exactly its input
            kept = con.execute("SELECT coalesce(sum(records_kept), 0) FROM ingested_files").fetchone()
            assert kept == con.execute("SELECT count(*) FROM events").fetchone()
        return out
    finally:
        con.close()
