"""IAM_RESOURCE_MISMATCH: an identity statement allows the action, but its Resource misses the key (key ID
or alias instead of the key ARN, another region, another account, a typo)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag import arn as arns
from diag import fixes
from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.policy.model import Layer, LayerResult
from diag.rules._helpers import (
    allow_statements,
    describe_difference,
    element_ok,
    identity_edit_commands,
    label,
    stmt_ref,
    the_action,
    the_resource,
    values,
)
from diag.rules.base import Rule


def classify(value: str, key_arn: str, aliases: tuple[str, ...] = ()) -> str:
    """Why a Resource value misses the key ARN, in a few words."""
    key_id = key_arn.rsplit("/", 1)[-1]
    if value == key_id or (value.endswith(f"key/{key_id}") and not value.startswith("arn:")):
        return "names the key ID, not the key ARN (KMS matches Resource against the key ARN)"
    if "alias/" in value:
        return "names an alias; KMS authorizes against the key ARN, so an alias in Resource never matches"
    if value.startswith("arn:") and value.rsplit("/", 1)[-1] == key_id:
        v_arn, k_arn = arns.parse(value), arns.parse(key_arn)
        if v_arn and k_arn and v_arn.region != k_arn.region:
            return f"names region {v_arn.region}, the key is in {k_arn.region}"
        if v_arn and k_arn and v_arn.account != k_arn.account:
            return f"names account {v_arn.account}, the key is in {k_arn.account}"
    diff = describe_difference(value, key_arn)
    if diff:
        return diff[0].replace("caller's ARN", "key ARN")
    return "names another key"


class IamResourceMismatch(Rule):
    code = "IAM_RESOURCE_MISMATCH"
    title = "The identity statement's Resource misses the key"
    description = (
        "An identity statement allows the action, but its Resource misses the key: key ID or alias instead of"
        " the key ARN, another region, another account, a typo."
    )
    fix_template = "Put the exact key ARN in that statement's Resource; keep its actions and conditions."
    supersedes = ("IAM_POLICY_MISSING",)

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        if case.layer_result(Layer.IDENTITY) != LayerResult.IMPLICITLY_DENIED or not case.identity_needed():
            return []
        resource = the_resource(case)
        out = []
        for s in allow_statements(case, Layer.IDENTITY):
            if not element_ok(s, "Action") or element_ok(s, "Resource"):
                continue
            vals = values(s, "Resource")
            misses = [n for n in s.near_misses if n.kind in {"resource", "region", "account"}]
            if misses:
                wrong, why = misses[0].policy_value, misses[0].detail or classify(misses[0].policy_value, resource)
            else:
                ranked = sorted(vals, key=lambda v: 0 if v.rsplit("/", 1)[-1] == resource.rsplit("/", 1)[-1] else 1)
                wrong = ranked[0] if ranked else ""
                why = classify(wrong, resource) if wrong else "has no Resource"
            corrected = fixes.replace_in_statement(s.statement, "Resource", wrong, resource) if s.statement else None
            out.append(
                self.finding(
                    str(Layer.IDENTITY),
                    s.account or case.facts.caller_account,
                    f"{label(s)} allows {the_action(case)}, but its Resource `{wrong}` {why}",
                    {"resource_in_policy": wrong, "key_arn": resource, "detail": why, "statement": stmt_ref(s)},
                    Fix(
                        summary=f"in {label(s)}, replace `{wrong}` with `{resource}`",
                        policy=corrected,
                        commands=identity_edit_commands(case, s),
                        target=f"{s.policy_kind or 'identity'} policy {s.policy_name}",
                    ),
                )
            )
        return out[:1]
