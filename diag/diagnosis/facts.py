"""Build ``EventFacts`` from a CloudTrail record, a stored event row, or a parsed error text.

CloudTrail quirks handled (see ../shared/real_events/README.md): ``keyId`` may be a key ARN, a bare ID, an
alias name or alias ARN, or absent (then ``resources[].ARN``, in any letter case, is the key);
``requestParameters`` may be null; ``userIdentity`` of type ``AWSAccount`` (the key owner's copy) has no ARN;
``invokedBy`` may be ``AWS Internal``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from diag import arn as arns
from diag.diagnosis.model import EventFacts
from diag.policy.context import via_service as engine_via_service
from diag.times import cloudtrail_time, parse_time

if TYPE_CHECKING:
    from diag.errortext import ParsedError


def via_service(invoked_by: str | None, region: str | None) -> str | None:
    """``kms:ViaService`` for a call that a service made for the caller (``s3.amazonaws.com`` ->
    ``s3.R.amazonaws.com``), by the engine's rule; None (not determined) without a service or a region."""
    if not invoked_by or not region or not invoked_by.endswith(".amazonaws.com") or " " in invoked_by:
        return None
    return engine_via_service(invoked_by, region)


def role_arn_from_session(arn: str | None) -> str | None:
    """``arn:aws:sts::A:assumed-role/R/s`` → ``arn:aws:iam::A:role/R`` (the path, if any, is not in the session ARN)."""
    return arns.role_of_assumed_role(arn) or arn


def key_from_record(record: dict[str, Any]) -> tuple[str | None, str | None]:
    """(key ARN when known, keyId exactly as given)."""
    params = record.get("requestParameters") or {}
    given = params.get("keyId") if isinstance(params, dict) else None
    given = given if isinstance(given, str) and given else None
    key_arn = given if arns.is_key_arn(given) else None
    for res in record.get("resources") or []:
        if not isinstance(res, dict):
            continue
        arn = res.get("ARN") or res.get("arn")
        rtype = str(res.get("type") or "")
        if arns.is_key_arn(arn) and (not rtype or rtype.lower() == "aws::kms::key"):
            key_arn = str(arn)
            break
    return key_arn, given


