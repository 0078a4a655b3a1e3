"""Identity policies that allow ``kms:Decrypt`` on every key (``Resource: "*"`` or a pattern as wide)."""

from __future__ import annotations

import copy
from collections.abc import Iterable

from diag import arn as arns
from diag.audit.base import AuditFinding, AuditFix, AuditRule
from diag.audit.context import AuditContext, IdentityPolicyRecord
from diag.audit.statements import label, matched_actions
from diag.policy.match import resource_matches
from diag.policy.parse import PolicyError, StatementSpec, parse_policy

# Two regions of each partition: two keys no policy can know, in the holders' partition; a Resource pattern
# that matches both matches every key of that partition.
_PROBE_REGIONS = {
    "aws": ("us-east-1", "ap-southeast-2"),
    "aws-cn": ("cn-north-1", "cn-northwest-1"),
    "aws-us-gov": ("us-gov-west-1", "us-gov-east-1"),
}


def _probes(partition: str) -> tuple[str, str]:
    first, second = _PROBE_REGIONS.get(partition, _PROBE_REGIONS[arns.DEFAULT_PARTITION])
    return (
        arns.build("kms", "key/00000000-0000-4000-8000-000000000000", region=first, account="000000000000"),
        arns.build("kms", "key/mrk-0123456789abcdef0123456789abcdef", region=second, account="999999999999"),
    )


def _all_keys(st: StatementSpec, partition: str) -> bool:
    probes = _probes(partition)
    if st.resources is not None:
        return all(any(resource_matches(p, probe) for p in st.resources) for probe in probes)
    if st.not_resources is not None:
        return not any(resource_matches(p, probe) for p in st.not_resources for probe in probes)
    return False


def _keys_used(ctx: AuditContext, pol: IdentityPolicyRecord) -> list[str]:
    """Keys the policy's holders decrypted successfully (from CloudTrail), to scope the fix."""
    if not pol.holders:
        return []
    rows = ctx.con.execute(
        "SELECT DISTINCT key_arn FROM events WHERE event_source = 'kms.amazonaws.com' AND error_code IS NULL"
        " AND key_arn IS NOT NULL AND event_name IN ('Decrypt', 'GenerateDataKey', 'ReEncrypt')"
        " AND coalesce(caller_role_arn, caller_arn) IN (SELECT unnest(?::VARCHAR[])) ORDER BY key_arn LIMIT 20",
        [list(pol.holders)],
    ).fetchall()
    return [r[0] for r in rows]


class IdentityDecryptAllKeys(AuditRule):
    code = "identity-decrypt-all-keys"
    severity = "medium"
    title = 'Identity policy allows kms:Decrypt on every key (Resource "*")'
    description = (
        "An identity statement allows kms:Decrypt with a Resource that matches any key in any account. Any key"
        " policy that delegates to this account (or names the principal) then lets it decrypt; scope Resource"
        " to the key ARNs it needs. A condition (kms:ViaService, aws:ResourceAccount…) lowers the severity."
    )
    fix_template = "Set Resource to the key ARNs that {holders} use: {keys}."

    def run(self, ctx: AuditContext) -> Iterable[AuditFinding]:
        for pol in ctx.identity_policies:
            if not pol.holders:
                continue  # unattached, or only a permissions boundary: it grants nothing by itself
            try:
                parsed = parse_policy(pol.document)
            except PolicyError:
                continue
            partition = arns.partition_of(pol.holders[0])
            for st in parsed.statements:
                if st.effect != "Allow" or not matched_actions(st, ("kms:Decrypt",)) or not _all_keys(st, partition):
                    continue
                used = _keys_used(ctx, pol)
                keys = used or [f"arn:{partition}:kms:REGION:ACCOUNT:key/KEY_ID"]
                patched = copy.deepcopy(st.raw)
                patched.pop("NotResource", None)
                patched["Resource"] = keys
                holders = ", ".join(pol.holders) or "(attached to no one)"
                yield self.finding(
                    account=pol.account,
                    resource=pol.arn or (pol.holders[0] if pol.holders else None),
                    policy=pol.label,
                    sid=st.sid,
                    statement_index=st.index,
                    snapshot_id=pol.snapshot_id,
                    severity="low" if st.conditions else None,
                    summary=f"{label(st)} of {pol.label} allows kms:Decrypt on every key"
                    + (" (with conditions)" if st.conditions else ""),
                    evidence={
                        "holders": list(pol.holders),
                        "resource": list(st.resources or ()) or {"NotResource": list(st.not_resources or ())},
                        "conditions": sorted({c.key for c in st.conditions}),
                        "keys_used": used,
                        "statement": st.raw,
                    },
                    fix=AuditFix(self.fix_template.format(holders=holders, keys=", ".join(keys)), policy=patched),
                )
