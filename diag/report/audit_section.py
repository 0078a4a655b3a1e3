"""The report's "Policy audit" section: `kmsdiag audit` findings over the latest collected policies.

Built from the same code as `kmsdiag audit` (``AuditContext`` + ``run_rules``): each account's latest
snapshot, the key policies and key states in force now. Findings are grouped by severity, then code, and
counted per severity. The "who can use this key" matrix is costly (one engine decision per principal, key
and action), so the report computes it only when asked (``matrix=True``): the full matrix then goes to the
JSON, and a one-line-per-key summary to HTML and Markdown.

The section never stops the report: no collected policies gives ``status="no_policies"``; a rule that
crashes is an ``audit-error`` finding (listed in ``errors`` too); anything else that fails (loading the
policies, the matrix) is recorded in ``errors`` and, when no finding could be computed, ``status="error"``.
Findings hold policy text (Sids, ARNs, conditions) that anyone able to write a policy controls, and their
history comes from CloudTrail: renderers escape every value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from diag.audit.base import SEVERITIES

if TYPE_CHECKING:
    import duckdb

OK = "ok"
NO_POLICIES = "no_policies"
ERROR = "error"
NO_POLICIES_MESSAGE = "no collected policies: run kmsdiag collect"
AUDIT_ERROR = "audit-error"  # the runner's code for a rule that crashed (diag.audit.runner.AUDIT_ERROR)


@dataclass
class AuditGroup:
    """The findings of one code at one severity (a code may appear at two severities)."""

    severity: str
    code: str
    title: str
    count: int
    findings: list[dict[str, Any]]  # AuditFinding.to_dict(), in the audit's order (account, resource, index)


@dataclass
class AuditSection:
    status: str  # ok | no_policies | error
    message: str | None  # what to do when status is not ok
    counts: dict[str, int]  # every severity, high → info, zeros included
    total: int
    groups: list[AuditGroup]  # severity (high first), then code
    errors: list[dict[str, Any]]  # [{rule, error, where}]: rules that crashed, or the audit itself
    accounts: list[str]
    snapshots: dict[str, int]  # account → audited snapshot_id
    collected_at: dt.datetime | None  # the oldest of the audited snapshots (the stalest data shown)
    now: dt.datetime | None  # reference time of the age rules (grants, keys pending deletion still in use)
    matrix: dict[str, Any] | None  # the full `kmsdiag audit` matrix (only when asked; JSON only)
    matrix_summary: list[dict[str, Any]] | None  # one row per key (HTML and Markdown)
    seconds: float
    # Compared with the previous recorded report run (None: no run to compare with, or it had no audit):
    compared_with: str | None = None  # its run_id
    compared_at: dt.datetime | None = None  # when it was generated
    new_findings: int | None = None  # findings of this section that run did not have ("new": true on each)
    resolved_findings: list[dict[str, Any]] | None = (
        None  # its findings gone now: {finding_id, code, severity, account, resource, summary}
    )

    @property
    def has_findings(self) -> bool:
        return self.total > 0


def _empty_counts() -> dict[str, int]:
    return dict.fromkeys(SEVERITIES, 0)


def _error(rule: str | None, exc: BaseException) -> dict[str, Any]:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f"{tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
    return {"rule": rule, "error": f"{type(exc).__name__}: {exc}", "where": where}


# Evidence keys that tell two findings of one statement apart (one per principal, grant, bucket...).
IDENTITY_EVIDENCE_KEYS = (
    "principal",
    "grant_id",
    "unique_id",
    "grantee_principal",
    "grantee_account",
    "bucket",
    "caller_account",
)


def finding_id(f: dict[str, Any]) -> str:
    """A finding's stable identity across runs: code, account, resource, policy, statement (Sid, else
    index) and the principal/grant it is about; not its wording, counts or dates."""
    raw = f.get("evidence")
    ev: dict[str, Any] = raw if isinstance(raw, dict) else {}
    parts = [
        f.get("code"),
        f.get("account"),
        f.get("resource"),
        f.get("policy"),
        f.get("sid") or f.get("statement_index"),
        *(str(ev.get(k)) if ev.get(k) is not None else None for k in IDENTITY_EVIDENCE_KEYS),
    ]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def compare_with_run(con: duckdb.DuckDBPyConnection, section: AuditSection, run_id: str, at: dt.datetime) -> None:
    """Mark the section's findings new or not against a recorded run, and list that run's findings that
    are gone. Nothing happens when that run recorded no audit (``--no-audit``, or made before 031)."""
    if section.status != OK:
        return
    recorded = con.execute("SELECT 1 FROM report_run_audits WHERE run_id = ?", [run_id]).fetchone()
    if recorded is None:
        return
    before = {
        r[0]: r
        for r in con.execute(
            "SELECT finding_id, code, severity, account, resource, summary FROM report_run_findings WHERE run_id = ?",
            [run_id],
        ).fetchall()
    }
    now_ids: set[str] = set()
    new = 0
    for g in section.groups:
        for f in g.findings:
            fid = f["finding_id"]
            now_ids.add(fid)
            f["new"] = fid not in before
            new += f["new"]
    cols = ("finding_id", "code", "severity", "account", "resource", "summary")
    section.compared_with, section.compared_at = run_id, at
    section.new_findings = new
    section.resolved_findings = [
        dict(zip(cols, r, strict=True)) for fid, r in sorted(before.items()) if fid not in now_ids
    ]


def group_findings(findings: list[dict[str, Any]]) -> list[AuditGroup]:
    """Findings (as dicts) grouped by severity (SEVERITIES order), then code; order kept within a group."""
    groups: dict[tuple[str, str], AuditGroup] = {}
    for f in findings:
        sev, code = str(f.get("severity") or "info"), str(f.get("code") or "")
        g = groups.get((sev, code))
        if g is None:
            g = groups[(sev, code)] = AuditGroup(sev, code, str(f.get("title") or code), 0, [])
        g.findings.append(f)
        g.count += 1

    def rank(key: tuple[str, str]) -> tuple[int, str]:
        sev, code = key
        return (SEVERITIES.index(sev) if sev in SEVERITIES else len(SEVERITIES), code)

    return [groups[k] for k in sorted(groups, key=rank)]


def matrix_summary(matrix: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per key of an access-matrix document: how many principals can use it, from which accounts."""
    rows = []
    for k in matrix.get("keys") or []:
        principals = k.get("principals") or []
        owner = k.get("account")
        per_account: dict[str, int] = {}
        for p in principals:
            per_account[str(p.get("account"))] = per_account.get(str(p.get("account")), 0) + 1
        rows.append(
            {
                "key_arn": k.get("key_arn"),
                "aliases": list(k.get("aliases") or []),
                "account": owner,
                "key_state": k.get("key_state"),
                "policy_known": bool(k.get("policy_known")),
                "principals": len(principals),
                "other_account_principals": sum(1 for p in principals if p.get("account") != owner),
                "only_via_service": sum(1 for p in principals if not p.get("direct") and p.get("via")),
                "unverified": sum(1 for p in principals if p.get("unverified")),
                "by_account": dict(sorted(per_account.items())),
            }
        )
    return rows


