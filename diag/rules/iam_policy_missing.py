"""IAM_POLICY_MISSING: no identity policy of the caller allows this action on this key."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from diag import fixes
from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.policy.model import Layer, LayerResult
from diag.rules._forbidden import grant_fix, is_service_linked_role
from diag.rules._helpers import allow_statements, caller_role, element_ok, the_action, the_resource
from diag.rules.base import Rule


class IamPolicyMissing(Rule):
    code = "IAM_POLICY_MISSING"
    title = "No identity policy of the caller allows the action"
    description = "No identity policy of the caller (inline, managed, group) allows this action on this key."
    fix_template = (
        "Attach an inline policy to the caller's role allowing exactly the failed action on exactly the key ARN."
    )

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        if case.layer_result(Layer.IDENTITY) != LayerResult.IMPLICITLY_DENIED or not case.identity_needed():
            return []
        stmts = allow_statements(case, Layer.IDENTITY)
        if any(element_ok(s, "Action") for s in stmts):
            return []  # a statement has the action: resource or condition rules explain
        action = the_action(case)
        resource = the_resource(case)
        role = caller_role(case) or "CALLER_ARN"
        doc = fixes.policy_document(
            fixes.identity_statement(resource, [action], conditions=fixes.via_service_condition(case.facts.via_service))
        )
        names = sorted({s.policy_name for s in stmts if s.policy_name})
        fix = fixes_for_role(case, role, action, doc)
        why = (
            "cross-account calls need both the key policy and the caller's IAM policy"
            if case.facts.cross_account
            else ("the key policy delegates to IAM (account principal), so an identity policy must allow")
        )
        return [
            self.finding(
                str(Layer.IDENTITY),
                case.facts.caller_account,
                f"no identity policy of `{role}` allows {action} on `{resource}` ({why})",
                {
                    "caller": role,
                    "action": action,
                    "resource": resource,
                    "policies_checked": names,
                    "why_needed": why,
                },
                fix,
            )
        ]


def fixes_for_role(case: Case, role: str, action: str, doc: dict[str, Any]) -> Fix:
    """An inline policy for the caller, except for a service-linked role, whose policies AWS does not let
    anyone edit: a grant to it instead (diag.rules._forbidden)."""
    if is_service_linked_role(role) or is_service_linked_role(case.facts.caller_arn):
        return grant_fix(
            case,
            role,
            [action.split(":")[-1]],
            why="a service-linked role's policies cannot be edited; a grant needs no identity policy",
        )
    return Fix(
        summary=f"attach this inline policy to `{role}`",
        policy=doc,
        commands=fixes.identity_policy_commands(
            role,
            fixes.inline_policy_name([action], case.facts.key_arn),
            doc,
            account=case.facts.caller_account,
        ),
        target=f"identity policies of {role}",
    )
