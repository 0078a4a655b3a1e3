"""The report's SQL sections: each aggregates the window's failures (a temporary table) into model rows.

:func:`fill_window` evaluates the ``failures`` view once into two temporary tables (the window's failures,
and every failure since the earlier of the window start and the previous run's window end); every other
function here reads them, and :func:`drop_window` drops them. :mod:`diag.report.build` assembles the
sections into a :class:`~diag.report.model.Report`.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from diag.report.model import (
    CAUSE_ID_SQL,
    NOT_DIAGNOSED,
    UNKNOWN,
    AccountRow,
    DataQuality,
    KeyRow,
    PairRow,
    PreviousRun,
    Timeline,
    TimelineChange,
    TimelinePoint,
)
from diag.report.window import Window
from diag.store.catalog import table_exists

if TYPE_CHECKING:
    import duckdb

_TMP = "_kmsdiag_report_failures"  # the window's failures
_ALL = "_kmsdiag_report_recent"  # every failure since min(window start, previous run's window end)


# --------------------------------------------------------------------------------------------- helpers


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    rows = con.execute(sql, params or []).fetchall()  # fetchall: DuckDB 2 keeps a half-read result open
    return rows[0][0] if rows else None


def json_value(value: Any) -> Any:
    """DuckDB returns JSON columns as text; parse them (bad JSON stays as text)."""
    if isinstance(value, str):
        import orjson

        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def findings_list(value: Any) -> list[dict[str, Any]]:
    parsed = json_value(value)
    if isinstance(parsed, dict):
        parsed = [parsed]
    if not isinstance(parsed, list):
        return []
    return [f for f in parsed if isinstance(f, dict)]


def clean(values: Any) -> list[str]:
    return [str(v) for v in (values or []) if v is not None]


# --------------------------------------------------------------------------------------------- sections


def previous_run(con: duckdb.DuckDBPyConnection, window_end: dt.datetime | None = None) -> PreviousRun | None:
    """The recorded run to compare with: the newest whose window ended before ``window_end``.

    Runs over the same window are skipped, so re-running a report gives the same new/resolved answer.
    """
    if not table_exists(con, "report_runs"):
        return None
    rows = _rows(
        con,
        "SELECT run_id, generated_at, window_start, window_end, causes FROM report_runs "
        "WHERE ? IS NULL OR window_end < ? ORDER BY window_end DESC, generated_at DESC, run_id DESC LIMIT 1",
        [window_end, window_end],
    )
    return PreviousRun(**rows[0]) if rows else None


def fill_window(con: duckdb.DuckDBPyConnection, window: Window, since_prev: dt.datetime | None) -> None:
    """Evaluate the ``failures`` view once: every failure from the earlier of the window start and the
    previous run's window end (to tell resolved causes), then the window's subset that the sections read."""
    start = min(window.start, since_prev) if since_prev else window.start
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_ALL} AS "
        f"SELECT *, {CAUSE_ID_SQL} AS cause_id FROM failures WHERE event_time >= ?",
        [start],
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_TMP} AS SELECT * FROM {_ALL} WHERE event_time >= ? AND event_time < ?",
        [window.start, window.end],
    )


def timeline(con: duckdb.DuckDBPyConnection, window: Window) -> Timeline:
    bucket = "hour" if window.hours <= 72 else "day"
    rows = _rows(
        con,
        f"SELECT date_trunc('{bucket}', event_time) AS bucket_start, coalesce(verdict, '{NOT_DIAGNOSED}') AS verdict,"
        f" count(*) AS failures FROM {_TMP} GROUP BY ALL ORDER BY 1, 2",
    )
    return Timeline(bucket=bucket, points=[TimelinePoint(**r) for r in rows])


def window_causes(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return _rows(
        con,
        f"""
        SELECT cause_id,
               coalesce(verdict, '{NOT_DIAGNOSED}') AS verdict,
               caller_principal AS caller, key_ref, action,
               count(*) AS failures,
               min(event_time) AS first_seen,
               max(event_time) AS last_seen,
               list(event_id ORDER BY event_time DESC, event_id)[1:5] AS example_event_ids,
               list(DISTINCT caller_account ORDER BY caller_account) AS caller_accounts,
               any_value(key_account) AS key_account,
               list(DISTINCT aws_region ORDER BY aws_region) AS regions,
               list(DISTINCT caller_session_name ORDER BY caller_session_name)[1:5] AS session_names,
               list(DISTINCT user_agent ORDER BY user_agent)[1:3] AS user_agents,
               list(DISTINCT error_code ORDER BY error_code) AS error_codes,
               arg_max(codes, event_time) FILTER (WHERE verdict IS NOT NULL) AS codes,
               arg_max(CAST(findings AS VARCHAR), event_time) FILTER (WHERE verdict IS NOT NULL) AS findings,
               arg_max(decision, event_time) FILTER (WHERE verdict IS NOT NULL) AS decision,
               arg_max(CAST(based_on AS VARCHAR), event_time) FILTER (WHERE verdict IS NOT NULL) AS based_on
        FROM {_TMP}
        GROUP BY ALL
        ORDER BY failures DESC, last_seen DESC, cause_id
        """,
    )


def causes_since(con: duckdb.DuckDBPyConnection, since: dt.datetime) -> set[str]:
    rows = con.execute(f"SELECT DISTINCT cause_id FROM {_ALL} WHERE event_time >= ?", [since]).fetchall()
    return {r[0] for r in rows}


def previous_causes(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict[str, Any]]:
    return _rows(
        con,
        "SELECT cause_id, verdict, caller, key_ref, action, failures, last_seen FROM report_run_causes "
        "WHERE run_id = ? ORDER BY failures DESC, cause_id",
        [run_id],
    )


def top_keys(con: duckdb.DuckDBPyConnection, limit: int) -> list[KeyRow]:
    rows = _rows(
        con,
        f"""
        SELECT key_ref, any_value(key_account) AS key_account, count(*) AS failures,
               count(DISTINCT cause_id) AS causes, count(DISTINCT caller_principal) AS callers,
               list(DISTINCT coalesce(verdict, '{NOT_DIAGNOSED}') ORDER BY coalesce(verdict, '{NOT_DIAGNOSED}')) AS verdicts,
               max(event_time) AS last_seen
        FROM {_TMP} GROUP BY key_ref ORDER BY failures DESC, key_ref NULLS LAST LIMIT ?
        """,
        [limit],
    )
    return [KeyRow(**r) for r in rows]


def top_pairs(con: duckdb.DuckDBPyConnection, limit: int) -> list[PairRow]:
    rows = _rows(
        con,
        f"""
        SELECT caller_principal AS caller, key_ref, count(*) AS failures,
               list(DISTINCT action ORDER BY action) AS actions,
               list(DISTINCT coalesce(verdict, '{NOT_DIAGNOSED}') ORDER BY coalesce(verdict, '{NOT_DIAGNOSED}')) AS verdicts,
               max(event_time) AS last_seen
        FROM {_TMP} GROUP BY ALL ORDER BY failures DESC, caller NULLS LAST, key_ref NULLS LAST LIMIT ?
        """,
        [limit],
    )
    return [PairRow(**r) for r in rows]


def accounts(con: duckdb.DuckDBPyConnection) -> list[AccountRow]:
    rows = _rows(
        con,
        f"""
        WITH sides AS (
            SELECT caller_account AS account, 'caller' AS side, caller_principal, key_ref, cause_id, verdict FROM {_TMP}
            UNION ALL
            SELECT key_account, 'owner', caller_principal, key_ref, cause_id, verdict FROM {_TMP}
        )
        SELECT account,
               count(*) FILTER (WHERE side = 'caller') AS failures_as_caller,
               count(*) FILTER (WHERE side = 'owner') AS failures_on_its_keys,
               count(DISTINCT caller_principal) FILTER (WHERE side = 'caller') AS callers,
               count(DISTINCT key_ref) FILTER (WHERE side = 'owner') AS keys,
               count(DISTINCT cause_id) AS causes,
               mode(coalesce(verdict, '{NOT_DIAGNOSED}')) AS top_verdict
        FROM sides WHERE account IS NOT NULL
        GROUP BY account ORDER BY failures_as_caller + failures_on_its_keys DESC, account
        """,
    )
    return [AccountRow(**r) for r in rows]


def policy_changes(con: duckdb.DuckDBPyConnection, window: Window, limit: int) -> list[TimelineChange]:
    if not table_exists(con, "policy_timeline"):
        return []
    rows = _rows(
        con,
        "SELECT change_time, account, change_kind, event_name, target, actor, summary, event_id FROM policy_timeline "
        "WHERE change_time >= ? AND change_time < ? ORDER BY change_time DESC LIMIT ?",
        [window.start, window.end, limit],
    )
    return [TimelineChange(**r) for r in rows]


def _collection(
    con: duckdb.DuckDBPyConnection, limit: int
) -> tuple[int | None, list[dict[str, Any]], dt.datetime | None]:
    """Gaps of the newest snapshot of each account (what diagnosis cannot see now), and when policies
    were last collected. (None, [], None) when no collection ran on this database."""
    if not (table_exists(con, "collection_gaps") and table_exists(con, "snapshots")):
        return None, [], None
    collected = _scalar(con, "SELECT max(collected_at) FROM snapshots")
    if collected is None:
        return None, [], None
    latest = (
        "snapshot_id IN (SELECT max(snapshot_id) FROM snapshot_accounts GROUP BY account)"
        " OR snapshot_id = (SELECT max(snapshot_id) FROM snapshots)"
        if table_exists(con, "snapshot_accounts")
        else "snapshot_id = (SELECT max(snapshot_id) FROM snapshots)"
    )
    total = int(_scalar(con, f"SELECT count(*) FROM collection_gaps WHERE {latest}") or 0)
    examples = _rows(
        con,
        f"SELECT account, region, what, call, resource, error, how_to_collect FROM collection_gaps WHERE {latest}"
        " ORDER BY account NULLS LAST, what, resource LIMIT ?",
        [limit],
    )
    return total, examples, collected


def data_quality(con: duckdb.DuckDBPyConnection, window: Window, limit: int) -> DataQuality:
    refused = int(
        _scalar(
            con, "SELECT count(*) FROM ingested_files WHERE status = 'refused' AND ingested_at >= ?", [window.start]
        )
        or 0
    )
    refused_total = int(_scalar(con, "SELECT count(*) FROM ingested_files WHERE status = 'refused'") or 0)
    refused_examples = _rows(
        con,
        "SELECT path, source, reason, ingested_at FROM ingested_files WHERE status = 'refused' "
        "ORDER BY ingested_at DESC NULLS LAST, path LIMIT ?",
        [limit],
    )
    gaps, gap_examples, collected = _collection(con, limit)
    reasons = _rows(
        con,
        f"""
        SELECT CASE WHEN verdict IS NULL THEN 'not_diagnosed' ELSE 'unknown' END AS status,
               CASE WHEN verdict IS NULL AND key_ref IS NULL
                         THEN 'not diagnosed yet (the event names no key): run `kmsdiag diagnose`'
                    WHEN verdict IS NULL THEN 'not diagnosed yet: run `kmsdiag diagnose`'
                    ELSE coalesce(CAST(findings AS JSON) -> 0 ->> 'summary', 'UNKNOWN: not enough evidence') END AS reason,
               count(*) AS failures,
               min(event_id) AS example_event_id
        FROM {_TMP} WHERE verdict IS NULL OR verdict = '{UNKNOWN}'
        GROUP BY ALL ORDER BY failures DESC, reason LIMIT ?
        """,
        [limit],
    )
    counts = con.execute(
        f"SELECT count(*) FILTER (WHERE verdict IS NULL), count(*) FILTER (WHERE verdict = '{UNKNOWN}') FROM {_TMP}"
    ).fetchall()[0]
    newest = _scalar(con, "SELECT max(event_time) FROM events")
    files = int(
        _scalar(
            con,
            "SELECT count(*) FROM ingested_files WHERE ingested_at >= ? AND ingested_at < ?",
            [window.start, window.end],
        )
        or 0
    )
    return DataQuality(
        refused_files=refused,
        refused_files_total=refused_total,
        refused_examples=refused_examples,
        collection_gaps=gaps,
        gap_examples=gap_examples,
        policies_collected_at=collected,
        not_diagnosed=int(counts[0]) if counts else 0,
        unknown=int(counts[1]) if counts else 0,
        undiagnosed_reasons=reasons,
        newest_event=newest,
        files_ingested_in_window=files,
    )


def totals(con: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """(failures, keys, callers, not diagnosed, unknown, accounts) of the window."""
    row = con.execute(
        f"""
        SELECT count(*),
               count(DISTINCT key_ref),
               count(DISTINCT caller_principal),
               count(*) FILTER (WHERE verdict IS NULL),
               count(*) FILTER (WHERE verdict = '{UNKNOWN}'),
               (SELECT count(DISTINCT a) FROM (SELECT caller_account AS a FROM {_TMP} UNION ALL SELECT key_account FROM {_TMP}))
        FROM {_TMP}
        """
    ).fetchall()[0]
    assert row is not None
    return tuple(row)


def by_verdict(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return _rows(
        con,
        f"SELECT coalesce(verdict, '{NOT_DIAGNOSED}') AS verdict, count(*) AS failures,"
        f" count(DISTINCT cause_id) AS causes FROM {_TMP} GROUP BY ALL ORDER BY failures DESC, verdict",
    )


def drop_window(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"DROP TABLE IF EXISTS {_TMP}")
    con.execute(f"DROP TABLE IF EXISTS {_ALL}")
