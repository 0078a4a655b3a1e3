"""CREATE_GRANT_MISSING: a service acting for the caller (RDS, EBS, …) needed ``kms:CreateGrant``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag import fixes
from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.policy.model import Layer, LayerResult
from diag.rules._helpers import caller_role, key_account, the_resource
from diag.rules.base import Rule

_GRANT_FOR_AWS = {"Bool": {"kms:GrantIsForAWSResource": "true"}}


class CreateGrantMissing(Rule):
    code = "CREATE_GRANT_MISSING"
    title = "A service needed kms:CreateGrant for the caller"
    description = "A service acting for the caller (RDS, EBS, …) needed `kms:CreateGrant`, which the caller lacks."
    fix_template = "Allow kms:CreateGrant on the key, only for AWS resources (kms:GrantIsForAWSResource)."
    supersedes = ("KEY_POLICY_NO_ACTION", "KEY_POLICY_NO_PRINCIPAL", "IAM_POLICY_MISSING")

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        f = case.facts
        if f.event_name != "CreateGrant" or not case.denied:
            return []
        service = f.via_service or f.invoked_by
        if not service:
            return []
        key = f.key_arn or "KEY_ARN"
        role = caller_role(case) or "CALLER_ARN"
        out = []
        if case.layer_result(Layer.KEY_POLICY) == LayerResult.IMPLICITLY_DENIED:
            stmt = fixes.key_policy_statement(role, ["kms:CreateGrant"], conditions=_GRANT_FOR_AWS)
            out.append(
                self.finding(
                    str(Layer.KEY_POLICY),
                    key_account(case),
                    f"{service} called kms:CreateGrant for `{role}` and the key policy does not allow it",
                    {"service": service, "caller": role},
                    Fix(
                        summary=f"add this statement to the key policy of {key}",
                        policy=stmt,
                        commands=fixes.key_policy_commands(key, account=key_account(case)),
                        target=f"key policy of {key}",
                    ),
                )
            )
        if case.identity_needed() and case.layer_result(Layer.IDENTITY) == LayerResult.IMPLICITLY_DENIED:
            doc = fixes.policy_document(
                fixes.identity_statement(the_resource(case), ["kms:CreateGrant"], conditions=_GRANT_FOR_AWS)
            )
            out.append(
                self.finding(
                    str(Layer.IDENTITY),
                    f.caller_account,
                    f"{service} called kms:CreateGrant for `{role}` and no identity policy of the caller allows it",
                    {"service": service, "caller": role},
                    Fix(
                        summary=f"attach this inline policy to `{role}`",
                        policy=doc,
                        commands=fixes.identity_policy_commands(
                            role, fixes.inline_policy_name(["kms:CreateGrant"], key), doc, account=f.caller_account
                        ),
                        target=f"identity policies of {role}",
                    ),
                )
            )
        return out
