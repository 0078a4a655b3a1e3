"""Policy epochs: the times at which a decision may have changed (policy-change events, snapshots), kept in
the temp table ``_dx_epochs``. ``kmsdiag diagnose`` keys its cache on them; ``DbPolicySource`` memoizes per epoch."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from diag.change_events import DECISION_CHANGES

if TYPE_CHECKING:
    import duckdb


def q_list(values: tuple[str, ...]) -> str:
    """Constant names as a SQL list literal (names from kmsdiag's own tuples, quotes doubled)."""
    return ",".join("'" + v.replace("'", "''") + "'" for v in values)


def change_times(con: duckdb.DuckDBPyConnection) -> list[dt.datetime]:
    """The sorted times at which policies may have changed (policy-change events, snapshots)."""
    return (
        [r[0] for r in con.execute("SELECT t FROM _dx_epochs ORDER BY t").fetchall()]
        if _has_epochs(con)
        else _epoch_rows(con)
    )


def _has_epochs(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = '_dx_epochs' AND temporary").fetchone()
    return bool(row and row[0])


def _epoch_rows(con: duckdb.DuckDBPyConnection) -> list[dt.datetime]:
    build_epochs(con)
    return [r[0] for r in con.execute("SELECT t FROM _dx_epochs ORDER BY t").fetchall()]


def build_epochs(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)build the temp table ``_dx_epochs``: each time a policy may have changed, numbered."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _dx_epochs AS SELECT t, row_number() OVER (ORDER BY t) AS epoch FROM ("
        f" SELECT DISTINCT event_time AS t FROM events WHERE error_code IS NULL AND event_name IN ({q_list(DECISION_CHANGES)})"
        " AND event_time IS NOT NULL)"
    )
    has_snapshots = con.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'snapshots' AND column_name = 'collected_at'"
    ).fetchone()
    if has_snapshots and has_snapshots[0]:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _dx_epochs AS SELECT t, row_number() OVER (ORDER BY t) AS epoch FROM ("
            " SELECT t FROM _dx_epochs UNION SELECT CAST(collected_at AS TIMESTAMP) FROM snapshots WHERE collected_at IS NOT NULL)"
        )
