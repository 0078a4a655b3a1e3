"""KMS grants older than ``--grant-max-age-days``: grants do not expire, and old ones are forgotten access."""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Iterable

from diag.audit.base import AuditFinding, AuditFix, AuditRule
from diag.audit.context import AuditContext


def revoke_command(key_arn: str, grant_id: str, region: str) -> str:
    return f"aws kms revoke-grant --key-id {shlex.quote(key_arn)} --grant-id {shlex.quote(grant_id)} --region {shlex.quote(region)}"


class GrantStale(AuditRule):
    code = "grant-stale"
    severity = "low"
    title = "Grant older than the maximum age"
    description = (
        "A grant was created more than N days ago (--grant-max-age-days, default 90). Grants never expire;"
        " services that need one (EBS, RDS…) create and retire their own, so an old grant is usually access"
        " that nobody remembers."
    )
    fix_template = "If {grantee} no longer needs it, revoke grant {grant_id}."

    def run(self, ctx: AuditContext) -> Iterable[AuditFinding]:
        limit = ctx.now - dt.timedelta(days=ctx.grant_max_age_days)
        for key in ctx.keys:
            for g in key.grants or ():
                if g.creation_date is None or g.creation_date >= limit:
                    continue
                age = (ctx.now - g.creation_date).days
                grantee = g.grantee_principal or "?"
                yield self.finding(
                    account=key.account,
                    resource=key.key_arn,
                    policy=f"grant {g.grant_id}",
                    snapshot_id=key.snapshot_id,
                    summary=f"grant {g.grant_id[:16]}… on {key.label} to {grantee} is {age} days old"
                    f" (limit {ctx.grant_max_age_days})",
                    evidence={
                        "grant_id": g.grant_id,
                        "grantee_principal": g.grantee_principal,
                        "operations": list(g.operations),
                        "creation_date": g.creation_date,
                        "age_days": age,
                    },
                    fix=AuditFix(
                        self.fix_template.format(grantee=grantee, grant_id=g.grant_id),
                        commands=(revoke_command(key.key_arn, g.grant_id, key.region),),
                    ),
                )
