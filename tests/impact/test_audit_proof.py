"""Proofs of `kmsdiag audit`'s fixes (diag.impact.audit_proof): each fix replayed against the calls
CloudTrail saw succeed. On the guide's walk-through, the audit proposes to scope the cross-account
statement to calls through S3; DataProcessingRole calls KMS directly, so that fix would break its calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from diag.audit.base import AuditFinding, AuditFix
from diag.impact.audit_proof import fix_changes

from .test_impact_walkthrough import KEY, ROLE, Run, db  # noqa: F401


def _audit(run_cli: Run, db: Path, *args: str) -> dict[str, Any]:  # noqa: F811
    code, out, err = run_cli("audit", "--db", db, "--json", *args)
    assert code == 0, err
    return json.loads(out)


def test_audit_fix_that_would_break_observed_calls_says_so(run_cli: Run, db: Path) -> None:  # noqa: F811
    doc = _audit(run_cli, db)
    [f] = [f for f in doc["findings"] if f["code"] == "cross-account-statement-unscoped"]
    proof = f["fix"]["proof"]
    assert proof["status"] == "breaks_observed_calls"
    assert sorted((b["principal"], b["action"]) for b in proof["breaks"]) == [
        (ROLE, "kms:Decrypt"),
        (ROLE, "kms:GenerateDataKey"),
    ]
    assert all(b["refused_by"]["layers"] == ["key_policy"] for b in proof["breaks"])
    assert proof["replayed"]["distinct_calls"] == 4 and proof["changes"] == [
        f"replace statement in key policy of {KEY}"
    ]


def test_no_prove_leaves_fixes_as_they_were(run_cli: Run, db: Path) -> None:  # noqa: F811
    doc = _audit(run_cli, db, "--no-prove")
    assert all("proof" not in (f["fix"] or {}) for f in doc["findings"])


def test_fixes_that_are_not_policy_changes_are_unprovable() -> None:
    f = AuditFinding(
        code="key-pending-deletion-in-use",
        severity="high",
        title="t",
        account="111111111111",
        resource=KEY,
        summary="s",
        policy="key state",
        fix=AuditFix("Cancel the deletion"),
    )
    assert isinstance(fix_changes(None, f), str)  # type: ignore[arg-type]  # decided before any lookup
    grant = AuditFinding(
        code="grant-stale",
        severity="low",
        title="t",
        account="111111111111",
        resource=KEY,
        summary="s",
        policy="grant abc123",
        fix=AuditFix("Revoke it"),
    )
    [change] = fix_changes(None, grant)  # type: ignore[arg-type,misc]
    assert change.op == "revoke_grant" and change.grant is not None and change.grant.grant_id == "abc123"
