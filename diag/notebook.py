"""Notebook helpers: each returns a pandas DataFrame from the documented views (docs/database.md, queries/).

    import diag, diag.notebook as nb
    con = diag.open("kmsdiag-demo.duckdb", read_only=True)
    nb.top_keys(con, since="7d")

``since``/``until`` accept a datetime (naive UTC), an ISO 8601 string, or a duration before now
(``"24h"``, ``"7d"``). Every query is parameterized; nothing here writes to the database.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diag.report.model import CAUSE_ID_SQL, NOT_DIAGNOSED

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

When = dt.datetime | dt.date | str | None
_CREATE_VIEW = re.compile(r"\bCREATE\s+OR\s+REPLACE\s+VIEW\b", re.IGNORECASE)


def ensure_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Make the views of ``queries/`` usable on any connection, read-only ones included.

    A writer stores the views in the file (``diag.store.views``); a read-only connection to a file whose
    stored views are missing or older than this kmsdiag gets them as TEMP views (session only, nothing is
    written). Returns the names of the views created here.
    """
    from diag.store.views import _digest, view_files

    files = view_files()
    rows = con.execute("SELECT value FROM meta WHERE key = 'views_digest'").fetchall() if _has(con, "meta") else []
    row = rows[0] if rows else None
    if row and row[0] == _digest(files):
        return []
    pending = list(files)
    created: list[str] = []
    while pending:
        still = []
        for f in pending:
            sql = _CREATE_VIEW.sub("CREATE OR REPLACE TEMP VIEW", f.read_text(encoding="utf-8"), count=1)
            try:
                con.execute(sql)
                created.append(f.stem)
            except Exception:  # a table this view needs is not in this database (yet)
                still.append(f)
        if len(still) == len(pending):
            break
        pending = still
    return created


