"""`kmsdiag audit`: best-practice findings over the collected policies, and the "who can use this key"
matrix computed with the policy engine.

Public API (the nightly report calls these):

- ``run_audit(con, *, snapshot_id=None, grant_max_age_days=90, in_use_days=30, now=None, codes=None)
  -> list[AuditFinding]`` (``AuditFinding.to_dict()`` for JSON);
- ``access_matrix(con, *, snapshot_id=None, keys=None) -> AccessMatrix`` (``.to_dict()``);
- ``audit_report(con, *, snapshot_id=None, matrix=True, ...) -> dict``: the whole `kmsdiag audit --format
  json` document (scope, counts, findings, matrix), ready for a report section;
- ``load_rules()`` → the rule classes (code, severity, title, description, fix_template).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from diag.audit.access import AccessMatrix
    from diag.audit.base import AuditFinding, AuditRule

__all__ = ["access_matrix", "audit_report", "load_rules", "run_audit"]


def run_audit(con: Any, **kwargs: Any) -> list[AuditFinding]:
    from diag.audit.runner import run_audit as _run

    return _run(con, **kwargs)


def access_matrix(con: Any, **kwargs: Any) -> AccessMatrix:
    from diag.audit.matrix import access_matrix as _matrix

    return _matrix(con, **kwargs)


def load_rules() -> tuple[type[AuditRule], ...]:
    from diag.audit.runner import load_rules as _load

    return _load()


def audit_report(
    con: Any,
    *,
    snapshot_id: int | None = None,
    matrix: bool = True,
    grant_max_age_days: int = 90,
    in_use_days: int = 30,
    now: Any = None,
) -> dict[str, Any]:
    """The `kmsdiag audit --format json` document: scope, counts by severity, findings and the matrix."""
    from diag.audit.context import AuditContext
    from diag.audit.render import audit_document
    from diag.audit.runner import run_rules

    ctx = AuditContext.load(
        con, snapshot_id=snapshot_id, now=now, grant_max_age_days=grant_max_age_days, in_use_days=in_use_days
    )
    findings = run_rules(ctx)
    mx = ctx.matrix() if matrix and ctx.snapshots else None
    scope = {"accounts": ctx.accounts, "snapshots": ctx.snapshots, "pinned": ctx.pinned, "now": ctx.now}
    return audit_document(findings, mx, scope)
