"""Policy history: successful policy-changing CloudTrail events (``events``) → ``policy_changes``.

Each change records what it set (the new document, grant, state or attachment), on which resource, and
who made it: ``userIdentity.arn``, ``invokedBy`` (e.g. ``cloudformation.amazonaws.com``) and the user agent.
Failed calls (with an ``errorCode``) changed nothing and are skipped. ``build_policy_changes`` is
incremental: events already turned into changes are not read again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from diag import arn as arns
from diag.change_events import IAM_CHANGES, KMS_CHANGES, ORG_CHANGES, REPLAYED, S3_CHANGES
from diag.collect.awsjson import dumps, policy_document
from diag.store.bulk import insert_columns
from diag.times import parse_time

if TYPE_CHECKING:
    import duckdb

# The events replayed into policy_changes, per service (one list for the whole tool: diag.change_events).
KMS_EVENTS = KMS_CHANGES
IAM_EVENTS = IAM_CHANGES
S3_EVENTS = S3_CHANGES
ORG_EVENTS = ORG_CHANGES
SOURCES = REPLAYED
ALL_EVENT_NAMES = tuple(sorted({n for names in SOURCES.values() for n in names}))


@dataclass
class Change:
    """One row of ``policy_changes`` being built."""

    resource_type: str
    resource_arn: str | None
    resource_name: str | None = None
    policy_name: str | None = None
    document: Any = None
    details: dict[str, Any] = field(default_factory=dict)
    summary: str = ""


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _partition(record: dict[str, Any]) -> str:
    """The partition of the record: the caller's ARN says it; else the region's."""
    ident = _obj(record.get("userIdentity"))
    return arns.call_partition(_str(ident.get("arn")), _str(record.get("awsRegion")))


def _kms_key_arn(record: dict[str, Any], req: dict[str, Any], resp: dict[str, Any], account: str | None) -> str | None:
    meta = _obj(resp.get("keyMetadata"))
    if meta.get("arn"):
        return str(meta["arn"])
    for res in record.get("resources") or []:
        arn = str((res or {}).get("ARN") or (res or {}).get("arn") or "")
        if arns.is_key_arn(arn):
            return arn
    key_id = str(req.get("keyId") or resp.get("keyId") or "")
    if arns.is_key_arn(key_id):
        return key_id
    region = record.get("awsRegion")
    if key_id and region and account and not key_id.startswith(("alias/", "arn:")):
        return arns.key_arn(key_id, region, account, _partition(record))
    return None


def _kms(name: str, record: dict[str, Any], req: dict[str, Any], resp: dict[str, Any], account: str | None) -> Change:
    if name in ("CreateAlias", "UpdateAlias", "DeleteAlias"):
        alias = _str(req.get("aliasName"))
        region = record.get("awsRegion")
        arn = arns.alias_arn(alias, region, account, _partition(record)) if alias and region and account else None
        ch = Change("kms_alias", arn, resource_name=alias)
        target = _str(req.get("targetKeyId"))
        if target and not target.startswith("arn:") and region and account:
            target = arns.key_arn(target, region, account, _partition(record))
        ch.details = {"target_key_arn": target} if name != "DeleteAlias" else {}
        ch.summary = f"{name[:6].lower()}d alias {alias}" + (f" -> {target}" if target else "")
        return ch
    key_arn = _kms_key_arn(record, req, resp, account)
    ch = Change("kms_key", key_arn)
    if name == "CreateKey":
        meta = resp.get("keyMetadata") or {}
        ch.document = policy_document(req.get("policy")) if req.get("policy") else None
        ch.details = {
            "key_id": meta.get("keyId"),
            "key_state": meta.get("keyState") or ("PendingImport" if req.get("origin") == "EXTERNAL" else "Enabled"),
            "key_manager": meta.get("keyManager") or "CUSTOMER",
            "multi_region": meta.get("multiRegion", req.get("multiRegion")),
            "description": meta.get("description", req.get("description")),
            "policy_logged": "policy" in req,
        }
        ch.summary = "created the key" + (" with a key policy" if ch.document else " (default key policy, not logged)")
    elif name == "PutKeyPolicy":
        ch.policy_name = _str(req.get("policyName")) or "default"
        ch.document = policy_document(req.get("policy"))
        ch.summary = "replaced the key policy"
    elif name == "CreateGrant":
        ch.policy_name = _str(resp.get("grantId"))
        ch.details = {
            "grant_id": resp.get("grantId"),
            "grantee_principal": req.get("granteePrincipal"),
            "retiring_principal": req.get("retiringPrincipal"),
            "operations": req.get("operations") or [],
            "constraints": req.get("constraints"),
            "name": req.get("name"),
        }
        ch.summary = f"created grant {resp.get('grantId') or '?'} for {req.get('granteePrincipal') or '?'}"
    elif name in ("RetireGrant", "RevokeGrant"):
        ch.policy_name = _str(req.get("grantId"))
        ch.details = {"grant_id": req.get("grantId")}
        ch.summary = f"{'retired' if name == 'RetireGrant' else 'revoked'} grant {req.get('grantId') or '(by token)'}"
    else:
        state = {
            "DisableKey": "Disabled",
            "EnableKey": "Enabled",
            "ScheduleKeyDeletion": "PendingDeletion",
            "CancelKeyDeletion": "Disabled",
        }[name]
        ch.details = {"key_state": resp.get("keyState") or state}
        if name == "ScheduleKeyDeletion":
            ch.details["deletion_date"] = resp.get("deletionDate")
            ch.details["pending_window_in_days"] = req.get("pendingWindowInDays")
        ch.summary = {
            "DisableKey": "disabled the key",
            "EnableKey": "enabled the key",
            "ScheduleKeyDeletion": "scheduled the key for deletion",
            "CancelKeyDeletion": "cancelled the key's deletion (the key is now Disabled)",
        }[name]
    return ch


def _iam(name: str, record: dict[str, Any], req: dict[str, Any], resp: dict[str, Any], account: str | None) -> Change:
    acct = account or "UNKNOWN"
    partition = _partition(record)
    if name in ("CreatePolicy", "CreatePolicyVersion", "SetDefaultPolicyVersion", "DeletePolicy"):
        policy = _obj(resp.get("policy"))
        arn = _str(req.get("policyArn")) or _str(policy.get("arn"))
        if not arn and req.get("policyName"):
            arn = arns.iam_arn(acct, f"policy{req.get('path') or '/'}{req['policyName']}", partition)
        ch = Change("iam_policy", arn, resource_name=_str(req.get("policyName")) or arns.name_of(arn) or "")
        version = _obj(resp.get("policyVersion"))
        if name == "CreatePolicy":
            ch.document = policy_document(req.get("policyDocument"))
            ch.details = {"version_id": policy.get("defaultVersionId") or "v1", "set_as_default": True}
            ch.summary = "created the managed policy"
        elif name == "CreatePolicyVersion":
            ch.document = policy_document(req.get("policyDocument"))
            default = bool(req.get("setAsDefault")) or bool(version.get("isDefaultVersion"))
            ch.details = {"version_id": version.get("versionId"), "set_as_default": default}
            ch.summary = f"created version {version.get('versionId') or '?'}" + (" as the default" if default else "")
        elif name == "SetDefaultPolicyVersion":
            ch.details = {"version_id": req.get("versionId"), "set_as_default": True}
            ch.summary = f"made version {req.get('versionId')} the default"
        else:
            ch.summary = "deleted the managed policy"
        return ch
    kind = "role" if "Role" in name else "user" if "User" in name else "group"
    pname = _str(req.get(f"{kind}Name"))
    arn = arns.iam_arn(acct, f"{kind}/{pname}", partition) if pname else None
    if name == "CreateRole" and isinstance(resp.get("role"), dict) and resp["role"].get("arn"):
        arn = str(resp["role"]["arn"])
    ch = Change(f"iam_{kind}", arn, resource_name=pname)
    if name.startswith("Put") and name.endswith("Policy"):
        ch.policy_name = _str(req.get("policyName"))
        ch.document = policy_document(req.get("policyDocument"))
        ch.summary = f"put inline policy {ch.policy_name} on {kind} {pname}"
    elif name.startswith("Delete") and name.endswith("Policy"):
        ch.policy_name = _str(req.get("policyName"))
        ch.summary = f"deleted inline policy {ch.policy_name} of {kind} {pname}"
    elif name.startswith(("Attach", "Detach")):
        ch.policy_name = _str(req.get("policyArn"))
        ch.summary = (
            f"{name[:6].lower()}ed {ch.policy_name} {'to' if name.startswith('Attach') else 'from'} {kind} {pname}"
        )
    elif name.endswith("PermissionsBoundary"):
        ch.policy_name = _str(req.get("permissionsBoundary"))
        ch.summary = f"{'set' if name.startswith('Put') else 'removed'} the permissions boundary of {kind} {pname}"
    elif name == "CreateRole":
        role = _obj(resp.get("role"))
        ch.document = policy_document(req.get("assumeRolePolicyDocument"))
        ch.details = {
            "unique_id": role.get("roleId"),
            "path": req.get("path") or role.get("path"),
            "permissions_boundary_arn": req.get("permissionsBoundary"),
            "create_date": role.get("createDate"),
        }
        ch.summary = f"created role {pname}"
    elif name == "DeleteRole":
        ch.summary = f"deleted role {pname}"
    return ch


def _s3(name: str, record: dict[str, Any], req: dict[str, Any], resp: dict[str, Any], account: str | None) -> Change:
    bucket = _str(req.get("bucketName"))
    partition = _partition(record)
    ch = Change("s3_bucket", arns.bucket_arn(bucket, partition) if bucket else None, resource_name=bucket)
    if name == "PutBucketPolicy":
        ch.document = policy_document(req.get("bucketPolicy"))
        ch.summary = f"replaced the bucket policy of {bucket}"
    else:
        ch.summary = f"deleted the bucket policy of {bucket}"
    return ch


def _org(name: str, record: dict[str, Any], req: dict[str, Any], resp: dict[str, Any], account: str | None) -> Change:
    policy = _obj(resp.get("policy"))
    summary = _obj(policy.get("policySummary"))
    policy_id = _str(req.get("policyId")) or _str(summary.get("id"))
    ch = Change("org_policy", policy_id, resource_name=_str(summary.get("name")) or _str(req.get("name")))
    if name in ("CreatePolicy", "UpdatePolicy"):
        content = req.get("content") if req.get("content") is not None else policy.get("content")
        ch.document = policy_document(content) if content is not None else None
        ch.details = {"policy_type": summary.get("type") or req.get("type")}
        ch.summary = f"{'created' if name == 'CreatePolicy' else 'updated'} organization policy {policy_id}"
    elif name in ("AttachPolicy", "DetachPolicy"):
        ch.policy_name = _str(req.get("targetId"))
        ch.details = {"target_id": req.get("targetId")}
        ch.summary = f"{name[:6].lower()}ed organization policy {policy_id} {'to' if name == 'AttachPolicy' else 'from'} {req.get('targetId')}"
    else:
        ch.summary = f"deleted organization policy {policy_id}"
    return ch


HANDLERS: dict[str, Callable[[str, dict[str, Any], dict[str, Any], dict[str, Any], str | None], Change]] = {
    "kms.amazonaws.com": _kms,
    "iam.amazonaws.com": _iam,
    "s3.amazonaws.com": _s3,
    "organizations.amazonaws.com": _org,
}


def transform_event(record: dict[str, Any]) -> dict[str, Any] | None:
    """A ``policy_changes`` row from one CloudTrail record, or None (not a successful policy change)."""
    if not isinstance(record, dict) or record.get("errorCode"):
        return None
    source = str(record.get("eventSource") or "")
    name = str(record.get("eventName") or "")
    if name not in SOURCES.get(source, ()):
        return None
    event_time = parse_time(record.get("eventTime"))
    if event_time is None or not record.get("eventID"):
        return None
    ident = _obj(record.get("userIdentity"))
    req = _obj(record.get("requestParameters"))
    resp = _obj(record.get("responseElements"))
    account = _str(record.get("recipientAccountId")) or _str(ident.get("accountId"))
    ch = HANDLERS[source](name, record, req, resp, account)
    actor = _str(ident.get("arn"))
    if actor is None and isinstance(ident.get("sessionContext"), dict):
        actor = _str((ident["sessionContext"].get("sessionIssuer") or {}).get("arn"))
    invoked_by = _str(ident.get("invokedBy"))
    who = actor or _str(ident.get("type")) or "unknown"
    summary = f"{who} {ch.summary}" + (f" via {invoked_by}" if invoked_by else "")
    return {
        "event_id": str(record["eventID"]),
        "event_time": event_time,
        "event_source": source,
        "event_name": name,
        "account": account,
        "region": _str(record.get("awsRegion")),
        "resource_type": ch.resource_type,
        "resource_arn": ch.resource_arn,
        "resource_name": ch.resource_name,
        "policy_name": ch.policy_name,
        "document": dumps(ch.document) if ch.document is not None else None,
        "details": dumps(ch.details) if ch.details else None,
        "actor_arn": actor,
        "actor_type": _str(ident.get("type")),
        "invoked_by": invoked_by,
        "user_agent": _str(record.get("userAgent")),
        "source_ip": _str(record.get("sourceIPAddress")),
        "summary": summary[:2000],
    }


def build_policy_changes(con: duckdb.DuckDBPyConnection) -> int:
    """Turn new successful policy-change events into ``policy_changes`` rows; return how many were added.
    The other state derived from events after an ingest, the per-key usage summary, is brought up to date
    too (``diag.store.key_usage``)."""
    import orjson

    from diag.store.key_usage import refresh_key_usage

    refresh_key_usage(con)

    marks = ", ".join("?" * len(ALL_EVENT_NAMES))
    cur = con.execute(
        f"SELECT e.raw FROM events e WHERE e.event_name IN ({marks}) AND e.error_code IS NULL"
        " AND e.event_source IN ('kms.amazonaws.com', 'iam.amazonaws.com', 's3.amazonaws.com', 'organizations.amazonaws.com')"
        " AND NOT EXISTS (SELECT 1 FROM policy_changes p WHERE p.event_id = e.event_id)",
        list(ALL_EVENT_NAMES),
    )
    rows: list[dict[str, Any]] = []
    for (raw,) in cur.fetchall():
        try:
            record = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
        except orjson.JSONDecodeError:
            continue
        row = transform_event(record)
        if row is not None:
            rows.append(row)
    if not rows:
        return 0
    cols = list(rows[0])
    return insert_columns(
        con, "policy_changes", cols, [[r[c] for c in cols] for r in rows], tail="ON CONFLICT DO NOTHING"
    )


def details_of(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    try:
        out = json.loads(value) if value else {}
    except ValueError:
        return {}
    return _obj(out)
