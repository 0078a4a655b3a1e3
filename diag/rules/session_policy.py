"""SESSION_POLICY: the session policy passed at AssumeRole does not allow the action."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag import fixes
from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.policy.model import Layer, LayerResult
from diag.rules._helpers import caller_role, the_action, the_resource
from diag.rules.base import Rule
from diag.shell import q


class SessionPolicy(Rule):
    code = "SESSION_POLICY"
    title = "The session policy does not allow the action"
    description = "The session policy passed at AssumeRole does not allow the action (it can only narrow the role)."
    fix_template = "Add the action on the key ARN to the Policy passed to AssumeRole."

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        if case.layer_result(Layer.SESSION_POLICY) != LayerResult.IMPLICITLY_DENIED:
            return []
        action, resource = the_action(case), the_resource(case)
        ev = case.session_policy_event or {}
        who = ev.get("caller_arn") or "the code that assumed the role"
        stmt = fixes.identity_statement(resource, [action])
        role = caller_role(case) or "ROLE_ARN"
        return [
            self.finding(
                str(Layer.SESSION_POLICY),
                case.facts.caller_account,
                f"the session policy passed when {who} assumed `{role}`"
                + (f" (AssumeRole event {ev.get('event_id')} at {ev.get('event_time')})" if ev.get("event_id") else "")
                + f" does not allow {action} on `{resource}`",
                {"assume_role_event": ev or None, "action": action, "resource": resource},
                Fix(
                    summary="add this statement to the session policy given to AssumeRole (Policy parameter)",
                    policy=stmt,
                    commands=(
                        "# where the application assumes the role, pass a session policy that includes the statement:",
                        f"aws sts assume-role --role-arn {q(role)} --role-session-name SESSION"
                        " --policy file://session-policy.json",
                    ),
                    target="the session policy (AssumeRole Policy parameter)",
                ),
            )
        ]
