"""UNKNOWN findings for decisions that depend on condition keys kmsdiag could not determine.

The engine decided both ways (``diag.policy.undetermined``) and the answers differ: each statement whose
condition reads such a key gets one finding that names the key, the statement, and what to collect to
decide (``diag.diagnosis.request_context.collect_hint``). Never "the key was absent".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.diagnosis.request_context import collect_hint
from diag.policy.model import ConditionTrace, StatementTrace
from diag.rules._helpers import condition_evidence, fix_target, label, stmt_ref

if TYPE_CHECKING:
    from diag.rules.base import Rule


def _statements(case: Case) -> list[tuple[StatementTrace, list[ConditionTrace]]]:
    assert case.result is not None
    keys = {k.lower() for k in case.result.undetermined}
    out = []
    for lt in case.result.layers:
        for s in lt.statements:
            if any(t is not None and not t.matched for t in (s.action, s.resource, s.principal)):
                continue
            conds = [c for c in s.conditions if c.undetermined and c.key.lower() in keys]
            if conds:
                out.append((s, conds))
    return out


def undetermined_findings(rule: Rule, case: Case) -> list[Finding]:
    """One UNKNOWN finding per statement whose outcome depends on an undetermined key (empty otherwise)."""
    if case.result is None or not case.result.undetermined:
        return []
    out = []
    for s, conds in _statements(case):
        keys = list(dict.fromkeys(c.key for c in conds))
        hints = {k: collect_hint(k, case.facts) for k in keys}
        out.append(
            rule.finding(
                str(s.layer),
                s.account,
                f"{label(s)} ({s.effect}) has a condition on {', '.join(keys)}, which kmsdiag could not determine for"
                " this call: whether it held decides the outcome, so the decision is Unknown; collect "
                + "; ".join(hints.values())
                + " to decide",
                {
                    "undetermined_keys": keys,
                    "collect": hints,
                    "conditions": [condition_evidence(c) for c in conds],
                    "statement": stmt_ref(s),
                },
                Fix(
                    summary="collect the value of "
                    + ", ".join(keys)
                    + " for this call, then run `kmsdiag explain` again",
                    commands=("kmsdiag collect",),
                ),
            )
        )
    if not out:
        keys = list(case.result.undetermined)
        hints = {k: collect_hint(k, case.facts) for k in keys}
        out.append(
            rule.finding(
                "request_context",
                None,
                f"the decision depends on {', '.join(keys)}, which kmsdiag could not determine for this call;"
                " collect " + "; ".join(hints.values()) + " to decide",
                {"undetermined_keys": keys, "collect": hints},
                Fix(summary="collect the values, then run `kmsdiag explain` again", commands=("kmsdiag collect",)),
            )
        )
    return out


_SOURCE_KEYS = {"aws:sourcearn", "aws:sourceaccount", "aws:sourceorgid", "aws:sourceorgpaths"}


def inferred_source_conditions(rule: Rule, case: Case) -> list[Finding]:
    """CONDITION_OTHER, as an inference, for an AWS service principal refused by a key policy whose only
    Allow for it is guarded by ``aws:SourceArn``/``aws:SourceAccount``: CloudTrail does not record those
    keys, but AWS refused and nothing else that kmsdiag sees refuses (every layer collected, and the
    policies allow when the condition holds), so that condition did not hold."""
    from diag.diagnosis.callers import is_service_caller
    from diag.rules._conditions import edit_commands

    r = case.result
    f = case.facts
    if r is None or not r.undetermined or not r.allowed_if_undetermined_hold or r.unknown:
        return []
    if not is_service_caller(f) or not f.error_code or {k.lower() for k in r.undetermined} - _SOURCE_KEYS:
        return []
    out = []
    candidates = list(case.extra.get("source_candidates") or ())
    for s, conds in _statements(case):
        if s.effect != "Allow":
            continue
        expected = {c.key: list(c.policy_values) for c in conds}
        wanted = "; ".join(f"{c.operator} {c.key} = {list(c.policy_values)}" for c in conds)
        out.append(
            rule.finding(
                str(s.layer),
                s.account,
                f"inferred: {label(s)} allows {f.invoked_by} only when {wanted}; CloudTrail does not record these"
                " keys, but AWS refused the call and nothing else in the collected policies refuses it, so the"
                f" resource for which {f.invoked_by} called KMS did not match"
                + _candidates_sentence(candidates, expected),
                {
                    "inference": True,
                    "basis": "AWS refused; every layer was collected; the policies allow when this condition holds",
                    "expected_values": expected,
                    "compare": {c.key: collect_hint(c.key, f) for c in conds},
                    "candidates": [_candidate(c, expected) for c in candidates],
                    "conditions": [condition_evidence(c) for c in conds],
                    "statement": stmt_ref(s),
                },
                Fix(
                    summary=_fix_summary(f.invoked_by, candidates, expected),
                    policy=s.statement,
                    commands=edit_commands(case, s),
                    target=fix_target(case, s),
                ),
            )
        )
    return out


def _named_by(candidate: dict[str, object], expected: dict[str, list[str]]) -> bool:
    """Whether the condition's values name this candidate resource (its ARN, or its account)."""
    from diag.policy.match import arn_like

    arn, account = str(candidate.get("arn") or ""), str(candidate.get("account") or "")
    for key, vals in expected.items():
        k = key.lower()
        if k == "aws:sourcearn" and any(arn_like(v, arn) for v in vals):
            return True
        if k == "aws:sourceaccount" and account in vals:
            return True
    return False


def _candidate(c: dict[str, object], expected: dict[str, list[str]]) -> dict[str, object]:
    at = c.get("at")
    return {**c, "at": at.isoformat() if hasattr(at, "isoformat") else at, "named_by_condition": _named_by(c, expected)}


def _fix_summary(service: str | None, candidates: list[dict[str, object]], expected: dict[str, list[str]]) -> str:
    unnamed = [str(c.get("arn")) for c in candidates if not _named_by(c, expected)]
    if len(unnamed) == 1:
        return (
            f"if `{unnamed[0]}` (the only resource of {service} in the trail that the condition does not name) is"
            " the one that uses this key, add its ARN to the condition (inferred: check it first); otherwise"
            " point the resource at the key this statement was written for"
        )
    return (
        f"make the condition name the resource that uses this key through {service} (its ARN and account),"
        " or point that resource at the key this statement was written for"
    )


def _candidates_sentence(candidates: list[dict[str, object]], expected: dict[str, list[str]]) -> str:
    """``; candidates from CloudTrail (inferred, compare them): `arn` (PutRule at …, not named by the
    condition), …`` or nothing when the trail holds none."""
    if not candidates:
        return ""
    parts = []
    for c in candidates[:5]:
        at = c.get("at")
        when = f" at {at:%Y-%m-%d %H:%M:%S} UTC" if hasattr(at, "strftime") else ""
        named = "named by the condition" if _named_by(c, expected) else "not named by the condition"
        parts.append(f"`{c.get('arn')}` ({c.get('event')}{when}, {named})")
    more = f" and {len(candidates) - 5} more" if len(candidates) > 5 else ""
    return (
        "; the resources of this service that CloudTrail saw created or updated, to compare: " + ", ".join(parts) + more
    )