def build_audit_section(
    con: duckdb.DuckDBPyConnection,
    *,
    now: dt.datetime | None = None,
    matrix: bool = False,
    grant_max_age_days: int = 90,
    in_use_days: int = 30,
) -> AuditSection:
    """The audit of each account's latest snapshot (see the module docstring); never raises for a bad
    database or a broken rule: the problem is recorded in the section and the report goes on."""
    from diag.store.catalog import table_exists

    started = time.perf_counter()
    counts = _empty_counts()

    def section(status: str, message: str | None, errors: list[dict[str, Any]], **kw: Any) -> AuditSection:
        base: dict[str, Any] = {
            "counts": counts,
            "total": 0,
            "groups": [],
            "accounts": [],
            "snapshots": {},
            "collected_at": None,
            "now": now,
            "matrix": None,
            "matrix_summary": None,
        }
        base.update(kw)
        return AuditSection(
            status=status, message=message, errors=errors, seconds=round(time.perf_counter() - started, 3), **base
        )

    if not table_exists(con, "snapshot_accounts"):  # a database from before collection existed
        return section(NO_POLICIES, NO_POLICIES_MESSAGE, [])
    try:
        from diag.audit.context import AuditContext
        from diag.audit.runner import run_rules

        ctx = AuditContext.load(con, now=now, grant_max_age_days=grant_max_age_days, in_use_days=in_use_days)
        if not ctx.snapshots:
            return section(NO_POLICIES, NO_POLICIES_MESSAGE, [], now=ctx.now)
        findings = [f.to_dict() for f in run_rules(ctx)]
        for f in findings:
            f["finding_id"] = finding_id(f)
            f["new"] = None  # unknown until compared with a recorded run (compare_with_run)
    except Exception as exc:  # the report must go on: say the audit failed and why
        return section(ERROR, "the audit could not run; run `kmsdiag audit --debug` for details", [_error(None, exc)])

    errors = [
        {
            "rule": (f.get("evidence") or {}).get("rule"),
            **{k: (f.get("evidence") or {}).get(k) for k in ("error", "where")},
        }
        for f in findings
        if f.get("code") == AUDIT_ERROR
    ]
    mx: dict[str, Any] | None = None
    if matrix:
        try:
            mx = ctx.matrix().to_dict()
        except Exception as exc:
            errors.append(_error("matrix", exc))
    for f in findings:
        sev = str(f.get("severity") or "info")
        counts[sev] = counts.get(sev, 0) + 1
    collected = [ctx.collected_at[s] for s in ctx.snapshots.values() if ctx.collected_at.get(s) is not None]
    return section(
        OK,
        None,
        errors,
        total=len(findings),
        groups=group_findings(findings),
        accounts=ctx.accounts,
        snapshots=dict(ctx.snapshots),
        collected_at=min(collected) if collected else None,
        now=ctx.now,
        matrix=mx,
        matrix_summary=matrix_summary(mx) if mx is not None else None,
    )
