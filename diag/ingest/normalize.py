"""One CloudTrail record → the typed columns of the ``events`` table (pure).

Every field of a record is attacker-controlled and varies with ``eventVersion``: anything may be missing,
null, of the wrong type (a string where an object belongs) or truncated. Nothing here raises on such
input; a field that cannot be read is NULL.

Two entry points: :func:`normalize_record` (a dict with Python types, for callers and tests) and
:func:`normalize_columns` (the bulk path: workers write these columns with the raw record as JSON Lines
that DuckDB reads natively; ``event_time`` is cast in SQL).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson

from diag import arn as arns
from diag.arn import account_of as arn_account
from diag.arn import is_alias_arn, is_key_arn
from diag.arn import split as split_arn
from diag.store.event_columns import COLUMNS as COLUMNS  # every column normalize_record() returns
from diag.store.event_columns import VALUE_COLUMNS  # the events table's columns, normalize_values() order
from diag.times import parse_time

_EMPTY: dict[str, Any] = {}
S3_KMS_KEY_FIELDS = ("x-amz-server-side-encryption-aws-kms-key-id", "SSEKMSKeyId")


def _s(value: object) -> str | None:
    """A string column: non-empty strings as they are; an empty string, a number or any other type NULL
    (a field of the wrong type is NULL, as documented: ``userAgent: 7`` is not the text '7')."""
    if isinstance(value, str) and value:
        return value
    return None


def _d(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else _EMPTY


def _b(value: object) -> bool | None:
    """A boolean column (CloudTrail writes both true and "true")."""
    if value is True or value is False:
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "false"):
            return low == "true"
    return None


def is_alias(value: str | None) -> bool:
    """An alias name (``alias/x``) or alias ARN (``arn:aws:kms:r:a:alias/x``)."""
    if not value:
        return False
    return value.startswith("alias/") or is_alias_arn(value)


def _resource_arn(res: dict[str, Any]) -> str | None:
    arn = res.get("ARN")
    if arn is None:
        arn = res.get("arn")
    if arn is None:
        for k, v in res.items():
            if isinstance(k, str) and k.lower() == "arn":
                arn = v
                break
    return arn if isinstance(arn, str) else None


def _caller(ui: dict[str, Any]) -> tuple[str | None, ...]:
    """(arn, type, account, principal_id, role_arn, session_name, user_name, invoked_by)."""
    typ = _s(ui.get("type"))
    arn = _s(ui.get("arn"))
    principal_id = _s(ui.get("principalId"))
    account = _s(ui.get("accountId")) or arn_account(arn)
    user_name = _s(ui.get("userName"))
    invoked_by = _s(ui.get("invokedBy"))
    issuer = _d(_d(ui.get("sessionContext")).get("sessionIssuer"))
    issuer_arn = _s(issuer.get("arn"))
    role_arn: str | None = None
    session: str | None = None
    if typ == "AssumedRole":
        role_arn = issuer_arn
        parts = split_arn(arn)
        if parts and parts[5].startswith("assumed-role/"):
            pieces = parts[5].split("/")
            if len(pieces) >= 3:
                session = "/".join(pieces[2:])
            if role_arn is None and len(pieces) >= 2:
                role_arn = arns.role_arn(parts[4], pieces[1], partition=parts[1])
        if session is None and principal_id and ":" in principal_id:
            session = principal_id.split(":", 1)[1]
        user_name = user_name or _s(issuer.get("userName"))
    elif typ in ("IAMUser", "Root"):
        role_arn = arn
    elif typ == "FederatedUser":
        role_arn = issuer_arn
        parts = split_arn(arn)
        if parts and parts[5].startswith("federated-user/"):
            session = parts[5].split("/", 1)[1]
        user_name = user_name or _s(issuer.get("userName"))
    elif typ == "IdentityCenterUser":
        behalf = _d(ui.get("onBehalfOf"))
        principal_id = principal_id or _s(behalf.get("userId"))
        user_name = user_name or _s(behalf.get("userId"))
        role_arn = issuer_arn
    elif typ in ("SAMLUser", "WebIdentityUser"):
        session = user_name
        role_arn = issuer_arn
    else:
        role_arn = issuer_arn
    return arn, typ, account, principal_id, role_arn, session, user_name, invoked_by


def _key(
    params: dict[str, Any], response: dict[str, Any], resources: list[Any]
) -> tuple[str | None, str | None, str | None, str | None]:
    """(key_arn, key_id_given, key_alias, key_account)."""
    key_arn: str | None = None
    alias: str | None = None
    res_account: str | None = None
    for res in resources:
        if not isinstance(res, dict):
            continue
        arn = _resource_arn(res)
        if key_arn is None and is_key_arn(arn):
            key_arn = arn
            res_account = _s(res.get("accountId"))
        elif alias is None and arn and is_alias(arn):
            alias = arn
    given = _s(params.get("keyId"))
    if given is None:
        for name in S3_KMS_KEY_FIELDS:
            given = _s(params.get(name)) or _s(response.get(name))
            if given:
                break
    if given is None:
        given = _s(params.get("destinationKeyId")) or _s(params.get("sourceKeyId"))
    if given:
        if key_arn is None and is_key_arn(given):
            key_arn = given
        elif is_alias(given):
            alias = given
    key_account = arn_account(key_arn) or res_account
    if key_account is None and alias:
        key_account = arn_account(alias)
    return key_arn, given, alias, key_account


def _reencrypt_keys(
    params: dict[str, Any], response: dict[str, Any], resources: list[Any]
) -> tuple[str | None, str | None]:
    """(source key, destination key) of a ReEncrypt: the ARNs from responseElements when it succeeded;
    else the key ARNs of ``resources`` (CloudTrail lists both: the one that matches the destination the
    caller named is the destination, the other the source); else what the caller passed."""
    src = _s(response.get("sourceKeyId")) or _s(params.get("sourceKeyId"))
    dst = _s(response.get("keyId")) or _s(params.get("destinationKeyId"))
    arns = [a for a in (_resource_arn(r) for r in resources if isinstance(r, dict)) if a and is_key_arn(a)]

    def match(ref: str | None) -> str | None:
        if not ref:
            return None
        if is_key_arn(ref):
            return ref
        found = [a for a in arns if a.endswith("/" + ref)]
        return found[0] if len(found) == 1 else None

    dst_arn, src_arn = match(dst), match(src)
    rest = [a for a in arns if a not in (dst_arn, src_arn)]
    if dst_arn and not src_arn and len(rest) == 1:
        src_arn = rest[0]
    return src_arn or src, dst_arn or dst


def _bucket(params: dict[str, Any], resources: list[Any], context: dict[str, Any]) -> str | None:
    bucket = _s(params.get("bucketName"))
    if bucket:
        return bucket
    for res in resources:
        if isinstance(res, dict) and res.get("type") == "AWS::S3::Bucket":
            bucket = arns.bucket_of(_resource_arn(res))
            if bucket:
                return bucket
    return arns.bucket_of(_s(context.get("aws:s3:arn")))


# String columns copied from top-level record fields: (column, CloudTrail field).
_TOP_STRINGS: tuple[tuple[str, str], ...] = (
    ("event_id", "eventID"),
    ("event_time", "eventTime"),
    ("event_version", "eventVersion"),
    ("event_source", "eventSource"),
    ("event_name", "eventName"),
    ("event_type", "eventType"),
    ("event_category", "eventCategory"),
    ("aws_region", "awsRegion"),
    ("source_ip", "sourceIPAddress"),
    ("user_agent", "userAgent"),
    ("error_code", "errorCode"),
    ("error_message", "errorMessage"),
    ("recipient_account", "recipientAccountId"),
    ("shared_event_id", "sharedEventID"),
    ("request_id", "requestID"),
    ("vpc_endpoint_id", "vpcEndpointId"),
)


def normalize_columns(record: dict[str, Any]) -> dict[str, Any]:
    """The columns of ``events`` for one record (every name of :data:`VALUE_COLUMNS`; ``raw`` excluded).

    Strings stay strings, ``read_only``/``management_event`` are bool or None, ``encryption_context``
    is the context object (a dict) or None, ``event_time`` is CloudTrail's text (cast by the loader).
    This is the hot path of ingest: one pass, few calls.
    """
    get = record.get
    row: dict[str, Any] = {}
    for col, key in _TOP_STRINGS:
        v = get(key)
        row[col] = v if (v.__class__ is str and v) else None
    code = get("errorCode")
    if code.__class__ is int:  # a number is still an error: never NULL (that would read as a success)
        row["error_code"] = str(code)
    ui = _d(get("userIdentity"))
    params = _d(get("requestParameters"))
    resources = get("resources")
    if not isinstance(resources, list):
        resources = []
    ctx_value = params.get("encryptionContext")
    context = _d(ctx_value)
    (
        row["caller_arn"],
        row["caller_type"],
        row["caller_account"],
        row["caller_principal_id"],
        row["caller_role_arn"],
        row["caller_session_name"],
        row["caller_user_name"],
        row["invoked_by"],
    ) = _caller(ui)
    row["key_arn"], row["key_id_given"], row["key_alias"], row["key_account"] = _key(
        params, _d(get("responseElements")), resources
    )
    row["reencrypt_source_key"] = row["reencrypt_destination_key"] = None
    if row["event_name"] == "ReEncrypt" and row["event_source"] == "kms.amazonaws.com":
        src, dst = _reencrypt_keys(params, _d(get("responseElements")), resources)
        row["reencrypt_source_key"], row["reencrypt_destination_key"] = src, dst
        if dst and is_key_arn(dst):  # key_arn is the key named by key_id_given (the destination)
            row["key_arn"], row["key_account"] = dst, arn_account(dst)
    row["bucket"] = _bucket(params, resources, context)
    row["read_only"] = _b(get("readOnly"))
    row["management_event"] = _b(get("managementEvent"))
    row["encryption_context"] = context if isinstance(ctx_value, dict) else None
    return row


def normalize_values(record: dict[str, Any]) -> tuple[Any, ...]:
    """:func:`normalize_columns` as a tuple in :data:`VALUE_COLUMNS` order."""
    row = normalize_columns(record)
    return tuple(row[c] for c in VALUE_COLUMNS)


def parse_event_time(value: str | None) -> dt.datetime | None:
    """CloudTrail's ``2026-11-28T12:00:00Z`` (any format ``diag.times.parse_time`` reads) as naive UTC."""
    return parse_time(value) if value else None


def normalize_record(record: dict[str, Any]) -> dict[str, Any]:
    """The ``events`` columns of one record with Python types.

    ``event_time`` is a naive UTC datetime, ``read_only``/``management_event`` bool or None,
    ``encryption_context`` and ``raw`` JSON text; every other column a string or None.
    """
    row = normalize_columns(record)
    out: dict[str, Any] = {c: row[c] for c in VALUE_COLUMNS}
    out["event_time"] = parse_event_time(out["event_time"])
    ctx = out["encryption_context"]
    out["encryption_context"] = None if ctx is None else _dumps(ctx)
    out["raw"] = _dumps(record)
    return out


def _dumps(value: Any) -> str:
    """JSON text; integers beyond 64 bits (possible from Python callers) fall back to stdlib json."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        import json

        return json.dumps(value, ensure_ascii=False, default=str)
