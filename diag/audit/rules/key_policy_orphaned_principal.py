"""Key-policy principals that are unique IDs (``AROA…``/``AIDA…``): the role or user was deleted."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from diag import arn as arns
from diag.audit.base import AuditFinding, AuditFix, AuditRule
from diag.audit.context import AuditContext, KeyRecord
from diag.audit.rules._iac import policy_writes, statements
from diag.audit.statements import UNIQUE_ID_RE, aws_principals, key_policy_commands, label


def _earlier_arn(ctx: AuditContext, key: KeyRecord, sid: str | None, unique_id: str) -> str | None:
    """The ARN that a statement with the same Sid named in an earlier key policy (from CloudTrail)."""
    if not sid:
        return None
    for w in reversed(policy_writes(ctx, key.key_arn)):
        for st in statements(w.document):
            if st.get("Sid") != sid:
                continue
            p = st.get("Principal")
            vals: Any = p.get("AWS") if isinstance(p, dict) else p
            vals = [vals] if isinstance(vals, str) else vals or []
            arns = [v for v in vals if isinstance(v, str) and v.startswith("arn:") and ":root" not in v]
            if arns and unique_id not in vals:
                return str(arns[0])
    return None


class KeyPolicyOrphanedPrincipal(AuditRule):
    code = "key-policy-orphaned-principal"
    severity = "high"
    title = "Key policy names a deleted principal (unique ID)"
    description = (
        "A key-policy principal is a unique ID (AROA…, AIDA…) instead of an ARN: KMS shows it that way when"
        " the role or user it named was deleted. A role recreated with the same name gets a new ID and is"
        " not allowed (kmsdiag explain reports KEY_POLICY_PRINCIPAL_ORPHANED)."
    )
    fix_template = "Replace {unique_id} with the ARN of the principal that should have access{arn_hint}."

    def run(self, ctx: AuditContext) -> Iterable[AuditFinding]:
        for key in ctx.keys:
            for st in ctx.key_statements(key):
                for v in aws_principals(st):
                    if not UNIQUE_ID_RE.match(v):
                        continue
                    live = next((p for p in ctx.principals if p.unique_id == v), None)
                    earlier = _earlier_arn(ctx, key, st.sid, v)
                    same_name = None
                    if earlier:
                        bits = arns.parse(earlier)
                        name = bits.name if bits else None
                        kind = bits.resource.split("/", 1)[0] if bits else None
                        found = ctx.principal_names.get((bits.account, kind or "", name or "")) if bits else None
                        same_name = found.arn if found else None
                    replacement = same_name or earlier
                    patched = copy.deepcopy(st.raw)
                    if replacement and isinstance(patched.get("Principal"), dict):
                        aws = patched["Principal"].get("AWS")
                        if isinstance(aws, list):
                            patched["Principal"]["AWS"] = [replacement if x == v else x for x in aws]
                        elif aws == v:
                            patched["Principal"]["AWS"] = replacement
                    hint = (
                        f" (it was {earlier}" + (", which exists again" if same_name else "") + ")" if earlier else ""
                    )
                    yield self.key_statement_finding(
                        key,
                        st,
                        summary=f"{label(st)} of the key policy of {key.label} names the unique ID {v}: the principal"
                        " was deleted" + (f" (it was {earlier})" if earlier else ""),
                        evidence={
                            "unique_id": v,
                            "earlier_arn": earlier,
                            "recreated_principal": same_name,
                            "still_exists_as": live.arn if live else None,
                            "statement": st.raw,
                        },
                        fix=AuditFix(
                            self.fix_template.format(unique_id=v, arn_hint=hint),
                            policy=patched if replacement else None,
                            commands=key_policy_commands(key.key_arn, key.account, key.region),
                        ),
                    )
