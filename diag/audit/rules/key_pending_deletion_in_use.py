"""Keys scheduled for deletion that CloudTrail shows in use in the last ``--in-use-days`` days."""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Iterable

from diag.audit.base import AuditFinding, AuditFix, AuditRule
from diag.audit.context import AuditContext

# Calls that use the key (data would be lost without it), not its administration.
USE_EVENTS = (
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "ReEncrypt",
    "Sign",
    "Verify",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
    "CreateGrant",
)


class KeyPendingDeletionInUse(AuditRule):
    code = "key-pending-deletion-in-use"
    severity = "high"
    title = "Key pending deletion is still in use"
    description = (
        "The key is scheduled for deletion, yet CloudTrail has KMS calls with it in the last N days"
        " (--in-use-days, default 30). Once deleted, everything encrypted under it is unrecoverable."
    )
    fix_template = "Cancel the deletion (it leaves the key Disabled), then enable it again, before {date}."

    def run(self, ctx: AuditContext) -> Iterable[AuditFinding]:
        since = ctx.now - dt.timedelta(days=ctx.in_use_days)
        for key in ctx.keys:
            if key.key_state != "PendingDeletion":
                continue
            row = ctx.con.execute(
                "SELECT count(*), count(error_code), max(event_time), list(DISTINCT coalesce(caller_role_arn, caller_arn))"
                " FROM events WHERE key_arn = ? AND event_source = 'kms.amazonaws.com' AND event_time >= ?"
                " AND event_name IN (SELECT unnest(?::VARCHAR[]))",
                [key.key_arn, since, list(USE_EVENTS)],
            ).fetchone()
            if not row or not row[0]:
                continue
            n, failed, last, callers = row
            q = shlex.quote
            yield self.finding(
                account=key.account,
                resource=key.key_arn,
                policy="key state",
                snapshot_id=key.snapshot_id,
                summary=f"{key.label} is pending deletion"
                + (f" (on {key.deletion_date})" if key.deletion_date else "")
                + f" but was used {n} time(s) in the last {ctx.in_use_days} days ({failed} failed), last at {last}",
                evidence={
                    "deletion_date": key.deletion_date,
                    "events": n,
                    "failed": failed,
                    "last_used": last,
                    "callers": sorted(c for c in callers or [] if c)[:10],
                    "window_days": ctx.in_use_days,
                },
                fix=AuditFix(
                    self.fix_template.format(date=key.deletion_date or "the deletion date"),
                    commands=(
                        f"aws kms cancel-key-deletion --key-id {q(key.key_arn)} --region {q(key.region)}",
                        f"aws kms enable-key --key-id {q(key.key_arn)} --region {q(key.region)}",
                    ),
                ),
            )
