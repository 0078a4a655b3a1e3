"""A key policy gives another account ``kms:*`` or key-administration actions."""

from __future__ import annotations

import copy
from collections.abc import Iterable

from diag.audit.base import AuditFinding, AuditFix, AuditRule
from diag.audit.context import AuditContext
from diag.audit.statements import (
    ADMIN_ACTIONS,
    USE_ACTIONS,
    foreign_accounts,
    has_any_condition,
    is_full_wildcard,
    key_policy_commands,
    label,
    matched_actions,
)


class KeyPolicyCrossAccountAdmin(AuditRule):
    code = "key-policy-cross-account-admin"
    severity = "high"
    title = "Key policy gives another account admin rights"
    description = (
        "An Allow statement names a principal of another account and covers kms:* or administrative actions"
        " (PutKeyPolicy, ScheduleKeyDeletion, CreateGrant, DisableKey…): that account can change, share or"
        " destroy the key. Other accounts need only the cryptographic actions."
    )
    fix_template = "Limit the statement to the cryptographic actions {account} needs (at most: {actions})."

    def run(self, ctx: AuditContext) -> Iterable[AuditFinding]:
        for key, st in ctx.customer_key_statements(allow_only=True):
            foreign = foreign_accounts(st, key.account)
            if not foreign:
                continue
            admin = matched_actions(st, ADMIN_ACTIONS)
            if has_any_condition(st, ("kms:grantisforawsresource",)):
                # AWS's recommended pattern: grants only for AWS services (EBS, RDS…) acting for the account
                admin = [a for a in admin if a not in ("kms:CreateGrant", "kms:RevokeGrant")]
            if not admin:
                continue
            use = matched_actions(st, USE_ACTIONS) or ["kms:Decrypt", "kms:DescribeKey"]
            patched = copy.deepcopy(st.raw)
            patched.pop("NotAction", None)
            patched["Action"] = use
            wildcard = is_full_wildcard(st)
            yield self.key_statement_finding(
                key,
                st,
                summary=f"{label(st)} of the key policy of {key.label} gives account(s) {', '.join(foreign)} "
                + ("every KMS action (kms:*)" if wildcard else f"admin actions: {', '.join(admin)}"),
                evidence={
                    "grantee_accounts": foreign,
                    "admin_actions": admin,
                    "all_actions": wildcard,
                    "statement": st.raw,
                },
                fix=AuditFix(
                    self.fix_template.format(account=", ".join(foreign), actions=", ".join(use)),
                    policy=patched,
                    commands=key_policy_commands(key.key_arn, key.account, key.region),
                ),
            )
