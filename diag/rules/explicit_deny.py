"""EXPLICIT_DENY: a Deny statement matched, in any layer (key policy, identity, SCP, RCP, boundary, session)."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence

from diag import fixes
from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.policy.model import Layer, LayerResult, LayerTrace
from diag.rules._helpers import identity_edit_commands, key_account, label, org_target, stmt_ref
from diag.rules.base import Rule

_LAYER_WORDS = {
    Layer.KEY_POLICY: "the key policy",
    Layer.BUCKET_POLICY: "the bucket policy",
    Layer.IDENTITY: "an identity policy",
    Layer.SCP: "a service control policy",
    Layer.RCP: "a resource control policy",
    Layer.PERMISSION_BOUNDARY: "the permissions boundary",
    Layer.SESSION_POLICY: "the session policy",
    Layer.GRANTS: "grants",
    Layer.RESOURCE_POLICY: "the resource policy",
}


class ExplicitDeny(Rule):
    code = "EXPLICIT_DENY"
    title = "An explicit Deny matched"
    description = (
        "An explicit Deny matched; the evidence names the layer (key policy, identity, SCP, RCP, boundary,"
        " session) and the statement."
    )
    fix_template = "Narrow or remove the Deny (or add an exception for this caller), in the layer named."

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        out: list[Finding] = []
        if case.result is None:
            return out
        for t in case.result.layers:
            if t.result != LayerResult.EXPLICITLY_DENIED:
                continue
            denying = t.denying()
            if not denying:
                continue
            s = denying[0]
            where = _LAYER_WORDS.get(t.layer, str(t.layer))
            conds = [f"{c.operator} {c.key}" for c in s.conditions]
            out.append(
                self.finding(
                    str(t.layer),
                    t.account or s.account,
                    f"{label(s)} in {where} (account {t.account or s.account}) explicitly denies {case.result.request.action}"
                    + (f" (its conditions {', '.join(conds)} held)" if conds else ""),
                    {
                        "layer": str(t.layer),
                        "org_identifier": t.org_identifier,
                        "statements": [
                            stmt_ref(x, "Deny matched: action, resource, principal and conditions all matched")
                            for x in denying
                        ],
                    },
                    Fix(
                        summary=f"narrow {label(s)} so that it no longer matches this call (or add an exception for"
                        " this caller), if the call is legitimate; otherwise the deny is doing its job",
                        policy=s.statement,
                        commands=self._commands(case, t, s),
                        target=f"{where} {s.policy_name}".strip(),
                    ),
                )
            )
        return out

    def _commands(self, case: Case, t: LayerTrace, s) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
        if t.layer == Layer.KEY_POLICY:
            return fixes.key_policy_commands(case.facts.key_arn or "KEY_ARN", account=key_account(case))
        if t.layer == Layer.BUCKET_POLICY and case.facts.bucket:
            return fixes.bucket_policy_commands(case.facts.bucket, account=t.account)
        if t.layer == Layer.IDENTITY:
            return identity_edit_commands(case, s)
        if t.layer in (Layer.SCP, Layer.RCP):
            pid = shlex.quote(s.policy_name or "POLICY_ID")
            return (
                "# with credentials of the organization's management account",
                f"aws organizations list-policies-for-target --target-id {shlex.quote(org_target(t.org_identifier, t.account))}"
                f" --filter {'SERVICE_CONTROL_POLICY' if t.layer == Layer.SCP else 'RESOURCE_CONTROL_POLICY'}",
                f"aws organizations describe-policy --policy-id {pid} --query Policy.Content --output text > org-policy.json",
                "# narrow the Deny statement in org-policy.json, then:",
                f"aws organizations update-policy --policy-id {pid} --content file://org-policy.json",
            )
        if t.layer == Layer.PERMISSION_BOUNDARY and case.inforce and case.inforce.permission_boundary:
            arn = case.inforce.permission_boundary.arn
            if arn:
                return fixes.managed_policy_commands(arn, account=case.facts.caller_account)
        if t.layer == Layer.SESSION_POLICY:
            return (
                "# the session policy is the Policy parameter of the AssumeRole call that created this session:"
                " edit it where the application calls AssumeRole",
            )
        return ()
