"""A key policy last written by infrastructure-as-code was then edited by hand (drift)."""

from __future__ import annotations

from collections.abc import Iterable

from diag.audit.base import AuditFinding, AuditFix, AuditRule
from diag.audit.context import AuditContext
from diag.audit.rules._iac import policy_writes, ref, removed, statements


class KeyPolicyIacDrift(AuditRule):
    code = "key-policy-iac-drift"
    severity = "medium"
    title = "Key policy edited by hand after infrastructure-as-code wrote it"
    description = (
        "The last PutKeyPolicy was made by hand (console, CLI) after CloudFormation or Terraform had written the"
        " policy. The template no longer describes the key, and the next deployment will silently overwrite"
        " the hand edit (kmsdiag explain then reports KEY_POLICY_OVERWRITTEN)."
    )
    fix_template = "Put the hand edit into the {tool} template (statements {sids}), or revert it."

    def run(self, ctx: AuditContext) -> Iterable[AuditFinding]:
        for key in ctx.keys:
            writes = policy_writes(ctx, key.key_arn)
            if len(writes) < 2:
                continue
            last = writes[-1]
            if last.tool is not None:
                continue
            iac = next((w for w in reversed(writes[:-1]) if w.tool is not None), None)
            if iac is None:
                continue
            added = removed(last.document, iac.document)  # in the hand edit, not in the template's version
            dropped = removed(iac.document, last.document)
            sids = ", ".join(str(s.get("Sid") or "#?") for s in (added + dropped)) or "(none: formatting only)"
            yield self.finding(
                account=key.account,
                resource=key.key_arn,
                policy="key policy",
                snapshot_id=key.snapshot_id,
                summary=f"the key policy of {key.label} was written by {iac.tool} at {iac.event_time}, then edited"
                f" by hand by {last.actor_arn or '?'} at {last.event_time}",
                evidence={
                    "iac_write": iac.who(),
                    "manual_write": last.who(),
                    "added_by_hand": [ref(s, last.document) for s in added],
                    "removed_by_hand": [ref(s, iac.document) for s in dropped],
                    "statements_now": len(statements(last.document)),
                },
                fix=AuditFix(self.fix_template.format(tool=iac.tool, sids=sids), policy=last.document),
            )
