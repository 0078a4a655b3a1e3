"""`kmsdiag audit`: best-practice findings over the collected policies, and the "who can use this key"
matrix computed with the policy engine.

Public API (the nightly report calls these):

- ``run_audit(con, *, snapshot_id=None, grant_max_age_days=90, in_use_days=30, now=None, codes=None)
  -> list[AuditFinding]`` (``AuditFinding.to_dict()`` for JSON);
- ``access_matrix(con, *, snapshot_id=None, keys=None) -> AccessMatrix`` (``.to_dict()``);
- ``load_rules()`` → the rule classes (code, severity, title, description, fix_template).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from diag.audit.base import AuditFinding, AuditRule
    from diag.audit.matrix import AccessMatrix

__all__ = ["access_matrix", "load_rules", "run_audit"]


def run_audit(con: Any, **kwargs: Any) -> list[AuditFinding]:
    from diag.audit.runner import run_audit as _run

    return _run(con, **kwargs)


def access_matrix(con: Any, **kwargs: Any) -> AccessMatrix:
    from diag.audit.matrix import access_matrix as _matrix

    return _matrix(con, **kwargs)


def load_rules() -> tuple[type[AuditRule], ...]:
    from diag.audit.runner import load_rules as _load

    return _load()
