"""Fixes that AWS allows: what kmsdiag must never propose, and the documented alternative.

AWS forbids editing a service-linked role (``arn:aws:iam::…:role/aws-service-role/…``: its policies are
owned by the service; IAM User Guide, "Using service-linked roles"). When such a role lacks KMS access
(EBS, Auto Scaling with a customer managed key, often of another account), the documented fix is a grant
to the role, created by the key's account or by a principal of the role's account that the key policy
allows ``kms:CreateGrant`` (Amazon EC2 Auto Scaling User Guide, "Required AWS KMS key policy for use with
encrypted volumes"), or a key-policy statement. A grant fix is scoped with the failing request's own
encryption context (``EncryptionContextSubset``), never another request's.
"""

from __future__ import annotations

import json

from diag.diagnosis.case import Case
from diag.diagnosis.model import Fix
from diag.shell import q


def is_service_linked_role(arn: str | None) -> bool:
    """A service-linked role (or a session of one): its path is ``/aws-service-role/``."""
    a = arn or ""
    return ":role/aws-service-role/" in a or (":assumed-role/AWSServiceRoleFor" in a)


def grant_constraints(case: Case) -> dict[str, dict[str, str]] | None:
    """``EncryptionContextSubset`` of the failing request's own encryption context (None: it had none)."""
    ec = case.facts.encryption_context or {}
    pairs = {str(k): str(v) for k, v in ec.items()}
    return {"EncryptionContextSubset": pairs} if pairs else None


def grant_fix(case: Case, grantee: str, operations: list[str], *, why: str = "") -> Fix:
    """A CreateGrant for ``grantee`` with exactly ``operations`` on the key, scoped to this request's context."""
    f = case.facts
    key = f.key_arn or "KEY_ARN"
    region = f.key_region or f.region or "REGION"
    constraints = grant_constraints(case)
    cmd = (
        f"aws kms create-grant --key-id {q(key)} --grantee-principal {q(grantee)}"
        f" --operations {' '.join(q(o) for o in operations)} --region {q(region)}"
    )
    if constraints:
        cmd += f" --constraints {q(json.dumps(constraints, separators=(',', ':'), sort_keys=True))}"
    who = f.key_account if not f.cross_account else f"{f.caller_account} or {f.key_account}"
    policy: dict[str, object] = {"KeyId": key, "GranteePrincipal": grantee, "Operations": operations}
    if constraints:
        policy["Constraints"] = constraints
    return Fix(
        summary=f"create a grant for `{grantee}` with {', '.join(operations)}"
        + (" limited to this request's encryption context" if constraints else "")
        + (f" ({why})" if why else ""),
        policy=policy,
        commands=(
            f"# with credentials of account {who}: a principal that the key policy allows kms:CreateGrant",
            cmd,
        ),
        target=f"grants of {key}",
    )
