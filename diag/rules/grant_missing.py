"""GRANT_MISSING: the access relied on a grant that does not exist, was retired or revoked, or lacks the
operation."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding
from diag.policy.model import Layer
from diag.rules._forbidden import grant_fix
from diag.rules._helpers import caller_role, key_account, the_action
from diag.rules.base import Rule

_GONE = {"RetireGrant", "RevokeGrant"}


class GrantMissing(Rule):
    code = "GRANT_MISSING"
    title = "The grant the access relied on is missing"
    description = (
        "The access relied on a grant that does not exist, was retired or revoked, or lacks the operation or"
        " constraint."
    )
    fix_template = "Create a grant for exactly the caller and the failed operation (with the same constraints)."
    supersedes = ("KEY_POLICY_NO_PRINCIPAL", "IAM_POLICY_MISSING")

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        f = case.facts
        if f.is_s3 or not case.denied:
            return []  # grants are an alternative to key policy + IAM: whatever those say, the grant was the way in
        action = the_action(case)
        op = action.split(":")[-1]
        evidence: dict[str, Any] = {}
        reasons = []
        partial = [
            g for t in case.traces(Layer.GRANTS) for g in t.grants if g.grantee_matched and not g.operation_matched
        ]
        if partial:
            first = partial[0]
            ops = list(first.grant.operations) if first.grant else []
            reasons.append(
                f"grant {first.grant_id} names the caller but allows only {', '.join(ops) or 'other operations'}"
            )
            evidence["grants_without_operation"] = [{"grant_id": x.grant_id, "reason": x.reason} for x in partial]
        role = caller_role(case) or ""
        mine = {role, f.caller_arn or "", f.principal_arn or ""} - {""}
        gone = [
            g for g in case.grant_changes if g.change.event_name in _GONE and (g.grantee is None or g.grantee in mine)
        ]
        if gone:
            g = gone[-1]
            c = g.change
            verb = "retired" if c.event_name == "RetireGrant" else "revoked"
            whose = f" for `{g.grantee}`" if g.grantee else " (grantee unknown)"
            reasons.append(
                f"grant {g.grant_id or '?'}{whose} was {verb} at {c.event_time:%Y-%m-%d %H:%M:%S} UTC"
                f" by {c.actor_arn or 'unknown'}"
            )
            evidence["grant_changes"] = [
                {
                    "event_id": x.change.event_id,
                    "event_name": x.change.event_name,
                    "event_time": x.change.event_time,
                    "actor": x.change.actor_arn,
                    "grant_id": x.grant_id,
                    "grantee": x.grantee,
                }
                for x in gone
            ]
        tokens = ((f.raw or {}).get("requestParameters") or {}).get("grantTokens")
        if tokens:
            reasons.append("the call passed a grant token, so it relied on a grant")
            evidence["grant_tokens"] = len(tokens) if isinstance(tokens, list) else 1
        if not reasons:
            return []
        key = f.key_arn or "KEY_ARN"
        role = role or "CALLER_ARN"
        return [
            self.finding(
                str(Layer.GRANTS),
                key_account(case),
                f"no grant lets `{role}` {op} with key `{key}`: " + "; ".join(reasons),
                evidence,
                grant_fix(case, role, [op], why="or restore the grant the application expects"),
            )
        ]
