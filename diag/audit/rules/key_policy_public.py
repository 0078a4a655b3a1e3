"""A key policy allows ``Principal: "*"`` without a condition that pins the calling account."""

from __future__ import annotations

import copy
from collections.abc import Iterable

from diag.audit.base import AuditFinding, AuditFix, AuditRule
from diag.audit.context import AuditContext
from diag.audit.statements import ACCOUNT_KEYS, has_any_condition, key_policy_commands, label


class KeyPolicyPublic(AuditRule):
    code = "key-policy-public-principal"
    severity = "high"
    title = "Key policy allows any principal"
    description = (
        'An Allow statement has Principal "*" (or {"AWS": "*"}) and no condition on kms:CallerAccount,'
        " aws:PrincipalAccount, aws:PrincipalOrgID or aws:PrincipalArn: any AWS account can use the key for"
        " those actions."
    )
    fix_template = "Add a condition that names the accounts allowed: StringEquals kms:CallerAccount {accounts}."

    def run(self, ctx: AuditContext) -> Iterable[AuditFinding]:
        for key, st in ctx.customer_key_statements(allow_only=True):
            if st.principal is None or not st.principal.wildcard:
                continue
            if has_any_condition(st, ACCOUNT_KEYS):
                continue
            patched = copy.deepcopy(st.raw)
            cond = patched.setdefault("Condition", {})
            cond.setdefault("StringEquals", {})["kms:CallerAccount"] = [key.account]
            yield self.key_statement_finding(
                key,
                st,
                summary=f'{label(st)} of the key policy of {key.label} allows Principal "*" without an account condition',
                evidence={"statement": st.raw, "conditions": sorted({c.key for c in st.conditions})},
                fix=AuditFix(
                    self.fix_template.format(accounts=key.account),
                    policy=patched,
                    commands=key_policy_commands(key.key_arn, key.account, key.region),
                ),
            )
