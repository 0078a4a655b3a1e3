"""Build a :class:`~diag.report.model.Report` from one connection and one window, and record a run.

:func:`build_report` fills the window's temporary tables once (:func:`diag.report.sections.fill_window`),
reads every section from them, classifies each cause against the previous recorded run (new, ongoing,
resolved, not diagnosed), and adds the policy-audit section. :func:`record_run` stores the run so the next
report can compare with it.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from diag.report import sections
from diag.report.basis import cause_basis
from diag.report.model import (
    NOT_DIAGNOSED,
    RESOLVED_SINCE,
    RUN_CAUSE_COLUMNS,
    RUN_FINDING_COLUMNS,
    Cause,
    Headline,
    PreviousRun,
    Report,
    ResolvedCause,
)
from diag.report.window import Window, utcnow
from diag.store.bulk import insert_columns
from diag.store.catalog import table_exists
from diag.version import __version__

if TYPE_CHECKING:
    import duckdb


def _status(cause_id: str, verdict: str, prev_ids: set[str], seen_since_prev: set[str]) -> str:
    if verdict == NOT_DIAGNOSED:
        return "not_diagnosed"
    if cause_id not in prev_ids:
        return "new"
    if cause_id in seen_since_prev:
        return "ongoing"
    return "resolved"


def _cause(r: dict[str, Any], status: str) -> Cause:
    """One row of :func:`diag.report.sections.window_causes` as a :class:`Cause`."""
    findings = sections.findings_list(r.pop("findings"))
    basis = cause_basis(r.pop("decision"), sections.json_value(r.pop("based_on")), r["verdict"], findings)
    verdict = r["verdict"]
    clean = sections.clean
    return Cause(
        cause_id=r["cause_id"],
        verdict=verdict,
        status=status,
        caller=r["caller"],
        key_ref=r["key_ref"],
        action=r["action"],
        failures=int(r["failures"]),
        first_seen=r["first_seen"],
        last_seen=r["last_seen"],
        example_event_ids=clean(r["example_event_ids"]),
        caller_accounts=clean(r["caller_accounts"]),
        key_account=r["key_account"],
        regions=clean(r["regions"]),
        session_names=clean(r["session_names"]),
        user_agents=clean(r["user_agents"]),
        error_codes=clean(r["error_codes"]),
        codes=clean(r["codes"]) or [verdict],
        summary=next((str(f["summary"]) for f in findings if f.get("summary")), None),
        findings=findings,
        already_fixed=verdict == RESOLVED_SINCE and basis.fixed_proven,
        decision=basis.decision,
        based_on=basis.based_on,
        based_on_text=basis.text,
    )


def _causes(con: duckdb.DuckDBPyConnection, prev: PreviousRun | None) -> tuple[list[Cause], list[ResolvedCause]]:
    """The window's causes with their status, and the previous run's causes that are resolved now."""
    raw_causes = sections.window_causes(con)
    prev_causes = sections.previous_causes(con, prev.run_id) if prev else []
    prev_ids = {c["cause_id"] for c in prev_causes}
    # still failing: in this report's window (windows of runs minutes apart overlap), or at any time since the
    # previous run's window ended. Such a cause is never "resolved", however recent the previous run.
    seen_since_prev = (sections.causes_since(con, prev.window_end) if prev else set()) | {
        r["cause_id"] for r in raw_causes
    }
    causes = [_cause(r, _status(r["cause_id"], r["verdict"], prev_ids, seen_since_prev)) for r in raw_causes]
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
    return causes, resolved


def _headline(con: duckdb.DuckDBPyConnection, causes: list[Cause], resolved: list[ResolvedCause]) -> Headline:
    totals = sections.totals(con)
    return Headline(
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


def _add_audit(con: duckdb.DuckDBPyConnection, report: Report, *, matrix: bool) -> None:
    from diag.report.audit_section import build_audit_section

    report.audit = build_audit_section(con, now=report.generated_at, matrix=matrix)
    if report.previous_run is not None and table_exists(con, "report_run_audits"):
        from diag.report.audit_section import compare_with_run

        compare_with_run(con, report.audit, report.previous_run.run_id, report.previous_run.generated_at)


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
    one's (:func:`diag.report.sections.previous_run`); a :class:`PreviousRun` compares with that run; None or False compares
    with nothing (every diagnosed cause is then new).
    ``audit``: add the policy-audit section (:mod:`diag.report.audit_section`, as of ``generated_at``);
    ``audit_matrix``: with the "who can use this key" matrix too (slow: the engine decides every
    principal, key and action).
    """
    generated_at = generated_at or utcnow()
    prev = sections.previous_run(con, window.end) if previous is True else (previous or None)
    sections.fill_window(con, window, prev.window_end if prev else None)
    causes, resolved = _causes(con, prev)
    report = Report(
        generated_at=generated_at,
        window_start=window.start,
        window_end=window.end,
        window_label=window.label,
        kmsdiag_version=__version__,
        database=database,
        previous_run=prev,
        headline=_headline(con, causes, resolved),
        timeline=sections.timeline(con, window),
        by_verdict=sections.by_verdict(con),
        top_keys=sections.top_keys(con, top),
        top_pairs=sections.top_pairs(con, top),
        accounts=sections.accounts(con),
        causes=causes,
        resolved_causes=resolved,
        policy_changes=sections.policy_changes(con, window, examples),
        data_quality=sections.data_quality(con, window, examples),
    )
    sections.drop_window(con)
    if audit:
        _add_audit(con, report, matrix=audit_matrix)
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
