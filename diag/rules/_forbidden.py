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

from diag import arn as arns
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


# (service, command) → (option naming what it edits, test of that value, why AWS refuses it)
_SLR_EDITS = {"put-role-policy", "attach-role-policy", "detach-role-policy", "delete-role-policy"}
_SLR_EDITS |= {"update-assume-role-policy", "put-role-permissions-boundary", "delete-role"}
_MANAGED_POLICY_EDITS = {"create-policy-version", "set-default-policy-version", "delete-policy-version"}
_MANAGED_POLICY_EDITS |= {"delete-policy"}
_ORG_EDITS = {"update-policy", "delete-policy", "detach-policy"}
_AWS_ORG_POLICIES = {"p-FullAWSAccess", "p-RCPFullAWSAccess"}


def _option(words: list[str], name: str) -> str | None:
    for i, w in enumerate(words):
        if w == name and i + 1 < len(words):
            return words[i + 1]
        if w.startswith(name + "="):
            return w.split("=", 1)[1]
    return None


def forbidden_edit(command: str, aws_managed_keys: frozenset[str] = frozenset()) -> str | None:
    """Why AWS would refuse ``command`` as a fix (it edits a service-linked role, an AWS managed IAM
    policy, an AWS managed key's policy, or the AWS managed FullAWSAccess/RCPFullAWSAccess), else None.
    ``aws_managed_keys``: ARNs (or IDs) of keys whose KeyManager is AWS."""
    import shlex

    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        words = command.split()
    if len(words) < 3 or words[0] != "aws":
        return None
    service, verb = words[1], words[2]
    if service == "iam" and verb in _SLR_EDITS:
        role = _option(words, "--role-name") or ""
        if role.startswith("AWSServiceRoleFor"):
            return f"{role} is a service-linked role: only its service edits it"
    if service == "iam" and verb in _MANAGED_POLICY_EDITS:
        arn = _option(words, "--policy-arn") or ""
        if arns.account_of(arn) == "aws":  # arn:aws:iam::aws:policy/…
            return f"{arn} is an AWS managed policy: AWS owns its versions"
    if service == "kms" and verb == "put-key-policy":
        key = _option(words, "--key-id") or ""
        if key in aws_managed_keys or key.rsplit("/", 1)[-1] in aws_managed_keys or key.startswith("alias/aws/"):
            return f"{key} is an AWS managed key: its key policy cannot be changed"
    if service == "organizations" and verb in _ORG_EDITS:
        pid = _option(words, "--policy-id") or ""
        if pid in _AWS_ORG_POLICIES:
            return f"{pid} is an AWS managed organization policy: it cannot be edited or detached"
    return None
