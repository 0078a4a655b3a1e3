"""Key-policy Sids that say nothing: generator defaults (``Stmt1700000000000``), numbers, ``Statement1``."""

from __future__ import annotations

import re
from collections.abc import Iterable

from diag.audit.base import AuditFinding, AuditFix, AuditRule
from diag.audit.context import AuditContext
from diag.audit.rules.sid_missing import suggest_sid
from diag.audit.statements import aws_principals, key_policy_commands

MEANINGLESS = re.compile(
    r"^(stmt\d*|statement\s*\d*|sid\s*\d*|\d+|s\d+|[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}|"
    r"default|new ?statement\d*|policy\d*|test\d*|allow|deny|todo|x+)$",
    re.IGNORECASE,
)


def meaningless(sid: str) -> bool:
    return bool(MEANINGLESS.match(sid.strip()))


class KeyPolicySidMeaningless(AuditRule):
    code = "key-policy-sid-meaningless"
    severity = "info"
    title = "Key-policy Sid that says nothing"
    description = (
        "A Sid like Stmt1700000000000 (the policy generator's default), 1, Statement1 or a UUID names a"
        " statement without saying what it is for; reviews and evidence then need the whole statement."
    )
    fix_template = "Rename Sid {sid!r} to say who may do what, e.g. {suggested!r}."

    def run(self, ctx: AuditContext) -> Iterable[AuditFinding]:
        for key, st in ctx.customer_key_statements():
            if not st.sid or not meaningless(st.sid):
                continue
            suggested = suggest_sid(st.raw, aws_principals(st))
            yield self.key_statement_finding(
                key,
                st,
                summary=f"statement #{st.index} of the key policy of {key.label} has the meaningless Sid {st.sid!r}",
                evidence={"statement": st.raw},
                fix=AuditFix(
                    self.fix_template.format(sid=st.sid, suggested=suggested),
                    policy={**st.raw, "Sid": suggested},
                    commands=key_policy_commands(key.key_arn, key.account, key.region),
                ),
            )
