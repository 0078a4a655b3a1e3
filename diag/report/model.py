"""The report model: every figure of a `kmsdiag report`, computed in DuckDB over the ``failures`` view.

The model is plain dataclasses (the JSON format is exactly ``dataclasses.asdict`` of :class:`Report`), built
by :func:`diag.report.build.build_report` from one connection and one window (its SQL sections are in
:mod:`diag.report.sections`). Renderers (HTML, Markdown, JSON) only format
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

from diag.report.window import Window as Window  # re-exported: the chart reads Window from the model

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
    from diag.report.audit_section import AuditSection

NOT_DIAGNOSED = "NOT_DIAGNOSED"
RESOLVED_SINCE = "RESOLVED_SINCE"
UNKNOWN = "UNKNOWN"

CAUSE_ID_SQL = (
    "left(md5(concat_ws('|', coalesce(verdict, 'NOT_DIAGNOSED'), coalesce(caller_principal, ''),"
    " coalesce(key_ref, ''), coalesce(action, ''))), 16)"
)


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
