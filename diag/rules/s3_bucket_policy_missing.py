"""S3_BUCKET_POLICY_MISSING: an S3 request failed at the bucket policy, not at KMS."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag import arn as arns
from diag import fixes
from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.policy.model import Layer, LayerResult
from diag.rules._helpers import allow_statements, caller_role, element_ok, the_action, the_resource
from diag.rules.base import Rule


class S3BucketPolicyMissing(Rule):
    code = "S3_BUCKET_POLICY_MISSING"
    title = "The bucket policy does not allow the caller"
    description = "An S3 request failed at the bucket policy layer (no statement allows the caller), not at KMS."
    fix_template = "Add a bucket-policy statement for exactly the caller's role, the failed action and the object ARN."

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        f = case.facts
        if not f.is_s3 or case.layer_result(Layer.BUCKET_POLICY) != LayerResult.IMPLICITLY_DENIED:
            return []
        owner = case.result.request.resource_account if case.result else None
        same_account = not (f.cross_account or (owner and owner != f.caller_account))
        if same_account and case.layer_result(Layer.IDENTITY) == LayerResult.ALLOWED:
            return []  # same account: the identity policy alone allows S3
        if any(
            all(element_ok(s, e) for e in ("Principal", "Action", "Resource"))
            for s in allow_statements(case, Layer.BUCKET_POLICY)
        ):
            return []  # a statement matched but for a condition: the CONDITION_* rules say which
        action, resource = the_action(case), the_resource(case)
        role = caller_role(case) or "CALLER_ARN"
        bucket = f.bucket or "BUCKET"
        stmt = {
            "Sid": fixes.sid_for("Allow", (fixes.principal_kind_and_name(role)[1] or ""), action.split(":")[-1]),
            "Effect": "Allow",
            "Principal": {"AWS": role},
            "Action": action,
            "Resource": resource
            if "/" in resource.split(":::")[-1]
            else arns.object_arn(bucket, "*", arns.partition_of(resource)),
        }
        return [
            self.finding(
                str(Layer.BUCKET_POLICY),
                owner,
                f"the policy of bucket {bucket} has no statement allowing `{role}` to {action} on `{resource}`: S3 refused"
                " before KMS was involved",
                {"bucket": bucket, "caller": role, "action": action, "resource": resource},
                Fix(
                    summary=f"add this statement to the policy of bucket {bucket}",
                    policy=stmt,
                    commands=fixes.bucket_policy_commands(bucket, account=owner),
                    target=f"bucket policy of {bucket}",
                ),
            )
        ]
