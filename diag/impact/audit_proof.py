"""Proofs for the fixes `kmsdiag audit` proposes: each fix applied to a copy of the policies in force and
replayed against the calls CloudTrail saw succeed (``diag.impact.replay``).

An audit fix narrows access (a key policy without ``Principal: "*"``, an identity policy scoped to the keys
it uses, a stale grant revoked…), so its proof is about what it must not do: break an observed call. The
``proof`` of a fix is:

- ``breaks_nothing``: every observed call on the resource in the window is still allowed, with the access
  the fix removes (the access matrix before and after, ``removed_access``) and any it adds;
- ``breaks_observed_calls``: the calls that would break (caller, action, key, count, the refusing layer);
- ``unprovable``: the fix is not a policy change kmsdiag can apply (a key state, a bucket setting), or it
  could not be evaluated (``why``).

With no successful call stored for the window, ``breaks_nothing`` rests on no observation: ``replayed``
says how many calls it rests on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from diag import arn as arns
from diag.policy.model import Grant
from diag.proof.change import Change

if TYPE_CHECKING:
    import duckdb

    from diag.audit.base import AuditFinding

_GRANT_PREFIX = "grant "


def _statement_in_force(con: duckdb.DuckDBPyConnection, key_arn: str, index: int | None) -> dict[str, Any] | None:
    """The key policy statement in force at ``index`` (what a single-statement fix replaces)."""
    import json

    from diag.collect.inforce import policies_in_force

    if index is None:
        return None
    inf = policies_in_force(con, caller_arn=None, caller_account=None, key_arn=key_arn)
    doc = inf.key_policy.document if inf.key_policy is not None else None
    doc = json.loads(doc) if isinstance(doc, str) else doc
    sts = (doc or {}).get("Statement") if isinstance(doc, dict) else None
    sts = [sts] if isinstance(sts, dict) else list(sts or [])
    return sts[index] if 0 <= index < len(sts) and isinstance(sts[index], dict) else None


def fix_changes(con: duckdb.DuckDBPyConnection, f: AuditFinding) -> list[Change] | str:
    """The policy change an audit finding's fix makes, or why it is not one."""
    fix = f.fix
    if fix is None:
        return "the finding has no fix"
    label = f.policy or ""
    if label.startswith(_GRANT_PREFIX) and arns.is_key_arn(f.resource):
        return [Change("grants", "revoke_grant", grant=Grant(label[len(_GRANT_PREFIX) :], f.resource, "", ()))]
    if fix.policy is None:
        return "the fix is not a policy document (" + fix.summary + ")"
    if label == "key policy" and arns.is_key_arn(f.resource):
        if "Statement" in fix.policy:
            return [Change("key_policy", "set_document", target=f.resource, document=fix.policy)]
        old = _statement_in_force(con, f.resource, f.statement_index)
        if old is None or (f.sid is not None and old.get("Sid") != f.sid):
            return f"statement {f.statement_index} of the key policy in force is not the one the finding names"
        return [Change("key_policy", "replace_statement", target=f.resource, statement=fix.policy, old=old)]
    evidence = f.evidence or {}
    holders = evidence.get("holders")
    statement = evidence.get("statement")
    if isinstance(holders, list) and holders and isinstance(statement, dict) and "Statement" not in fix.policy:
        # each holder's policy that holds the statement (found by the statement itself, not by name)
        return [
            Change("identity", "replace_statement", target=str(h), statement=fix.policy, old=statement) for h in holders
        ]
    return f"kmsdiag does not apply fixes of {label or 'this policy'} (audit code {f.code})"


def prove_fix(con: duckdb.DuckDBPyConnection, f: AuditFinding, *, days: float = 30.0) -> dict[str, Any] | None:
    """The proof of one finding's fix (see the module docstring); None when the finding has no fix."""
    from diag.impact.replay import run_impact

    if f.fix is None:
        return None
    changes = fix_changes(con, f)
    if isinstance(changes, str):
        return {"status": "unprovable", "why": changes}
    try:
        rep = run_impact(con, changes, days=days, new_access=True)
    except Exception as exc:  # the finding stands without a proof; say why
        return {"status": "unprovable", "why": f"replay failed: {type(exc).__name__}: {exc}"}
    return {
        "status": "breaks_observed_calls" if rep.breaks else "breaks_nothing",
        "changes": rep.changes,
        "window": {"since": rep.since, "until": rep.until},
        "replayed": {"events": rep.events, "distinct_calls": rep.distinct_calls},
        "breaks": rep.breaks,
        "unknown": rep.unknown,
        "removed_access": rep.removed_access,
        "new_access": rep.new_access,
        "notes": rep.notes,
    }


def prove_findings(
    con: duckdb.DuckDBPyConnection, findings: Sequence[AuditFinding], *, days: float = 30.0
) -> list[AuditFinding]:
    """The findings with ``fix.proof`` filled in for each fix."""
    out = []
    for f in findings:
        proof = prove_fix(con, f, days=days)
        out.append(
            f if proof is None or f.fix is None else dataclasses.replace(f, fix=dataclasses.replace(f.fix, proof=proof))
        )
    return out
