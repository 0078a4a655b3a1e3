"""Run every audit rule over the collected policies; a rule that crashes becomes an ``audit-error`` finding."""

from __future__ import annotations

import datetime as dt
import importlib
import pkgutil
import traceback
from typing import TYPE_CHECKING

from diag.audit.base import SEVERITIES, AuditFinding, AuditRule, registered
from diag.audit.context import AuditContext

if TYPE_CHECKING:
    import duckdb

AUDIT_ERROR = "audit-error"


def load_rules() -> tuple[type[AuditRule], ...]:
    """Import every module of ``diag.audit.rules`` (auto-discovery) and return the rule classes by code."""
    import diag.audit.rules as pkg

    for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        importlib.import_module(f"{pkg.__name__}.{mod.name}")
    return tuple(cls for _, cls in sorted(registered().items()))


def _error_finding(rule: AuditRule, exc: BaseException) -> AuditFinding:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f"{tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
    return AuditFinding(
        code=AUDIT_ERROR,
        severity="medium",
        title="An audit rule failed",
        account=None,
        resource=None,
        summary=f"audit rule {rule.code} failed ({type(exc).__name__}: {exc}); its findings are missing",
        evidence={"rule": rule.code, "error": f"{type(exc).__name__}: {exc}", "where": where},
    )


def sort_key(f: AuditFinding) -> tuple[int, str, str, str, int]:
    return (
        SEVERITIES.index(f.severity) if f.severity in SEVERITIES else len(SEVERITIES),
        f.code,
        f.account or "",
        f.resource or "",
        f.statement_index if f.statement_index is not None else -1,
    )


def run_rules(ctx: AuditContext, codes: set[str] | None = None) -> list[AuditFinding]:
    """Every finding of every rule (or only ``codes``), sorted by severity, code, account, resource."""
    findings: list[AuditFinding] = []
    for cls in load_rules():
        if codes is not None and cls.code not in codes:
            continue
        rule = cls()
        try:
            findings.extend(list(rule.run(ctx)))
        except Exception as exc:  # one broken rule must not hide the others' findings
            findings.append(_error_finding(rule, exc))
    return sorted(findings, key=sort_key)


def run_audit(
    con: duckdb.DuckDBPyConnection,
    *,
    snapshot_id: int | None = None,
    grant_max_age_days: int = 90,
    in_use_days: int = 30,
    now: dt.datetime | None = None,
    codes: set[str] | None = None,
) -> list[AuditFinding]:
    """The audit findings over the collected policies (each account's latest snapshot, or ``snapshot_id``).

    This is the entry point for the nightly report: ``[f.to_dict() for f in run_audit(con)]``.
    """
    ctx = AuditContext.load(
        con, snapshot_id=snapshot_id, now=now, grant_max_age_days=grant_max_age_days, in_use_days=in_use_days
    )
    return run_rules(ctx, codes)
