"""The engine's request for one cell of the access matrix (a collected role or user, a key, an action,
directly or through a service), built directly rather than from a synthetic CloudTrail record.

It is the request ``kmsdiag check`` asks the engine (``diag.check.run.access_request``: the record AWS
would write for the call, read by ``diag.policy.context.request_from_event``), field for field:
``tests/audit/test_matrix_request.py`` compares the two for roles and users, with and without a unique
ID, directly and through a service, for every matrix action. A role calls as a session of itself named
``kmsdiag-check``; the request's time is the matrix's.

The context is built once per caller, key and service; only ``kms:GrantIsForAWSResource`` depends on
the action (a grant call made by an integrated service), so ``cell_request`` adds it for those actions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from diag import arn as arns
from diag.policy.model import Request
from diag.times import cloudtrail_time

SESSION_NAME = "kmsdiag-check"  # the session a role calls as (the same name as `kmsdiag check`'s)
_GRANT_ACTIONS = frozenset({"kms:creategrant", "kms:listgrants", "kms:revokegrant"})


@dataclass(frozen=True)
class MatrixCaller:
    """A collected role or user as it calls: ``arn`` is on the request (a session of the role), the
    principal behind it is ``principal_arn`` (the role or user ARN as collected, with its path)."""

    arn: str
    principal_arn: str
    account: str
    kind: str  # role, user
    name: str
    unique_id: str | None


def matrix_caller(arn: str, account: str, kind: str, unique_id: str | None) -> MatrixCaller:
    """The caller for a collected role or user (``principals`` row): a role calls as a session of itself."""
    name = arns.name_of(arn) or arn.rsplit("/", 1)[-1]
    if kind == "role":
        session = arns.assumed_role_arn(account, name, SESSION_NAME, arns.partition_of(arn))
        return MatrixCaller(session, arn, account, "role", name, unique_id)
    if kind == "user":
        return MatrixCaller(arn, arn, account, "user", name, unique_id)
    raise ValueError(f"the access matrix evaluates roles and users, not {kind!r} ({arn})")


def _caller_keys(caller: MatrixCaller) -> dict[str, str | list[str]]:
    ctx: dict[str, str | list[str]] = {
        "aws:PrincipalArn": caller.principal_arn if caller.kind == "role" else caller.arn,
        "aws:PrincipalAccount": caller.account,
        "kms:CallerAccount": caller.account,
        "aws:PrincipalType": "AssumedRole" if caller.kind == "role" else "User",
        "aws:PrincipalIsAWSService": "false",
    }
    if caller.unique_id:
        ctx["aws:userid"] = f"{caller.unique_id}:{SESSION_NAME}" if caller.kind == "role" else caller.unique_id
    if caller.kind == "user" and caller.name:
        ctx["aws:username"] = caller.name
    return ctx


def base_request(caller: MatrixCaller, key_arn: str, via: str | None, at: dt.datetime) -> Request:
    """The request for any non-grant action (``action`` left empty: ``cell_request`` sets it)."""
    key_parts = arns.split(key_arn)
    region = key_parts[3] if key_parts else None
    key_account = key_parts[4] if key_parts else None
    when = cloudtrail_time(at)
    ctx = _caller_keys(caller)
    invoked = f"{via.split('.', 1)[0]}.amazonaws.com" if via else None
    if invoked is not None and " " not in invoked:
        ctx["aws:ViaAWSService"] = "true"
        ctx["aws:CalledVia"] = [invoked]
        ctx["aws:CalledViaFirst"] = invoked
        ctx["aws:CalledViaLast"] = invoked
    else:
        ctx["aws:ViaAWSService"] = "false"
    ctx["aws:CurrentTime"] = when
    ctx["aws:EpochTime"] = str(int(dt.datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()))
    if region:
        ctx["aws:RequestedRegion"] = region
    ctx["aws:SecureTransport"] = "true"
    if caller.kind == "role":
        ctx["aws:MultiFactorAuthPresent"] = "false"
        ctx["aws:TokenIssueTime"] = when
    if key_account or caller.account:
        ctx["aws:ResourceAccount"] = key_account or caller.account
    if via:
        ctx["kms:ViaService"] = via
    return Request(principal=caller.arn, action="", resource=key_arn, resource_account=key_account, context=ctx)


def cell_request(base: Request, action: str) -> Request:
    """``base`` (from ``base_request``) for ``action``."""
    if base.context.get("kms:ViaService") and action.lower() in _GRANT_ACTIONS:
        # an integrated service managing grants for the caller
        return dataclasses.replace(base, action=action, context={**base.context, "kms:GrantIsForAWSResource": "true"})
    if not action.lower().startswith("kms:"):  # only a call to KMS itself is known to be over TLS
        ctx = {k: v for k, v in base.context.items() if k != "aws:SecureTransport"}
        return dataclasses.replace(base, action=action, context=ctx)
    return dataclasses.replace(base, action=action)
