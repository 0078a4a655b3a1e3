"""PERMISSION_BOUNDARY: the caller's permissions boundary does not allow the action."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag import fixes
from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.policy.model import Layer, LayerResult
from diag.rules._helpers import caller_role, the_action, the_resource
from diag.rules.base import Rule


class PermissionBoundary(Rule):
    code = "PERMISSION_BOUNDARY"
    title = "The permissions boundary does not allow the action"
    description = (
        "The caller's permissions boundary does not allow the action (identity policies alone are not enough)."
    )
    fix_template = "Add the action on the key ARN to the boundary policy (a new default version)."

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        if case.layer_result(Layer.PERMISSION_BOUNDARY) != LayerResult.IMPLICITLY_DENIED:
            return []
        if not case.identity_needed() and case.layer_result(case.resource_layer()) == LayerResult.ALLOWED:
            return []  # same account, key policy names the caller directly: the boundary does not restrict it
        b = case.inforce.permission_boundary if case.inforce else None
        arn = (b.arn if b else None) or "BOUNDARY_POLICY_ARN"
        action, resource = the_action(case), the_resource(case)
        stmt = fixes.identity_statement(resource, [action])
        return [
            self.finding(
                str(Layer.PERMISSION_BOUNDARY),
                case.facts.caller_account,
                f"the permissions boundary `{arn}` of `{caller_role(case)}` does not allow {action} on `{resource}`",
                {"boundary": arn, "action": action, "resource": resource},
                Fix(
                    summary=f"add this statement to the boundary policy {arn}",
                    policy=stmt,
                    commands=fixes.managed_policy_commands(arn, account=case.facts.caller_account),
                    target=f"permissions boundary {arn}",
                ),
            )
        ]