def _text(value: Any) -> Any:
    """A scalar field as text: a non-empty string, else None (a number for errorCode stays an error)."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    """The record with its top-level scalar fields as text or None (real records carry '' and numbers)."""
    fields = (
        "eventID", "eventTime", "eventSource", "eventName", "awsRegion", "errorCode", "errorMessage",
        "userAgent", "sourceIPAddress", "vpcEndpointId", "sharedEventID", "requestID", "recipientAccountId",
    )  # fmt: skip
    out = dict(record)
    for k in fields:
        if k in out:
            out[k] = _text(out[k])
    if not isinstance(out.get("userIdentity"), dict):
        out["userIdentity"] = {}
    else:
        out["userIdentity"] = {
            k: (_text(v) if k in ("arn", "accountId", "type", "principalId", "invokedBy", "accessKeyId") else v)
            for k, v in out["userIdentity"].items()
        }
    return out


def facts_from_record(record: dict[str, Any], *, origin: str = "event-file") -> EventFacts:
    """Facts of one CloudTrail record (as CloudTrail delivers it)."""
    raw = record
    record = _clean(record)
    ui = record.get("userIdentity") or {}
    params = record.get("requestParameters") if isinstance(record.get("requestParameters"), dict) else {}
    region = record.get("awsRegion")
    ctype = ui.get("type")
    caller_arn = ui.get("arn")
    context = ui.get("sessionContext")
    issuer = context.get("sessionIssuer") if isinstance(context, dict) else None
    issuer = issuer if isinstance(issuer, dict) else {}
    if ctype == "AssumedRole":
        principal = issuer.get("arn") or role_arn_from_session(caller_arn)
        session = arns.name_of(caller_arn)
    else:
        principal, session = caller_arn, None
    caller_account = ui.get("accountId") or arns.account_of(caller_arn)
    key_arn, given = key_from_record(record)
    key_account = arns.account_of(key_arn) or arns.account_of(given)
    if not key_account and given:
        key_account = caller_account  # a bare key ID or alias name resolves in the caller's account
    source = record.get("eventSource")
    name = record.get("eventName")
    action = f"{source.split('.')[0]}:{name}" if source and name else None
    invoked = ui.get("invokedBy")
    ctx = params.get("encryptionContext") if params else None
    return EventFacts(
        event_id=record.get("eventID"),
        event_time=parse_time(record.get("eventTime")),
        event_source=source,
        event_name=name,
        action=action,
        region=region,
        error_code=record.get("errorCode"),
        error_message=record.get("errorMessage"),
        caller_arn=caller_arn,
        caller_type=ctype,
        caller_account=caller_account,
        principal_arn=principal,
        principal_id=ui.get("principalId"),
        session_name=session,
        access_key_id=ui.get("accessKeyId"),
        invoked_by=invoked,
        via_service=via_service(invoked, region),
        key_arn=key_arn,
        key_id_given=given,
        key_account=key_account,
        bucket=_text(params.get("bucketName")) if params else None,
        object_key=_text(params.get("key")) if params else None,
        encryption_context=ctx if isinstance(ctx, dict) else None,
        source_ip=record.get("sourceIPAddress"),
        vpc_endpoint_id=record.get("vpcEndpointId"),
        user_agent=record.get("userAgent"),
        shared_event_id=record.get("sharedEventID"),
        request_id=record.get("requestID"),
        recipient_account=record.get("recipientAccountId"),
        origin=origin,
        raw=raw,
    )


def record_from_error(
    parsed: ParsedError, *, at: dt.datetime, region: str | None = None, key: str | None = None
) -> dict[str, Any]:
    """A CloudTrail-shaped record for an error text, so that it goes through the same pipeline as an event."""
    principal = parsed.principal or ""
    account = arns.account_of(principal)
    ui: dict[str, Any] = {"arn": principal or None, "accountId": account}
    who = arns.parse(principal)
    if who is not None and who.resource_type == "assumed-role":
        ui["type"] = "AssumedRole"
        ui["sessionContext"] = {
            "sessionIssuer": {"type": "Role", "arn": role_arn_from_session(principal), "accountId": account}
        }
    elif who is not None and who.resource == "root":
        ui["type"] = "Root"
    elif who is not None and who.resource_type == "user":
        ui["type"] = "IAMUser"
    action = parsed.action
    service, _, op = (action or ":").partition(":")
    if not service:
        service = parsed.service_prefix or ""
    resource = (
        key
        or (parsed.resource if parsed.resource_kind == "arn" else None)
        or (parsed.resource if parsed.state else None)
    )
    record: dict[str, Any] = {
        "eventVersion": "1.08",
        "eventID": None,
        "eventTime": cloudtrail_time(at),
        "eventSource": f"{service}.amazonaws.com" if service else None,
        "eventName": op or None,
        "awsRegion": region or arns.region_of(resource),
        "errorCode": parsed.error_code or "AccessDenied",
        "errorMessage": parsed.text,
        "userIdentity": {**ui, "invokedBy": parsed.via} if parsed.via else ui,
        "requestParameters": {"keyId": resource} if resource and service == "kms" else None,
        "requestID": parsed.request_id,
    }
    if resource and arns.is_key_arn(resource):
        record["resources"] = [{"ARN": resource, "accountId": arns.account_of(resource), "type": "AWS::KMS::Key"}]
    s3_arn = arns.parse(resource) if service == "s3" else None
    if s3_arn is not None and s3_arn.service == "s3" and not s3_arn.region and not s3_arn.account:
        bucket, _, obj = s3_arn.resource.partition("/")
        record["requestParameters"] = {"bucketName": bucket, "key": obj or None}
    return record


# EventFacts field, events column: the stored column wins over what the raw record says, when it has a value
_ROW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "event_id"),
    ("event_source", "event_source"),
    ("event_name", "event_name"),
    ("region", "aws_region"),
    ("error_code", "error_code"),
    ("error_message", "error_message"),
    ("caller_arn", "caller_arn"),
    ("caller_account", "caller_account"),
    ("key_arn", "key_arn"),
    ("key_id_given", "key_id_given"),
    ("key_account", "key_account"),
    ("bucket", "bucket"),
    ("invoked_by", "invoked_by"),
    ("shared_event_id", "shared_event_id"),
    ("request_id", "request_id"),
    ("recipient_account", "recipient_account"),
)

# Every column of an events row that facts_from_row reads (diag.diagnosis.find selects only these).
ROW_COLUMNS_READ: frozenset[str] = frozenset(
    {column for _, column in _ROW_COLUMNS} | {"raw", "caller_type", "caller_role_arn", "caller_arn", "event_time"}
)


def facts_from_row(row: dict[str, Any]) -> EventFacts:
    """Facts of a stored event: the raw record for everything, the typed columns (resolved by ingest) on top.
    Reads only the columns in ``ROW_COLUMNS_READ``."""
    import dataclasses

    import orjson

    raw = row.get("raw")
    record = orjson.loads(raw) if isinstance(raw, str | bytes) else (raw or {})
    base = facts_from_record(record if isinstance(record, dict) else {}, origin="event")
    ctype = row.get("caller_type") or base.caller_type
    principal = base.principal_arn
    if ctype == "AssumedRole" and row.get("caller_role_arn"):
        principal = row["caller_role_arn"]
    elif not principal:
        principal = row.get("caller_role_arn") or row.get("caller_arn")
    overrides: dict[str, Any] = {field: row.get(column) or getattr(base, field) for field, column in _ROW_COLUMNS}
    overrides.update(
        event_time=parse_time(row.get("event_time")) or base.event_time, caller_type=ctype, principal_arn=principal
    )
    f = dataclasses.replace(base, **overrides)
    if f.action is None and f.event_source and f.event_name:
        f = dataclasses.replace(f, action=f"{f.event_source.split('.')[0]}:{f.event_name}")
    if f.via_service is None:
        f = dataclasses.replace(f, via_service=via_service(f.invoked_by, f.region))
    return f
