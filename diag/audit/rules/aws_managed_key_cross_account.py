"""AWS-managed keys (``aws/s3``, ``aws/ebs``…) used with data shared across accounts.

Two kinds of evidence: KMS events (from CloudTrail) in which another account's principal used (or tried to
use) an AWS-managed key, and buckets whose default encryption is the AWS-managed ``aws/s3`` key while
their bucket policy allows other accounts. An AWS-managed key's policy cannot be changed, so the other
account can never decrypt: the data must move to a customer-managed key.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from typing import Any

from diag import arn as arns
from diag.audit.base import AuditFinding, AuditFix, AuditRule
from diag.audit.context import AuditContext, _loads
from diag.audit.statements import aws_principals, principal_account
from diag.policy.parse import PolicyError, parse_policy


def _bucket_uses_aws_s3(encryption: Any) -> tuple[bool, str | None]:
    """(SSE-KMS with the AWS-managed key, the KMSMasterKeyID as written)."""
    rules = encryption.get("Rules") if isinstance(encryption, dict) else None
    for rule in rules or []:
        d = (rule or {}).get("ApplyServerSideEncryptionByDefault") or {}
        if d.get("SSEAlgorithm") in ("aws:kms", "aws:kms:dsse"):
            kid = d.get("KMSMasterKeyID")
            if not kid or str(kid).endswith("alias/aws/s3"):
                return True, kid
    return False, None


class AwsManagedKeyCrossAccount(AuditRule):
    code = "aws-managed-key-cross-account"
    severity = "high"
    title = "AWS-managed key used for data shared across accounts"
    description = (
        "Another account's principals use (or try to use) data encrypted under an AWS-managed key (aws/s3,"
        " aws/ebs…), or a bucket shared with other accounts encrypts by default with aws/s3. The policy of an"
        " AWS-managed key cannot be edited, so the other account is always denied."
    )
    fix_template = (
        "Create a customer-managed key with a key policy for {accounts}, set it as the default encryption and"
        " re-encrypt the shared data (e.g. aws s3 cp --sse aws:kms --sse-kms-key-id NEW_KEY_ARN)."
    )

    def run(self, ctx: AuditContext) -> Iterable[AuditFinding]:
        yield from self._from_events(ctx)
        yield from self._from_buckets(ctx)

    def _from_events(self, ctx: AuditContext) -> Iterable[AuditFinding]:
        managed = {k.key_arn: k for k in ctx.keys if k.aws_managed}
        rows = ctx.con.execute(
            "SELECT key_arn, caller_account, count(*), count(error_code), min(event_time), max(event_time),"
            " list(DISTINCT coalesce(caller_role_arn, caller_arn)), any_value(key_alias)"
            " FROM events WHERE event_source = 'kms.amazonaws.com' AND key_arn IS NOT NULL AND caller_account IS NOT NULL"
            " AND caller_account <> split_part(key_arn, ':', 5)"
            " AND (key_arn IN (SELECT unnest(?::VARCHAR[])) OR key_alias LIKE 'alias/aws/%')"
            " GROUP BY key_arn, caller_account ORDER BY key_arn, caller_account",
            [list(managed)],
        ).fetchall()
        for key_arn, caller_account, n, failed, first, last, callers, alias in rows:
            key = managed.get(key_arn)
            account = arns.account_of(key_arn)
            yield self.finding(
                account=account,
                resource=key_arn,
                policy="AWS-managed key policy",
                snapshot_id=key.snapshot_id if key else None,
                summary=f"{n} KMS call(s) from account {caller_account} used the AWS-managed key {key.label if key else key_arn}"
                f" ({failed} failed), last at {last}",
                evidence={
                    "caller_account": caller_account,
                    "events": n,
                    "failed": failed,
                    "first": first,
                    "last": last,
                    "callers": sorted(c for c in callers or [] if c)[:10],
                    "aliases": list(key.aliases) if key else ([alias] if alias else []),
                },
                fix=AuditFix(self.fix_template.format(accounts=caller_account)),
            )

    def _from_buckets(self, ctx: AuditContext) -> Iterable[AuditFinding]:
        for account, sid in sorted(ctx.snapshots.items()):
            rows = ctx.con.execute(
                "SELECT bucket, policy, encryption FROM bucket_policies WHERE snapshot_id = ? AND account = ?"
                " AND policy_known AND encryption_known AND policy IS NOT NULL ORDER BY bucket",
                [sid, account],
            ).fetchall()
            for bucket, pol, enc in rows:
                uses, kid = _bucket_uses_aws_s3(_loads(enc))
                if not uses:
                    continue
                try:
                    parsed = parse_policy(_loads(pol) or {})
                except PolicyError:
                    continue
                shared: dict[str, int] = {}
                for st in parsed.statements:
                    if st.effect != "Allow":
                        continue
                    for v in aws_principals(st):
                        a = principal_account(v)
                        if a is not None and a != account:
                            shared.setdefault(a, st.index)
                if not shared:
                    continue
                accounts = sorted(shared)
                yield self.finding(
                    account=account,
                    resource=arns.bucket_arn(bucket),
                    policy="bucket policy",
                    statement_index=min(shared.values()),
                    snapshot_id=sid,
                    summary=f"bucket {bucket} is shared with {', '.join(accounts)} but encrypts by default with the"
                    " AWS-managed key aws/s3",
                    evidence={"bucket": bucket, "kms_master_key_id": kid, "shared_with": accounts},
                    fix=AuditFix(
                        self.fix_template.format(accounts=", ".join(accounts)),
                        commands=(
                            f"aws s3api put-bucket-encryption --bucket {shlex.quote(bucket)} --server-side-encryption-configuration"
                            ' \'{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"aws:kms",'
                            '"KMSMasterKeyID":"NEW_KEY_ARN"},"BucketKeyEnabled":true}]}\'',
                        ),
                    ),
                )
