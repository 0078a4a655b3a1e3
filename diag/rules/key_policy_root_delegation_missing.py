"""KEY_POLICY_ROOT_DELEGATION_MISSING: same account, no key-policy statement for the account, so the
caller's IAM policies (which would allow) do not count."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag import arn as arns
from diag import fixes
from diag.diagnosis.case import Case, is_account_principal
from diag.diagnosis.model import Finding, Fix
from diag.policy.model import Layer, LayerResult
from diag.rules._helpers import allow_statements, caller_role, element_ok, the_action, values
from diag.rules.base import Rule


class KeyPolicyRootDelegationMissing(Rule):
    code = "KEY_POLICY_ROOT_DELEGATION_MISSING"
    title = "The key policy does not delegate to IAM in its own account"
    description = (
        "Same-account call: the key policy has no statement for the account, so the caller's IAM policies"
        " do not count, even though they allow the action."
    )
    fix_template = (
        "Add a statement for the account root (only the failed actions) so IAM policies count, or name the role."
    )
    supersedes = ("KEY_POLICY_NO_PRINCIPAL",)

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        f = case.facts
        if f.is_s3 or f.cross_account or not f.caller_account:
            return []
        if case.layer_result(Layer.KEY_POLICY) != LayerResult.IMPLICITLY_DENIED:
            return []
        stmts = allow_statements(case, Layer.KEY_POLICY)
        if any(element_ok(s, "Principal") for s in stmts):
            return []
        if any(is_account_principal(v, f.caller_account) for s in stmts for v in values(s, "Principal")):
            return []
        identity = [s for t in case.traces(Layer.IDENTITY) for s in t.allowing()]
        if not identity:
            return []
        action = the_action(case)
        key = f.key_arn or "KEY_ARN"
        root = arns.root_arn(f"{f.caller_account}", arns.partition_of(f.key_arn or f.caller_arn))
        statement = fixes.key_policy_statement(
            root, [action], sid=fixes.sid_for("EnableIAMPoliciesFor", action.split(":")[-1])
        )
        return [
            self.finding(
                str(Layer.KEY_POLICY),
                f.caller_account,
                f"the key policy has no statement for account {f.caller_account}, so the IAM policy that allows"
                f" {action} to `{caller_role(case)}` does not count (KMS needs the key policy to delegate to IAM)",
                {
                    "account": f.caller_account,
                    "identity_statements_allowing": [
                        {"policy": s.policy_name, "sid": s.sid, "index": s.index, "statement": s.statement}
                        for s in identity
                    ],
                },
                Fix(
                    summary=f"add this statement to the key policy of {key} (IAM policies then decide {action}),"
                    f" or name `{caller_role(case)}` in the key policy instead",
                    policy=statement,
                    commands=fixes.key_policy_commands(key, account=f.caller_account),
                    target=f"key policy of {key}",
                ),
            )
        ]
