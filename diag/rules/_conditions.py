"""Shared logic of the three CONDITION_* rules: an Allow statement matched everything but a condition."""

from __future__ import annotations

from typing import TYPE_CHECKING

from diag import fixes
from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.policy.model import ConditionTrace, Layer, LayerResult, StatementTrace
from diag.rules._helpers import (
    condition_evidence,
    condition_family,
    element_ok,
    failed_conditions,
    fix_target,
    identity_edit_commands,
    key_account,
    label,
    stmt_ref,
)

if TYPE_CHECKING:
    from diag.rules.base import Rule


def deciding_layers(case: Case) -> list[Layer]:
    """Layers whose Allow statements matter for this request and did not allow."""
    out = []
    res = case.resource_layer()
    if case.layer_result(res) == LayerResult.IMPLICITLY_DENIED:
        out.append(res)
    if case.identity_needed() and case.layer_result(Layer.IDENTITY) == LayerResult.IMPLICITLY_DENIED:
        out.append(Layer.IDENTITY)
    for layer in (Layer.PERMISSION_BOUNDARY, Layer.SESSION_POLICY, Layer.SCP, Layer.RCP):
        if case.layer_result(layer) == LayerResult.IMPLICITLY_DENIED:
            out.append(layer)
    return out


def near_allows(case: Case, family: str) -> list[tuple[StatementTrace, list[ConditionTrace]]]:
    """Allow statements that failed only on conditions of ``family`` (via_service, encryption_context, other)."""
    found = []
    for layer in deciding_layers(case):
        for t in case.traces(layer):
            for s in t.statements:
                if s.effect != "Allow" or not all(element_ok(s, e) for e in ("Action", "Resource", "Principal")):
                    continue
                failed = failed_conditions(s)
                if failed and any(condition_family(c.key) == family for c in failed):
                    found.append((s, [c for c in failed if condition_family(c.key) == family]))
    return found


def edit_commands(case: Case, s: StatementTrace) -> tuple[str, ...]:
    if s.layer == Layer.KEY_POLICY:
        return fixes.key_policy_commands(case.facts.key_arn or "KEY_ARN", account=key_account(case))
    if s.layer == Layer.BUCKET_POLICY and case.facts.bucket:
        return fixes.bucket_policy_commands(case.facts.bucket, account=s.account)
    if s.layer == Layer.IDENTITY:
        return identity_edit_commands(case, s)
    return (f"# edit {s.policy_name or s.layer} in account {s.account} as shown above",)


def condition_findings(rule: Rule, case: Case, family: str, advice: str) -> list[Finding]:
    out = []
    for s, failed in near_allows(case, family):
        c = failed[0]
        got = "absent from the request" if c.request_values is None else ", ".join(c.request_values) or "empty"
        typo = _typo_finding(rule, case, s, failed)
        if typo is not None:
            out.append(typo)
            continue
        out.append(
            rule.finding(
                str(s.layer),
                s.account,
                f"{label(s)} would allow, but its condition {c.operator} {c.key} = {list(c.policy_values)} did not"
                f" hold: the request had {got}",
                {"conditions": [condition_evidence(x) for x in failed], "statement": stmt_ref(s)},
                Fix(
                    summary=advice,
                    policy=s.statement,
                    commands=edit_commands(case, s),
                    target=fix_target(case, s),
                ),
            )
        )
    return out


def _typo_finding(rule: Rule, case: Case, s: StatementTrace, failed: list[ConditionTrace]) -> Finding | None:
    """The finding for a condition that failed on a near miss (a typo): the corrected statement as the fix."""
    from diag.rules._near_values import corrected_statement, near_value

    for c in failed:
        near = near_value(c)
        if near is None:
            continue
        fixed = corrected_statement(s.statement, near)
        return rule.finding(
            str(s.layer),
            s.account,
            f"{label(s)} would allow, but its condition {c.operator} {c.key} names `{near.policy_value}`, a near miss"
            f" of the request's `{near.request_value}` ({near.detail})",
            {
                "conditions": [condition_evidence(x) for x in failed],
                "statement": stmt_ref(s),
                "near_miss": {
                    "key": near.key,
                    "policy_value": near.policy_value,
                    "request_value": near.request_value,
                    "corrected": near.corrected,
                    "detail": near.detail,
                },
            },
            Fix(
                summary=f"correct `{near.policy_value}` to `{near.corrected}` in {label(s)}",
                policy=fixed or s.statement,
                commands=edit_commands(case, s),
                target=fix_target(case, s),
            ),
        )
    return None
