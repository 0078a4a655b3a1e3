"""A key policy last written by infrastructure-as-code was then edited by hand (drift)."""

from __future__ import annotations

from collections.abc import Iterable

from diag.audit.base import AuditFinding, AuditFix, AuditRule
from diag.audit.context import AuditContext
from diag.audit.rules._iac import ref, removed, same, statements, versions


class KeyPolicyIacDrift(AuditRule):
    code = "key-policy-iac-drift"
    severity = "medium"
    title = "Key policy edited by hand after infrastructure-as-code wrote it"
    description = (
        "The policy in force differs from the one CloudFormation or Terraform last wrote, and the change was"
        " made by hand (a PutKeyPolicy from the console or CLI, or seen only in a later snapshot). The template"
        " no longer describes the key, and the next deployment will silently overwrite the hand edit"
        " (kmsdiag explain then reports KEY_POLICY_OVERWRITTEN)."
    )
    fix_template = "Put the hand edit into the {tool} template (statements {sids}), or revert it."

    def run(self, ctx: AuditContext) -> Iterable[AuditFinding]:
        for key in ctx.keys:
            vs = versions(ctx, key)
            if len(vs) < 2 or vs[-1].tool is not None:
                continue
            last = vs[-1]
            i_iac = next((i for i in range(len(vs) - 2, -1, -1) if vs[i].tool is not None), None)
            if i_iac is None:
                continue
            iac = vs[i_iac]
            if same(last.document, iac.document):
                continue
            hand = next((v for v in vs[i_iac + 1 :] if v.source == "event"), last)
            added = removed(last.document, iac.document)  # in force now, not in the template's version
            dropped = removed(iac.document, last.document)
            sids = ", ".join(str(s.get("Sid") or "#?") for s in (added + dropped))
            by = hand.actor_arn if hand.source == "event" else "someone (the edit is not in CloudTrail)"
            yield self.finding(
                account=key.account,
                resource=key.key_arn,
                policy="key policy",
                snapshot_id=key.snapshot_id,
                summary=f"the key policy of {key.label} was written by {iac.tool} at {iac.time}, then edited by"
                f" hand by {by} (seen {hand.time})",
                evidence={
                    "iac_write": iac.who(),
                    "manual_write": hand.who(),
                    "added_by_hand": [ref(s, last.document) for s in added],
                    "removed_by_hand": [ref(s, iac.document) for s in dropped],
                    "statements_now": len(statements(last.document)),
                },
                fix=AuditFix(self.fix_template.format(tool=iac.tool, sids=sids), policy=last.document),
            )
