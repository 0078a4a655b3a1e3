"""The call a check asks about, as AWS would see it: the caller (``CallerInfo``), the CloudTrail record AWS
would write for it (``synthetic_record``), the condition keys the check states that a record cannot carry
(``stated_context``), and the engine's request for it, built by ``diag.diagnosis.engine_request``
(``access_request``; the audit matrix asks the same request)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from diag import arn as arns
from diag.check.request import SESSION_NAME, service_of
from diag.diagnosis.engine_request import request_from_record
from diag.policy.model import Request
from diag.times import cloudtrail_time

_GRANT_ACTIONS = frozenset({"kms:creategrant", "kms:listgrants", "kms:revokegrant"})


@dataclass(frozen=True)
class CallerInfo:
    """The caller as AWS sees it: the ARN on the request (a session for a role) and the principal behind it."""

    arn: str  # assumed-role session ARN for a role; the user or root ARN otherwise
    principal_arn: str  # aws:PrincipalArn: the role (with its path), user or root ARN
    account: str
    kind: str  # role, user, root
    name: str | None
    unique_id: str | None = None
    found: bool | None = None  # in the collected IAM of its account (None: that IAM was not collected)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------------- records


def synthetic_record(
    caller: CallerInfo,
    action: str,
    key_arn: str,
    *,
    via_service: str | None,
    encryption_context: dict[str, str],
    at: dt.datetime,
) -> dict[str, Any]:
    """The CloudTrail record AWS would write for this call (what the context builder and the rules read)."""
    service, _, name = action.partition(":")
    key = arns.parse(key_arn)
    region = key.region if key else None
    key_account = key.account if key else None
    ui: dict[str, Any] = {"arn": caller.arn, "accountId": caller.account}
    if caller.kind == "role":
        ui["type"] = "AssumedRole"
        if caller.unique_id:
            ui["principalId"] = f"{caller.unique_id}:{SESSION_NAME}"
        ui["sessionContext"] = {
            "sessionIssuer": {
                "type": "Role",
                "principalId": caller.unique_id,
                "arn": caller.principal_arn,
                "accountId": caller.account,
                "userName": caller.name,
            },
            "attributes": {"creationDate": cloudtrail_time(at), "mfaAuthenticated": "false"},
        }
    elif caller.kind == "user":
        ui["type"] = "IAMUser"
        ui["userName"] = caller.name
        if caller.unique_id:
            ui["principalId"] = caller.unique_id
    else:
        ui["type"] = "Root"
        ui["principalId"] = caller.account
    params: dict[str, Any] = {"keyId": key_arn}
    if encryption_context:
        params["encryptionContext"] = dict(encryption_context)
    record: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": ui,
        "eventTime": cloudtrail_time(at),
        "eventSource": f"{service}.amazonaws.com",
        "eventName": name,
        "awsRegion": region,
        "requestParameters": params,
        "responseElements": None,
        "eventID": f"kmsdiag-check-{service}-{name}",
        "eventType": "AwsApiCall",
        "recipientAccountId": caller.account,
        "resources": [{"accountId": key_account, "type": "AWS::KMS::Key", "ARN": key_arn}],
        "errorCode": "AccessDenied",  # what explain would read; the engine decides, not this field
    }
    if via_service:
        invoked = service_of(via_service)
        ui["invokedBy"] = invoked
        record["sourceIPAddress"] = invoked
        record["userAgent"] = invoked
    return record


def stated_context(action: str, via_service: str | None, condition_keys: dict[str, str]) -> dict[str, str | list[str]]:
    """The condition keys the check states for its call, which a record cannot carry: ``kms:ViaService``
    as given (and ``kms:GrantIsForAWSResource`` for a grant operation through a service), then
    ``--condition`` keys. They replace the record's values (``diag.diagnosis.engine_request``)."""
    extra: dict[str, str | list[str]] = {}
    if via_service:
        extra["kms:ViaService"] = via_service
        if action.lower() in _GRANT_ACTIONS:  # an integrated service managing grants for the caller
            extra["kms:GrantIsForAWSResource"] = "true"
    extra.update(condition_keys)
    return extra


def access_request(
    caller: CallerInfo,
    key_arn: str,
    action: str,
    *,
    via_service: str | None = None,
    encryption_context: dict[str, str] | None = None,
    condition_keys: dict[str, str] | None = None,
    at: dt.datetime | None = None,
) -> tuple[dict[str, Any], Request]:
    """The synthetic CloudTrail record of the call and the engine's request for it. The context does not
    depend on the action, so callers may reuse the request for other actions (``replace(action=...)``)."""
    when = at or dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    record = synthetic_record(
        caller, action, key_arn, via_service=via_service, encryption_context=encryption_context or {}, at=when
    )
    key_account = arns.account_of(key_arn)
    context = stated_context(action, via_service, condition_keys or {})
    return record, request_from_record(record, resource=key_arn, resource_account=key_account, context=context)
