"""KEY_POLICY_OVERWRITTEN: a statement that used to allow the caller was removed by a later PutKeyPolicy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag import fixes
from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.policy.model import Layer, LayerResult
from diag.rules._helpers import key_account, label, stmt_ref
from diag.rules.base import Rule


class KeyPolicyOverwritten(Rule):
    code = "KEY_POLICY_OVERWRITTEN"
    title = "The key policy was overwritten"
    description = (
        "A statement that used to allow the caller was removed by a later PutKeyPolicy (e.g. by CloudFormation"
        " or Terraform replacing the whole policy)."
    )
    fix_template = (
        "Put the removed statement back, in the infrastructure-as-code source too, or the next deploy removes it again."
    )
    supersedes = ("KEY_POLICY_NO_PRINCIPAL", "KEY_POLICY_NO_ACTION", "KEY_POLICY_ROOT_DELEGATION_MISSING")

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        if case.facts.is_s3 or case.layer_result(Layer.KEY_POLICY) != LayerResult.IMPLICITLY_DENIED:
            return []
        for p in reversed(case.prior_key_policies):  # the most recent replacement first
            if p.result is None:
                continue
            allowing = [s for t in p.result.layer(Layer.KEY_POLICY) for s in t.allowing()]
            if not allowing:
                continue
            s = allowing[0]
            c = p.change
            by = c.actor_arn or "unknown"
            via = f" via {c.invoked_by}" if c.invoked_by else ""
            key = case.facts.key_arn or "KEY_ARN"
            return [
                self.finding(
                    str(Layer.KEY_POLICY),
                    key_account(case),
                    f"{label(s)} allowed the caller until {c.event_name} at {c.event_time:%Y-%m-%d %H:%M:%S} UTC by"
                    f" `{by}`{via} replaced the key policy without it",
                    {
                        "change": {
                            "event_id": c.event_id,
                            "event_time": c.event_time,
                            "event_name": c.event_name,
                            "actor": c.actor_arn,
                            "invoked_by": c.invoked_by,
                            "user_agent": c.user_agent,
                        },
                        "removed_statement": stmt_ref(s),
                    },
                    Fix(
                        summary="put this statement back into the key policy, and into the template or code that"
                        f" manages the key{via}, or the next deployment removes it again",
                        policy=s.statement,
                        commands=fixes.key_policy_commands(key, account=key_account(case)),
                        target=f"key policy of {key}",
                    ),
                )
            ]
        return []
