"""KEY_POLICY_NO_PRINCIPAL: no key-policy statement allows the caller, by its ARN or its account."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag import fixes
from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.policy.model import Layer, LayerResult
from diag.rules._helpers import allow_statements, caller_role, element_ok, key_account, stmt_ref, the_action, values
from diag.rules.base import Rule


class KeyPolicyNoPrincipal(Rule):
    code = "KEY_POLICY_NO_PRINCIPAL"
    title = "The key policy does not name the caller"
    description = "No key-policy statement allows the caller, neither its role/user ARN nor its account."
    fix_template = "Add a key-policy statement allowing exactly the caller's role for exactly the failed action."

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        if case.facts.is_s3 or case.layer_result(Layer.KEY_POLICY) != LayerResult.IMPLICITLY_DENIED:
            return []
        stmts = allow_statements(case, Layer.KEY_POLICY)
        if any(element_ok(s, "Principal") for s in stmts):
            return []  # the caller is named: another rule (action, condition) explains
        action = the_action(case)
        role = caller_role(case) or "CALLER_ARN"
        granting = [s for s in stmts if element_ok(s, "Action")]
        names = sorted({v for s in granting for v in values(s, "Principal")})
        key = case.facts.key_arn or "KEY_ARN"
        statement = fixes.key_policy_statement(
            role, [action], conditions=fixes.via_service_condition(case.facts.via_service)
        )
        who = ", ".join(f"`{n}`" for n in names[:6]) or "nobody"
        return [
            self.finding(
                str(Layer.KEY_POLICY),
                key_account(case),
                f"no statement of the key policy allows `{role}` (or its account {case.facts.caller_account})"
                f" to {action}; the statements allowing {action} name {who}",
                {
                    "caller": role,
                    "caller_account": case.facts.caller_account,
                    "action": action,
                    "statements_allowing_action": [
                        stmt_ref(s, "Principal does not match the caller") for s in granting
                    ],
                },
                Fix(
                    summary=f"add this statement to the key policy of {key}",
                    policy=statement,
                    commands=fixes.key_policy_commands(key, account=key_account(case)),
                    target=f"key policy of {key}",
                ),
            )
        ]
