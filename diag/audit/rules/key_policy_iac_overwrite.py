"""Infrastructure-as-code overwrote a key policy and removed statements that are still missing."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from diag.audit.base import AuditFinding, AuditFix, AuditRule
from diag.audit.context import AuditContext
from diag.audit.rules._iac import canon, ref, removed, statements, versions
from diag.audit.statements import key_policy_commands


class KeyPolicyIacOverwrite(AuditRule):
    code = "key-policy-iac-overwrite"
    severity = "high"
    title = "Infrastructure-as-code overwrote key-policy statements"
    description = (
        "CloudFormation or Terraform wrote the key policy over a version that was not its own (a hand edit,"
        " or a version seen only in a snapshot) and removed statements that are still missing from the"
        " policy in force. Whoever they allowed is denied since then."
    )
    fix_template = "Add the removed statements ({sids}) to the {tool} template and deploy it."

    def run(self, ctx: AuditContext) -> Iterable[AuditFinding]:
        for key in ctx.keys:
            vs = versions(ctx, key)
            if len(vs) < 2:
                continue
            current = vs[-1].document
            now = {canon(s) for s in statements(current)}
            for prev, w in itertools.pairwise(vs):
                if w.tool is None or prev.tool is not None:
                    continue
                lost = [s for s in removed(prev.document, w.document) if canon(s) not in now]
                if not lost:
                    continue
                sids = ", ".join(str(s.get("Sid") or "#?") for s in lost)
                first_sid = lost[0].get("Sid")
                yield self.finding(
                    account=key.account,
                    resource=key.key_arn,
                    policy="key policy",
                    sid=first_sid if isinstance(first_sid, str) else None,
                    snapshot_id=key.snapshot_id,
                    summary=f"{w.tool} rewrote the key policy of {key.label} at {w.time} and removed {len(lost)}"
                    f" statement(s) that are still missing: {sids}",
                    evidence={
                        "previous_version": prev.who(),
                        "iac_write": w.who(),
                        "removed": [ref(s, prev.document) for s in lost],
                    },
                    fix=AuditFix(
                        self.fix_template.format(sids=sids, tool=w.tool),
                        policy={**current, "Statement": statements(current) + lost},
                        commands=key_policy_commands(key.key_arn, key.account, key.region),
                    ),
                )
