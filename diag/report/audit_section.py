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

    @property
    def has_findings(self) -> bool:
        return self.total > 0


def _empty_counts() -> dict[str, int]:
    return dict.fromkeys(SEVERITIES, 0)


def _error(rule: str | None, exc: BaseException) -> dict[str, Any]:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f"{tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
    return {"rule": rule, "error": f"{type(exc).__name__}: {exc}", "where": where}


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
    from diag.report.model import table_exists

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
