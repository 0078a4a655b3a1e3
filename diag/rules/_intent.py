"""WRONG_ASSUMED_ROLE from the policies' intent: the key policy, the grants and other identities' own IAM
policies name principals for this key and operation, one of them uses it successfully (the trail says
so), and the caller is none of them, whatever its account or name: the call was most likely made as the
wrong principal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.policy.model import Decision, Layer
from diag.rules._helpers import allow_statements, caller_role, element_ok, label, stmt_ref, the_action, values
from diag.shell import q

if TYPE_CHECKING:
    from diag.rules.base import Rule


def _named(value: str) -> bool:
    return value.startswith("arn:") and (":role/" in value or ":user/" in value)


def intended(case: Case) -> dict[str, str]:
    """Principal ARN → where the policies name it for this operation on this key: the key policy, a grant,
    or the principal's own identity policy naming the key (``case.extra["identity_intent"]``, from the
    collected IAM policies of every account, ``diag.diagnosis.intent.identity_intended``)."""
    out: dict[str, str] = {}
    for s in allow_statements(case, Layer.KEY_POLICY):
        if not element_ok(s, "Action"):
            continue
        for v in values(s, "Principal"):
            if _named(v):
                out.setdefault(v, label(s))
    op = the_action(case).split(":")[-1]
    for t in case.traces(Layer.GRANTS):
        for g in t.grants:
            grant = g.grant
            if grant is not None and _named(grant.grantee_principal) and op in grant.operations:
                out.setdefault(grant.grantee_principal, f"grant {grant.grant_id}")
    for arn, where in (case.extra.get("identity_intent") or {}).items():
        if _named(arn):
            out.setdefault(arn, where)
    return out


def _identity_names_key(case: Case) -> bool:
    """An identity statement of the caller allows this action naming this key itself (not ``*``)."""
    key_id = (case.facts.key_arn or "").rsplit("/", 1)[-1]
    if not key_id:
        return False
    for s in allow_statements(case, Layer.IDENTITY):
        if element_ok(s, "Action") and element_ok(s, "Resource") and any(key_id in v for v in values(s, "Resource")):
            return True
    return False


def intent_finding(rule: Rule, case: Case) -> list[Finding]:
    r = case.result
    f = case.facts
    if f.is_s3 or r is None or r.decision != Decision.IMPLICITLY_DENIED or r.undetermined:
        return []
    caller = caller_role(case)
    named = intended(case)
    if not caller or not named or caller in named or f.caller_arn in named:
        return []
    if _identity_names_key(case):
        return []  # the caller's own identity policy was written for this key: the caller is intended
    users: dict[str, tuple[int, Any]] = {p: (n, last) for p, n, last in case.extra.get("key_users", ())}
    used = [p for p in named if p in users]
    if not used:
        return []
    allowed = max(used, key=lambda p: users[p][0])
    count, last = users[allowed]
    where = named[allowed]
    action = the_action(case)
    stmt = next(
        (s for s in allow_statements(case, Layer.KEY_POLICY) if allowed in values(s, "Principal")),
        None,
    )
    return [
        rule.finding(
            "caller",
            f.caller_account,
            f"the policies were set up for `{allowed}` ({where}), which used {action} on this key successfully"
            f" {count} time(s), last at {last:%Y-%m-%d %H:%M:%S} UTC; the call came from `{caller}`, which no"
            " key-policy statement, grant or identity policy names for this key",
            {
                "caller": caller,
                "allowed_principal": allowed,
                "intended_principals": named,
                "successful_uses": {p: {"calls": users[p][0], "last": users[p][1]} for p in used},
                "action": action,
                "statement": stmt_ref(stmt) if stmt is not None else None,
                "inference": True,
            },
            Fix(
                summary=f"make the application call {action} as `{allowed}`, the principal the policies were set"
                " up for (or, if the caller is meant to use this key, give it its own key-policy statement)",
                commands=(
                    f"# check that the caller may assume {allowed} (its trust policy), then use it:",
                    f"aws sts assume-role --role-arn {q(allowed)} --role-session-name kmsdiag-check",
                ),
                target=allowed,
            ),
        )
    ]
