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
from diag.rules._helpers import condition_evidence, label, stmt_ref

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
                f" resource for which {f.invoked_by} called KMS did not match",
                {
                    "inference": True,
                    "basis": "AWS refused; every layer was collected; the policies allow when this condition holds",
                    "expected_values": expected,
                    "compare": {c.key: collect_hint(c.key, f) for c in conds},
                    "conditions": [condition_evidence(c) for c in conds],
                    "statement": stmt_ref(s),
                },
                Fix(
                    summary=f"make the condition name the resource that uses this key through {f.invoked_by}"
                    " (its ARN and account), or point that resource at the key this statement was written for",
                    policy=s.statement,
                    commands=edit_commands(case, s),
                    target=f"{s.layer} {s.policy_name}",
                ),
            )
        )
    return out
