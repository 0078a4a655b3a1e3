"""Infrastructure-as-code overwrote a hand-edited key policy and removed statements (still missing)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from diag.audit.base import AuditFinding, AuditFix, AuditRule
from diag.audit.context import AuditContext
from diag.audit.rules._iac import canon, policy_writes, ref, removed, statements
from diag.audit.statements import key_policy_commands


class KeyPolicyIacOverwrite(AuditRule):
    code = "key-policy-iac-overwrite"
    severity = "high"
    title = "Infrastructure-as-code overwrote hand-added key-policy statements"
    description = (
        "CloudFormation or Terraform wrote the key policy right after a hand edit and removed statements that"
        " the hand edit had; they are still missing from the policy in force. Whoever they allowed is denied"
        " since then."
    )
    fix_template = "Add the removed statements ({sids}) to the {tool} template and deploy it."

    def run(self, ctx: AuditContext) -> Iterable[AuditFinding]:
        for key in ctx.keys:
            writes = policy_writes(ctx, key.key_arn)
            if len(writes) < 2:
                continue
            current = key.policy if key.policy is not None else writes[-1].document
            now = {canon(s) for s in statements(current)}
            for prev, w in itertools.pairwise(writes):
                if w.tool is None or prev.tool is not None:
                    continue
                lost = [s for s in removed(prev.document, w.document) if canon(s) not in now]
                if not lost:
                    continue
                sids = ", ".join(str(s.get("Sid") or "#?") for s in lost)
                patched = {**current, "Statement": statements(current) + lost}
                yield self.finding(
                    account=key.account,
                    resource=key.key_arn,
                    policy="key policy",
                    sid=lost[0].get("Sid") if isinstance(lost[0].get("Sid"), str) else None,
                    snapshot_id=key.snapshot_id,
                    summary=f"{w.tool} rewrote the key policy of {key.label} at {w.event_time} and removed"
                    f" {len(lost)} statement(s) added by hand by {prev.actor_arn or '?'}: {sids}",
                    evidence={
                        "manual_write": prev.who(),
                        "iac_write": w.who(),
                        "removed": [ref(s, prev.document) for s in lost],
                    },
                    fix=AuditFix(
                        self.fix_template.format(sids=sids, tool=w.tool),
                        policy=patched,
                        commands=key_policy_commands(key.key_arn, key.account, key.region),
                    ),
                )
