"""A key policy grants another account's root (the whole account) instead of the specific roles."""

from __future__ import annotations

import copy
from collections.abc import Iterable

from diag import arn as arns
from diag.audit.base import AuditFinding, AuditFix, AuditRule
from diag.audit.context import AuditContext
from diag.audit.statements import aws_principals, is_account_root, key_policy_commands, label, principal_account


class KeyPolicyCrossAccountRoot(AuditRule):
    code = "key-policy-cross-account-root"
    severity = "medium"
    title = "Key policy grants another account's root"
    description = (
        "An Allow statement names another account (its ID or arn:aws:iam::ACCOUNT:root): every principal of that"
        " account whose identity policies allow it can use the key, now and in the future. Name the roles that"
        " need the key instead."
    )
    fix_template = "Replace {principal} with the ARNs of the roles in {account} that use the key: {roles}."

    def run(self, ctx: AuditContext) -> Iterable[AuditFinding]:
        for key, st in ctx.customer_key_statements(allow_only=True):
            roots = [
                v for v in aws_principals(st) if is_account_root(v) and principal_account(v) not in (None, key.account)
            ]
            for root in roots:
                account = principal_account(root)
                users = ctx.matrix().principals_allowed(key.key_arn, account) if account in ctx.iam_collected else []
                roles = users or [
                    arns.role_arn(f"{account}", "ROLE_THAT_USES_THE_KEY", partition=arns.partition_of(key.key_arn))
                ]
                patched = copy.deepcopy(st.raw)
                p = patched.get("Principal", {})
                values = p.get("AWS") if isinstance(p, dict) else None
                vals = [values] if isinstance(values, str) else list(values or [])
                patched["Principal"] = {"AWS": [v for v in vals if v != root] + roles}
                yield self.key_statement_finding(
                    key,
                    st,
                    summary=f"{label(st)} of the key policy of {key.label} allows the whole account {account}"
                    f" ({root}) rather than named roles",
                    evidence={
                        "principal": root,
                        "grantee_account": account,
                        "actions": list(st.actions or ()) or {"NotAction": list(st.not_actions or ())},
                        "roles_using_it": users,
                        "roles_source": "engine access matrix" if users else None,
                        "statement": st.raw,
                    },
                    fix=AuditFix(
                        self.fix_template.format(principal=root, account=account, roles=", ".join(roles)),
                        policy=patched,
                        commands=key_policy_commands(key.key_arn, key.account, key.region),
                    ),
                )
