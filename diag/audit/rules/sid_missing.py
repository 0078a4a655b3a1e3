"""Key-policy statements without a Sid: evidence and fixes cannot name them, and diffs cannot follow them."""

from __future__ import annotations

from collections.abc import Iterable

from diag import arn as arns
from diag.audit.base import AuditFinding, AuditFix, AuditRule
from diag.audit.context import AuditContext
from diag.audit.statements import aws_principals, key_policy_commands


def suggest_sid(raw: dict[str, object], principals: list[str]) -> str:
    """A Sid that says what the statement does: effect, who (role/user name or account) and the actions."""
    who = "Anyone"
    if principals:
        p = principals[0]
        who = p.rsplit("/", 1)[-1] if "/" in p else (arns.account_of(p) or p)
        who = "Account" + who if who.isdigit() else who
    actions = raw.get("Action") or raw.get("NotAction") or []
    acts = [actions] if isinstance(actions, str) else [str(a) for a in actions] if isinstance(actions, list) else []
    verb = (
        "All"
        if any(a in ("*", "kms:*") for a in acts)
        else "".join(a.split(":", 1)[-1].replace("*", "") for a in acts[:2])
    )
    sid = f"{raw.get('Effect', 'Allow')}{who}{verb}"
    return "".join(ch for ch in sid if ch.isalnum())[:100] or "Statement"


class KeyPolicySidMissing(AuditRule):
    code = "key-policy-sid-missing"
    severity = "low"
    title = "Key-policy statement without a Sid"
    description = (
        "A statement has no Sid. Sids are how people, diffs, CloudTrail reviews and kmsdiag's own evidence name"
        " a statement; without one, an edit that drops or changes it is hard to see."
    )
    fix_template = 'Add "Sid": "{sid}" to statement #{index}.'

    def run(self, ctx: AuditContext) -> Iterable[AuditFinding]:
        for key, st in ctx.customer_key_statements():
            if st.sid:
                continue
            sid = suggest_sid(st.raw, aws_principals(st))
            yield self.key_statement_finding(
                key,
                st,
                summary=f"statement #{st.index} of the key policy of {key.label} has no Sid",
                evidence={"statement": st.raw},
                fix=AuditFix(
                    self.fix_template.format(sid=sid, index=st.index),
                    policy={"Sid": sid, **st.raw},
                    commands=key_policy_commands(key.key_arn, key.account, key.region),
                ),
            )
