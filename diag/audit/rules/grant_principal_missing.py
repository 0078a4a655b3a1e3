"""Grants whose grantee or retiring principal no longer exists in its (collected) account."""

from __future__ import annotations

from collections.abc import Iterable

from diag import arn as arns
from diag.audit.base import AuditFinding, AuditFix, AuditRule
from diag.audit.context import AuditContext
from diag.audit.rules.grant_stale import revoke_command


def iam_name(arn: str) -> tuple[str, str, str] | None:
    """(account, kind, name) of a role, user or assumed-role ARN; None for anything else."""
    parts = arns.parse(arn)
    if parts is None:
        return None
    res = parts.resource
    if parts.service == "iam" and res.startswith(("role/", "user/")):
        return parts.account, parts.resource_type, parts.name
    if parts.service == "sts" and res.startswith("assumed-role/") and res.count("/") >= 1:
        return parts.account, "role", res.split("/")[1]
    return None


class GrantPrincipalMissing(AuditRule):
    code = "grant-principal-missing"
    severity = "medium"
    title = "Grant to a principal that no longer exists"
    description = (
        "The grant's grantee (or retiring) principal is a role or user that is not in the collected IAM of its"
        " account: it was deleted. A role recreated with the same name would not get the access back, but"
        " the grant still lists the key as shared."
    )
    fix_template = "Revoke grant {grant_id} (its {which} {principal} no longer exists)."

    def run(self, ctx: AuditContext) -> Iterable[AuditFinding]:
        for key in ctx.keys:
            for g in key.grants or ():
                for which, arn in (("grantee", g.grantee_principal), ("retiring principal", g.retiring_principal)):
                    ident = iam_name(arn) if arn else None
                    if ident is None or ident[0] not in ctx.iam_collected:
                        continue
                    if ident in ctx.principal_names:
                        continue
                    yield self.finding(
                        account=key.account,
                        resource=key.key_arn,
                        policy=f"grant {g.grant_id}",
                        snapshot_id=key.snapshot_id,
                        summary=f"grant {g.grant_id[:16]}… on {key.label}: {which} {arn} is not in the IAM of {ident[0]}",
                        evidence={
                            "grant_id": g.grant_id,
                            which.replace(" ", "_"): arn,
                            "operations": list(g.operations),
                            "iam_snapshot": ctx.snapshots.get(ident[0]),
                        },
                        fix=AuditFix(
                            self.fix_template.format(grant_id=g.grant_id, which=which, principal=arn),
                            commands=(revoke_command(key.key_arn, g.grant_id, key.region),),
                        ),
                    )
