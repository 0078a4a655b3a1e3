"""AWS_MANAGED_KEY_CROSS_ACCOUNT: the key is AWS-managed (``aws/s3``…): its policy cannot allow another account."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag import arn as arns
from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.rules._helpers import key_account
from diag.rules.base import Rule
from diag.shell import q


def managed_alias(case: Case) -> str | None:
    key = case.inforce.key if case.inforce else None
    for a in key.aliases if key else ():
        if "alias/aws/" in a:
            return arns.resource_of(a) or a  # alias/aws/NAME, from a name or an alias ARN
    given = case.facts.key_id_given or ""
    return (arns.resource_of(given) or given) if "alias/aws/" in given else None


class AwsManagedKeyCrossAccount(Rule):
    code = "AWS_MANAGED_KEY_CROSS_ACCOUNT"
    title = "An AWS-managed key cannot be shared with another account"
    description = "The key is AWS-managed (`aws/s3`, …): its key policy cannot be changed to allow another account."
    fix_template = "Re-encrypt the data with a customer managed key whose policy allows the other account."
    supersedes = (
        "KEY_POLICY_NO_PRINCIPAL",
        "KEY_POLICY_NO_ACTION",
        "KEY_POLICY_ROOT_DELEGATION_MISSING",
        "IAM_POLICY_MISSING",
        "CONDITION_VIA_SERVICE",
        "CONDITION_OTHER",
    )

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        f = case.facts
        key = case.inforce.key if case.inforce else None
        alias = managed_alias(case)
        if not ((key is not None and key.key_manager == "AWS") or alias):
            return []
        owner = key_account(case) or (key.account if key else None)
        if not (f.caller_account and owner and f.caller_account != owner):
            return []
        key_arn = f.key_arn or (key.key_arn if key else "KEY_ARN")
        region = (key.region if key else None) or f.region or "REGION"
        commands = [
            f"# with credentials of account {owner}: a customer managed key that account {f.caller_account} may use",
            f"aws kms create-key --region {q(region)} --description {q(f'shared with {f.caller_account}')} --query KeyMetadata.Arn --output text",
            "# put a key policy naming the exact role of the other account (kmsdiag explain shows the statement), then re-encrypt:",
        ]
        if f.bucket:
            commands += [
                f"aws s3api put-bucket-encryption --bucket {q(f.bucket)} --server-side-encryption-configuration"
                ' \'{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"aws:kms","KMSMasterKeyID":"NEW_KEY_ARN"},"BucketKeyEnabled":true}]}\'',
                f"aws s3 cp {q(f's3://{f.bucket}/')} {q(f's3://{f.bucket}/')} --recursive --sse aws:kms --sse-kms-key-id NEW_KEY_ARN",
            ]
        else:
            commands.append(
                f"aws kms re-encrypt --ciphertext-blob fileb://ciphertext.bin --destination-key-id NEW_KEY_ARN --region {q(region)}"
                " --query CiphertextBlob --output text | base64 -d > ciphertext-new.bin"
            )
        return [
            self.finding(
                "key",
                owner,
                f"`{key_arn}`{f' ({alias})' if alias else ''} is an AWS-managed key of account {owner}: its policy only"
                f" allows its own account, and cannot be edited to allow account {f.caller_account}",
                {
                    "key_arn": key_arn,
                    "key_manager": key.key_manager if key else "AWS",
                    "alias": alias,
                    "caller_account": f.caller_account,
                },
                Fix(
                    summary="re-encrypt the data with a customer managed key whose key policy allows the caller's role",
                    policy=None,
                    commands=tuple(commands),
                    target=key_arn,
                ),
            )
        ]