def _has(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    from diag.store.catalog import table_exists

    return table_exists(con, name)


def _instant(value: When) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    from diag.report.window import parse_instant, utcnow

    return parse_instant(value, utcnow(), option="since/until")


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> pd.DataFrame:
    return con.execute(sql, params).df()


def _window_sql(column: str, since: When, until: When) -> tuple[str, list[Any]]:
    clauses, params = [], []
    start, end = _instant(since), _instant(until)
    if start is not None:
        clauses.append(f"{column} >= ?")
        params.append(start)
    if end is not None:
        clauses.append(f"{column} < ?")
        params.append(end)
    return (" AND ".join(clauses) or "TRUE"), params


def failures(
    con: duckdb.DuckDBPyConnection,
    since: When = None,
    until: When = None,
    *,
    verdict: str | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """One row per failed call (the ``failures`` view), newest first, without the raw findings JSON."""
    where, params = _window_sql("event_time", since, until)
    if verdict:
        where += " AND coalesce(verdict, ?) = ?"
        params += [NOT_DIAGNOSED, verdict]
    lim = ""
    if limit is not None:
        lim = " LIMIT ?"
        params.append(int(limit))
    return _df(con, f"SELECT * EXCLUDE (findings) FROM failures WHERE {where} ORDER BY event_time DESC{lim}", params)


def failures_over_time(
    con: duckdb.DuckDBPyConnection, since: When = None, until: When = None, *, freq: str = "day"
) -> pd.DataFrame:
    """Failures per time bucket (``hour`` or ``day``) and verdict, as a wide table: one column per verdict."""
    if freq not in ("hour", "day"):
        raise ValueError("freq must be 'hour' or 'day'")
    where, params = _window_sql("event_time", since, until)
    long = _df(
        con,
        f"SELECT date_trunc('{freq}', event_time) AS bucket, coalesce(verdict, '{NOT_DIAGNOSED}') AS verdict,"
        f" count(*) AS failures FROM failures WHERE {where} GROUP BY ALL ORDER BY 1",
        params,
    )
    if long.empty:
        return long
    return long.pivot_table(index="bucket", columns="verdict", values="failures", fill_value=0, aggfunc="sum")


def top_keys(
    con: duckdb.DuckDBPyConnection, since: When = None, until: When = None, *, limit: int = 10
) -> pd.DataFrame:
    """Keys with the most failures: owner, callers, causes, verdicts, first and last failure."""
    where, params = _window_sql("event_time", since, until)
    return _df(
        con,
        f"""SELECT key_ref, any_value(key_account) AS key_account, count(*) AS failures,
                   count(DISTINCT caller_principal) AS callers,
                   count(DISTINCT (verdict, caller_principal, action)) AS causes,
                   list(DISTINCT coalesce(verdict, '{NOT_DIAGNOSED}')) AS verdicts,
                   min(event_time) AS first_failure, max(event_time) AS last_failure
            FROM failures WHERE {where} GROUP BY key_ref ORDER BY failures DESC, key_ref LIMIT ?""",
        [*params, int(limit)],
    )


def top_callers(
    con: duckdb.DuckDBPyConnection, since: When = None, until: When = None, *, limit: int = 10
) -> pd.DataFrame:
    """Roles/users with the most failures, with the keys and verdicts involved and since when they fail."""
    where, params = _window_sql("event_time", since, until)
    return _df(
        con,
        f"""SELECT caller_principal, any_value(caller_account) AS caller_account, count(*) AS failures,
                   count(DISTINCT key_ref) AS keys, list(DISTINCT coalesce(verdict, '{NOT_DIAGNOSED}')) AS verdicts,
                   list(DISTINCT caller_session_name)[1:5] AS sessions,
                   min(event_time) AS failing_since, max(event_time) AS last_failure
            FROM failures WHERE {where} GROUP BY caller_principal ORDER BY failures DESC, caller_principal LIMIT ?""",
        [*params, int(limit)],
    )


def causes(con: duckdb.DuckDBPyConnection, since: When = None, until: When = None) -> pd.DataFrame:
    """One row per cause (verdict, caller, key, action) in the window, most failures first."""
    where, params = _window_sql("event_time", since, until)
    return _df(
        con,
        f"""SELECT {CAUSE_ID_SQL} AS cause_id, coalesce(verdict, '{NOT_DIAGNOSED}') AS verdict,
                   caller_principal, key_ref, action, count(*) AS failures,
                   min(event_time) AS first_seen, max(event_time) AS last_seen,
                   list(event_id ORDER BY event_time DESC, event_id)[1:5] AS example_event_ids,
                   arg_max(findings -> 0 ->> 'summary', event_time) AS summary
            FROM failures WHERE {where} GROUP BY ALL ORDER BY failures DESC, last_seen DESC""",
        params,
    )


def fixes(con: duckdb.DuckDBPyConnection, since: When = None, until: When = None) -> pd.DataFrame:
    """Which fixes would remove the most failures: the primary finding's fix, with the failures it covers
    and its first command (skipping "# with credentials of …" comment lines). RESOLVED_SINCE failures
    are left out: the policies already allow them."""
    where, params = _window_sql("event_time", since, until)
    return _df(
        con,
        f"""WITH f AS (
                SELECT *, findings -> 0 -> 'fix' AS fix FROM failures
                WHERE {where} AND verdict IS NOT NULL AND verdict <> 'RESOLVED_SINCE'  -- already fixed
            )
            SELECT verdict, fix ->> 'summary' AS fix_summary,
                   coalesce(
                       list_filter(CAST(fix -> 'commands' AS VARCHAR[]), lambda c: NOT starts_with(ltrim(c), '#'))[1],
                       fix -> 'commands' ->> 0
                   ) AS first_command,
                   count(*) AS failures_removed,
                   count(DISTINCT (caller_principal, key_ref, action)) AS causes,
                   list(DISTINCT caller_principal) AS callers,
                   list(DISTINCT key_ref) AS keys
            FROM f GROUP BY ALL ORDER BY failures_removed DESC, fix_summary""",
        params,
    )


def policy_timeline(
    con: duckdb.DuckDBPyConnection, since: When = None, until: When = None, *, target: str | None = None
) -> pd.DataFrame:
    """Policy, grant and key-state changes (``policy_timeline`` view), oldest first; ``target`` filters by substring."""
    where, params = _window_sql("change_time", since, until)
    if target:
        where += " AND contains(coalesce(target, ''), ?)"
        params.append(target)
    return _df(con, f"SELECT * FROM policy_timeline WHERE {where} ORDER BY change_time", params)


def spikes(con: duckdb.DuckDBPyConnection, *, freq: str = "hour", top: int = 3) -> pd.DataFrame:
    """The time buckets with the most failures, with how many there were in the bucket before."""
    if freq not in ("hour", "day"):
        raise ValueError("freq must be 'hour' or 'day'")
    step = "INTERVAL 1 HOUR" if freq == "hour" else "INTERVAL 1 DAY"
    return _df(
        con,
        f"""WITH b AS (SELECT date_trunc('{freq}', event_time) AS bucket, count(*) AS failures FROM failures GROUP BY 1)
            SELECT b.bucket, b.failures, coalesce(p.failures, 0) AS failures_bucket_before
            FROM b LEFT JOIN b AS p ON p.bucket = b.bucket - {step}
            ORDER BY b.failures - coalesce(p.failures, 0) DESC, b.bucket LIMIT ?""",
        [int(top)],
    )


def changes_before(
    con: duckdb.DuckDBPyConnection, at: When, *, hours: float = 24, accounts: list[str] | None = None
) -> pd.DataFrame:
    """Policy changes in the ``hours`` before ``at`` (e.g. the start of a spike), newest first; only in
    ``accounts`` when given (e.g. :func:`spike_accounts`: the accounts whose calls failed in the spike)."""
    end = _instant(at)
    if end is None:
        raise ValueError("changes_before needs a time")
    start = end - dt.timedelta(hours=hours)
    sql = "SELECT * FROM policy_timeline WHERE change_time >= ? AND change_time <= ?"
    params: list[Any] = [start, end]
    if accounts is not None:
        if not accounts:
            sql += " AND false"
        else:
            sql += " AND account IN (" + ", ".join("?" for _ in accounts) + ")"
            params.extend(accounts)
    return _df(con, sql + " ORDER BY change_time DESC", params)


def spike_accounts(con: duckdb.DuckDBPyConnection, bucket: When, *, freq: str = "hour") -> list[str]:
    """The accounts involved in the failures of one time bucket (callers' and keys' owners), sorted."""
    start = _instant(bucket)
    if start is None or freq not in ("hour", "day"):
        raise ValueError("spike_accounts needs a bucket start and freq 'hour' or 'day'")
    end = start + (dt.timedelta(hours=1) if freq == "hour" else dt.timedelta(days=1))
    rows = con.execute(
        "SELECT DISTINCT a FROM (SELECT caller_account AS a FROM failures WHERE event_time >= ? AND event_time < ?"
        " UNION ALL SELECT key_account FROM failures WHERE event_time >= ? AND event_time < ?)"
        " WHERE a IS NOT NULL ORDER BY a",
        [start, end, start, end],
    ).fetchall()
    return [str(r[0]) for r in rows]


DEMO_DB_NAME = "kmsdiag-demo.duckdb"


def find_database(name: str = DEMO_DB_NAME) -> Path:
    """The database a notebook should open, whatever its working directory: ``$KMSDIAG_DB``, else
    ``$KMSDIAG_DEMO_DB``, else ``name`` in the working directory or one of its parents, else in the
    checkout that holds this package (where ``kmsdiag demo`` run at the top writes it)."""
    import os

    for var in ("KMSDIAG_DB", "KMSDIAG_DEMO_DB"):
        if os.environ.get(var):
            return Path(os.environ[var])
    cwd = Path.cwd().resolve()
    candidates = [d / name for d in (cwd, *cwd.parents)]
    candidates.append(Path(__file__).resolve().parent.parent / name)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    from diag.errors import NotFoundError

    raise NotFoundError(
        f"no {name} in {cwd}, its parents or the kmsdiag checkout; run `kmsdiag demo` at the repository's top,"
        " or set KMSDIAG_DB=/path/to/kmsdiag.duckdb"
    )


def plot_failures_over_time(
    con: duckdb.DuckDBPyConnection, since: When = None, until: When = None, *, freq: str = "day", top: int = 7
) -> Any:
    """A stacked bar chart of :func:`failures_over_time` (matplotlib Axes): the ``top`` verdicts by name, the
    rest as one "N other verdicts" series; one bar per bucket that had failures."""
    import matplotlib.pyplot as plt  # pyplot: Jupyter's inline backend shows the figure under the cell

    wide = failures_over_time(con, since, until, freq=freq)
    fig, ax = plt.subplots(figsize=(10, 4))
    if wide.empty:
        ax.set_title("no failures to plot")
        return ax
    order = wide.sum().sort_values(ascending=False, kind="stable")
    named = list(order.index[:top]) if len(order) > top + 1 else list(order.index)
    rest = [v for v in order.index if v not in named]
    series = {str(v): wide[v].to_numpy() for v in named}
    if rest:
        series[f"{len(rest)} other verdicts"] = wide[rest].sum(axis=1).to_numpy()
    positions = list(range(len(wide.index)))
    bottom = [0] * len(positions)
    for label, counts in series.items():
        values = [int(c) for c in counts]
        ax.bar(positions, values, bottom=bottom, label=label, width=0.8)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_xticks(positions)
    fmt = "%m-%d %H:%M" if freq == "hour" else "%Y-%m-%d"
    ax.set_xticklabels([t.strftime(fmt) for t in wide.index], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("failures")
    ax.set_title(f"KMS access failures per {freq} (buckets with failures), by verdict")
    ax.legend(fontsize=8, bbox_to_anchor=(1.0, 1.0), loc="upper left")
    fig.tight_layout()
    return ax


def report_runs(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Recorded report runs, newest first (empty before the first `kmsdiag report`)."""
    if not _has(con, "report_runs"):
        import pandas as pd

        return pd.DataFrame()
    return _df(con, "SELECT * FROM report_runs ORDER BY generated_at DESC", [])
