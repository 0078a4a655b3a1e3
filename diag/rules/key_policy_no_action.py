"""KEY_POLICY_NO_ACTION: the key policy names the caller (or its account), but not for this action."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag import fixes
from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.policy.model import Layer, LayerResult
from diag.rules._helpers import allow_statements, element_ok, key_account, label, stmt_ref, the_action, values
from diag.rules.base import Rule


class KeyPolicyNoAction(Rule):
    code = "KEY_POLICY_NO_ACTION"
    title = "The key policy names the caller, but not this action"
    description = "A key-policy statement allows the caller (or its account), but not the action that failed."
    fix_template = "Add the failed action to the statement that names the caller, keeping its conditions."

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        if case.facts.is_s3 or case.layer_result(Layer.KEY_POLICY) != LayerResult.IMPLICITLY_DENIED:
            return []
        stmts = allow_statements(case, Layer.KEY_POLICY)
        if any(element_ok(s, "Principal") and element_ok(s, "Action") for s in stmts):
            return []
        naming = [s for s in stmts if element_ok(s, "Principal") and not element_ok(s, "Action")]
        if not naming:
            return []
        s = naming[0]
        action = the_action(case)
        key = case.facts.key_arn or "KEY_ARN"
        fixed = fixes.add_to_element(s.statement or {}, "Action", [action]) if s.statement else None
        return [
            self.finding(
                str(Layer.KEY_POLICY),
                key_account(case),
                f"{label(s)} names the caller but allows only {', '.join(values(s, 'Action')) or 'other actions'},"
                f" not {action}",
                {"action": action, "statements": [stmt_ref(x, f"Action does not include {action}") for x in naming]},
                Fix(
                    summary=f"add {action} to {label(s)} (its principal and conditions unchanged)",
                    policy=fixed,
                    commands=fixes.key_policy_commands(key, account=key_account(case)),
                    target=f"key policy of {key}",
                ),
            )
        ]
