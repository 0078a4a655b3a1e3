"""A cross-account key-policy statement has neither a ``kms:ViaService`` nor a ``kms:CallerAccount`` condition."""

from __future__ import annotations

import copy
from collections.abc import Iterable

from diag.audit.base import AuditFinding, AuditFix, AuditRule
from diag.audit.context import AuditContext
from diag.audit.statements import (
    SCOPING_KEYS,
    USE_ACTIONS,
    foreign_accounts,
    has_any_condition,
    key_policy_commands,
    label,
    matched_actions,
)


class CrossAccountUnscoped(AuditRule):
    code = "cross-account-statement-unscoped"
    severity = "low"
    title = "Cross-account statement without kms:ViaService or kms:CallerAccount"
    description = (
        "An Allow statement lets another account use the key with no kms:ViaService condition (which service"
        " may call on its behalf) and no kms:CallerAccount condition: the other account may call KMS directly,"
        " from anywhere, not only through the service the data lives in."
    )
    fix_template = "Add a condition, e.g. StringEquals kms:ViaService {via} (the service that reads the data)."

    def run(self, ctx: AuditContext) -> Iterable[AuditFinding]:
        for key, st in ctx.customer_key_statements(allow_only=True):
            foreign = foreign_accounts(st, key.account)
            if not foreign or not matched_actions(st, USE_ACTIONS) or has_any_condition(st, SCOPING_KEYS):
                continue
            via = f"s3.{key.region}.amazonaws.com"
            patched = copy.deepcopy(st.raw)
            patched.setdefault("Condition", {}).setdefault("StringEquals", {})["kms:ViaService"] = via
            yield self.key_statement_finding(
                key,
                st,
                summary=f"{label(st)} of the key policy of {key.label} lets {', '.join(foreign)} use the key"
                " without a kms:ViaService or kms:CallerAccount condition",
                evidence={"grantee_accounts": foreign, "statement": st.raw},
                fix=AuditFix(
                    self.fix_template.format(via=via),
                    policy=patched,
                    commands=key_policy_commands(key.key_arn, key.account, key.region),
                ),
            )
