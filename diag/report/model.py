"""The report model: every figure of a `kmsdiag report`, computed in DuckDB over the ``failures`` view.

The model is plain dataclasses (the JSON format is exactly ``dataclasses.asdict`` of :class:`Report`), built
by :func:`build_report` from one connection and one window. Renderers (HTML, Markdown, JSON) only format
it. Work is proportional to the failures in the window: one scan of ``events`` filtered on ``error_code``
fills a temporary table, and every section aggregates that table.

A *cause* is (verdict, caller principal, key, action). Its ``cause_id`` is a hash of the four, the same in
SQL (:data:`CAUSE_ID_SQL`, the ``causes`` view) and in Python (:func:`cause_id`), so report runs recorded
in ``report_run_causes`` can be compared: *new* causes were not in the previous recorded run; *resolved*
causes were in it, have not failed since its window ended, and have no failure in this report's window
either (a cause still failing in an overlapping window is *ongoing*, never resolved).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from diag.report.basis import cause_basis
from diag.report.window import Window, utcnow
from diag.store.bulk import insert_columns
from diag.store.catalog import table_exists
from diag.version import __version__

RUN_CAUSE_COLUMNS = (
    "run_id",
    "cause_id",
    "verdict",
    "caller",
    "key_ref",
    "action",
    "failures",
    "first_seen",
    "last_seen",
)

RUN_FINDING_COLUMNS = ("run_id", "finding_id", "code", "severity", "account", "resource", "summary")

if TYPE_CHECKING:
    import duckdb

    from diag.report.audit_section import AuditSection

NOT_DIAGNOSED = "NOT_DIAGNOSED"
RESOLVED_SINCE = "RESOLVED_SINCE"
UNKNOWN = "UNKNOWN"

CAUSE_ID_SQL = (
    "left(md5(concat_ws('|', coalesce(verdict, 'NOT_DIAGNOSED'), coalesce(caller_principal, ''),"
    " coalesce(key_ref, ''), coalesce(action, ''))), 16)"
)
_TMP = "_kmsdiag_report_failures"  # the window's failures
_ALL = "_kmsdiag_report_recent"  # every failure since min(window start, previous run's window end)


def cause_id(verdict: str | None, caller: str | None, key_ref: str | None, action: str | None) -> str:
    """The stable id of a cause (same value as :data:`CAUSE_ID_SQL`)."""
    text = "|".join([verdict or NOT_DIAGNOSED, caller or "", key_ref or "", action or ""])
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]


@dataclass
class Headline:
    failures: int
    causes: int
    accounts: int
    keys: int
    callers: int
    new_causes: int
    resolved_causes: int
    not_diagnosed: int
    unknown: int
    already_fixed: int  # failures whose verdict is RESOLVED_SINCE: the policies now allow the call


@dataclass
class TimelinePoint:
    bucket_start: dt.datetime
    verdict: str
    failures: int


@dataclass
class Timeline:
    bucket: str  # "hour" or "day"
    points: list[TimelinePoint]


@dataclass
class KeyRow:
    key_ref: str | None
    key_account: str | None
    failures: int
    causes: int
    callers: int
    verdicts: list[str]
    last_seen: dt.datetime | None


@dataclass
class PairRow:
    caller: str | None
    key_ref: str | None
    failures: int
    actions: list[str]
    verdicts: list[str]
    last_seen: dt.datetime | None


@dataclass
class AccountRow:
    account: str
    failures_as_caller: int
    failures_on_its_keys: int
    callers: int
    keys: int
    causes: int
    top_verdict: str | None


@dataclass
class Cause:
    cause_id: str
    verdict: str
    status: str  # new | ongoing | resolved | not_diagnosed (see module docstring)
    caller: str | None
    key_ref: str | None
    action: str | None
    failures: int
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None
    example_event_ids: list[str]
    caller_accounts: list[str]
    key_account: str | None
    regions: list[str]
    session_names: list[str]
    user_agents: list[str]
    error_codes: list[str]
    codes: list[str]
    summary: str | None
    findings: list[dict[str, Any]]  # DESIGN.md section 7, from the newest diagnosed event of the cause
    already_fixed: bool
    # what the answer rests on, as explain says it (from the newest diagnosed event): the decision the evidence
    # proves and {record, layers_seen, layers_not_seen, ...}; None: not diagnosed, or diagnosed before kmsdiag
    # recorded it (diag.report.basis)
    decision: str | None = None
    based_on: dict[str, Any] | None = None
    based_on_text: str = ""


@dataclass
class ResolvedCause:
    cause_id: str
    verdict: str
    caller: str | None
    key_ref: str | None
    action: str | None
    failures_in_previous_report: int
    last_seen: dt.datetime | None


@dataclass
class TimelineChange:
    """One row of the ``policy_timeline`` view as the report shows it (its JSON keys are the report's
    contract); the replayed change itself is ``diag.collect.model.PolicyChange``."""

    change_time: dt.datetime | None
    account: str | None
    change_kind: str
    event_name: str
    target: str | None
    actor: str | None
    summary: str | None
    event_id: str


@dataclass
class DataQuality:
    refused_files: int  # refused inputs ingested since the window started
    refused_files_total: int
    refused_examples: list[dict[str, Any]]
    collection_gaps: int | None  # gaps in the newest snapshot of each account; None: never collected
    gap_examples: list[dict[str, Any]]  # {account, region, what, call, resource, error, how_to_collect}
    policies_collected_at: dt.datetime | None  # newest snapshot
    not_diagnosed: int
    unknown: int
    undiagnosed_reasons: list[dict[str, Any]]  # [{status, reason, failures, example_event_id}]
    newest_event: dt.datetime | None
    files_ingested_in_window: int


@dataclass
class PreviousRun:
    run_id: str
    generated_at: dt.datetime
    window_start: dt.datetime
    window_end: dt.datetime
    causes: int


@dataclass
class Report:
    generated_at: dt.datetime
    window_start: dt.datetime
    window_end: dt.datetime
    window_label: str
    kmsdiag_version: str
    database: str | None
    previous_run: PreviousRun | None
    headline: Headline
    timeline: Timeline
    by_verdict: list[dict[str, Any]]
    top_keys: list[KeyRow]
    top_pairs: list[PairRow]
    accounts: list[AccountRow]
    causes: list[Cause]
    resolved_causes: list[ResolvedCause]
    policy_changes: list[TimelineChange]
    data_quality: DataQuality
    audit: AuditSection | None = None  # None: skipped (--no-audit)
    schema: str = field(default="kmsdiag.report/1")

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


# --------------------------------------------------------------------------------------------- helpers


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    rows = con.execute(sql, params or []).fetchall()  # fetchall: DuckDB 2 keeps a half-read result open
    return rows[0][0] if rows else None


def _json_value(value: Any) -> Any:
    """DuckDB returns JSON columns as text; parse them (bad JSON stays as text)."""
    if isinstance(value, str):
        import orjson

        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _findings(value: Any) -> list[dict[str, Any]]:
    parsed = _json_value(value)
    if isinstance(parsed, dict):
        parsed = [parsed]
    if not isinstance(parsed, list):
        return []
    return [f for f in parsed if isinstance(f, dict)]


def _clean(values: Any) -> list[str]:
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


def _fill_window(con: duckdb.DuckDBPyConnection, window: Window, since_prev: dt.datetime | None) -> None:
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


def _timeline(con: duckdb.DuckDBPyConnection, window: Window) -> Timeline:
    bucket = "hour" if window.hours <= 72 else "day"
    rows = _rows(
        con,
        f"SELECT date_trunc('{bucket}', event_time) AS bucket_start, coalesce(verdict, '{NOT_DIAGNOSED}') AS verdict,"
        f" count(*) AS failures FROM {_TMP} GROUP BY ALL ORDER BY 1, 2",
    )
    return Timeline(bucket=bucket, points=[TimelinePoint(**r) for r in rows])


def _causes(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
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


def _causes_since(con: duckdb.DuckDBPyConnection, since: dt.datetime) -> set[str]:
    rows = con.execute(f"SELECT DISTINCT cause_id FROM {_ALL} WHERE event_time >= ?", [since]).fetchall()
    return {r[0] for r in rows}


def _previous_causes(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict[str, Any]]:
    return _rows(
        con,
        "SELECT cause_id, verdict, caller, key_ref, action, failures, last_seen FROM report_run_causes "
        "WHERE run_id = ? ORDER BY failures DESC, cause_id",
        [run_id],
    )


def _top_keys(con: duckdb.DuckDBPyConnection, limit: int) -> list[KeyRow]:
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


def _top_pairs(con: duckdb.DuckDBPyConnection, limit: int) -> list[PairRow]:
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


def _accounts(con: duckdb.DuckDBPyConnection) -> list[AccountRow]:
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


def _policy_changes(con: duckdb.DuckDBPyConnection, window: Window, limit: int) -> list[TimelineChange]:
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


def _data_quality(con: duckdb.DuckDBPyConnection, window: Window, limit: int) -> DataQuality:
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


# --------------------------------------------------------------------------------------------- build


def build_report(
    con: duckdb.DuckDBPyConnection,
    window: Window,
    *,
    database: str | None = None,
    previous: PreviousRun | bool | None = True,
    generated_at: dt.datetime | None = None,
    top: int = 10,
    examples: int = 20,
    audit: bool = True,
    audit_matrix: bool = False,
) -> Report:
    """Compute the report for ``window``.

    ``previous``: True (default) compares with the newest recorded run whose window ended before this
    one's (:func:`previous_run`); a :class:`PreviousRun` compares with that run; None or False compares
    with nothing (every diagnosed cause is then new).
    ``audit``: add the policy-audit section (:mod:`diag.report.audit_section`, as of ``generated_at``);
    ``audit_matrix``: with the "who can use this key" matrix too (slow: the engine decides every
    principal, key and action).
    """
    generated_at = generated_at or utcnow()
    prev = previous_run(con, window.end) if previous is True else (previous or None)
    _fill_window(con, window, prev.window_end if prev else None)

    raw_causes = _causes(con)
    prev_causes = _previous_causes(con, prev.run_id) if prev else []
    prev_ids = {c["cause_id"] for c in prev_causes}
    # still failing: in this report's window (windows of runs minutes apart overlap), or at any time since the
    # previous run's window ended. Such a cause is never "resolved", however recent the previous run.
    seen_since_prev = (_causes_since(con, prev.window_end) if prev else set()) | {r["cause_id"] for r in raw_causes}

    causes: list[Cause] = []
    for r in raw_causes:
        findings = _findings(r.pop("findings"))
        basis = cause_basis(r.pop("decision"), _json_value(r.pop("based_on")), r["verdict"], findings)
        verdict = r["verdict"]
        if verdict == NOT_DIAGNOSED:
            status = "not_diagnosed"
        elif r["cause_id"] not in prev_ids:
            status = "new"
        elif r["cause_id"] in seen_since_prev:
            status = "ongoing"
        else:
            status = "resolved"
        causes.append(
            Cause(
                cause_id=r["cause_id"],
                verdict=verdict,
                status=status,
                caller=r["caller"],
                key_ref=r["key_ref"],
                action=r["action"],
                failures=int(r["failures"]),
                first_seen=r["first_seen"],
                last_seen=r["last_seen"],
                example_event_ids=_clean(r["example_event_ids"]),
                caller_accounts=_clean(r["caller_accounts"]),
                key_account=r["key_account"],
                regions=_clean(r["regions"]),
                session_names=_clean(r["session_names"]),
                user_agents=_clean(r["user_agents"]),
                error_codes=_clean(r["error_codes"]),
                codes=_clean(r["codes"]) or [verdict],
                summary=next((str(f["summary"]) for f in findings if f.get("summary")), None),
                findings=findings,
                already_fixed=verdict == RESOLVED_SINCE and basis.fixed_proven,
                decision=basis.decision,
                based_on=basis.based_on,
                based_on_text=basis.text,
            )
        )

    resolved = [
        ResolvedCause(
            cause_id=c["cause_id"],
            verdict=c["verdict"],
            caller=c["caller"],
            key_ref=c["key_ref"],
            action=c["action"],
            failures_in_previous_report=int(c["failures"]),
            last_seen=c["last_seen"],
        )
        for c in prev_causes
        if c["cause_id"] not in seen_since_prev and c["verdict"] != NOT_DIAGNOSED
    ]

    totals = con.execute(
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
    assert totals is not None
    headline = Headline(
        failures=int(totals[0]),
        causes=len(causes),
        accounts=int(totals[5]),
        keys=int(totals[1]),
        callers=int(totals[2]),
        new_causes=sum(1 for c in causes if c.status == "new"),
        resolved_causes=len(resolved),
        not_diagnosed=int(totals[3]),
        unknown=int(totals[4]),
        already_fixed=sum(c.failures for c in causes if c.already_fixed),  # RESOLVED_SINCE with its evidence
    )
    by_verdict = _rows(
        con,
        f"SELECT coalesce(verdict, '{NOT_DIAGNOSED}') AS verdict, count(*) AS failures,"
        f" count(DISTINCT cause_id) AS causes FROM {_TMP} GROUP BY ALL ORDER BY failures DESC, verdict",
    )
    report = Report(
        generated_at=generated_at,
        window_start=window.start,
        window_end=window.end,
        window_label=window.label,
        kmsdiag_version=__version__,
        database=database,
        previous_run=prev,
        headline=headline,
        timeline=_timeline(con, window),
        by_verdict=by_verdict,
        top_keys=_top_keys(con, top),
        top_pairs=_top_pairs(con, top),
        accounts=_accounts(con),
        causes=causes,
        resolved_causes=resolved,
        policy_changes=_policy_changes(con, window, examples),
        data_quality=_data_quality(con, window, examples),
    )
    con.execute(f"DROP TABLE IF EXISTS {_TMP}")
    con.execute(f"DROP TABLE IF EXISTS {_ALL}")
    if audit:
        from diag.report.audit_section import build_audit_section

        report.audit = build_audit_section(con, now=generated_at, matrix=audit_matrix)
        if report.previous_run is not None and table_exists(con, "report_run_audits"):
            from diag.report.audit_section import compare_with_run

            compare_with_run(con, report.audit, report.previous_run.run_id, report.previous_run.generated_at)
    return report


def record_run(con: duckdb.DuckDBPyConnection, report: Report, *, fmt: str, out_path: str | None) -> str:
    """Store the run and its causes (needs a writable connection); return the new run_id."""
    import secrets

    run_id = secrets.token_hex(8)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "INSERT INTO report_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                report.generated_at,
                report.window_start,
                report.window_end,
                fmt,
                out_path,
                report.headline.failures,
                report.headline.causes,
                report.headline.new_causes,
                report.headline.resolved_causes,
                report.previous_run.run_id if report.previous_run else None,
                report.kmsdiag_version,
            ],
        )
        if report.causes:
            insert_columns(
                con,
                "report_run_causes",
                RUN_CAUSE_COLUMNS,
                [
                    [
                        run_id,
                        c.cause_id,
                        c.verdict,
                        c.caller,
                        c.key_ref,
                        c.action,
                        c.failures,
                        c.first_seen,
                        c.last_seen,
                    ]
                    for c in report.causes
                ],
                types={"first_seen": "TIMESTAMP", "last_seen": "TIMESTAMP"},
            )
        audit = report.audit
        if audit is not None and audit.status == "ok" and table_exists(con, "report_run_audits"):
            con.execute("INSERT INTO report_run_audits VALUES (?, ?)", [run_id, audit.total])
            rows = {
                f["finding_id"]: [
                    run_id,
                    f["finding_id"],
                    f.get("code"),
                    f.get("severity"),
                    f.get("account"),
                    f.get("resource"),
                    f.get("summary"),
                ]
                for g in audit.groups
                for f in g.findings
            }
            insert_columns(con, "report_run_findings", RUN_FINDING_COLUMNS, list(rows.values()))
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return run_id
