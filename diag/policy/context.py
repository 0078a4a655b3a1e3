"""The request context of a CloudTrail record: the condition keys AWS would have evaluated.

``context_from_event(record)`` derives the global and KMS condition keys from the record's fields;
``request_from_event(record)`` builds the engine's ``Request`` (caller, ``service:EventName``, key ARN,
owning account, context). Records are attacker-controlled: any field may be missing, null or of the wrong
type, and these functions then leave the key out instead of failing.

Keys and where they come from:

- ``aws:PrincipalArn``: for an assumed-role session the *role* ARN (``sessionContext.sessionIssuer.arn``,
  with its path), as AWS does; otherwise ``userIdentity.arn``.
- ``aws:PrincipalAccount`` / ``kms:CallerAccount``: ``userIdentity.accountId``.
- ``aws:PrincipalType``: Account, User, FederatedUser, AssumedRole (from ``userIdentity.type``).
- ``aws:userid``: ``userIdentity.principalId``; ``aws:username``: ``userIdentity.userName`` for IAM users.
- ``aws:SourceIp``: ``sourceIPAddress`` when it is an IP address (not ``s3.amazonaws.com`` or
  ``AWS Internal``); ``aws:SourceVpce``: ``vpcEndpointId``.
- ``aws:ViaAWSService``: "true" when an AWS service made the call for the caller (``userIdentity.invokedBy``
  or a service name in ``sourceIPAddress``); ``aws:CalledVia`` (+First/Last) then holds that service.
  (AWS fills ``aws:CalledVia`` only for some services; here it is filled whenever the record names one.)
- ``kms:ViaService``: the invoking service's regional endpoint, e.g. ``s3.amazonaws.com`` →
  ``s3.us-east-1.amazonaws.com`` (region of the record).
- ``kms:EncryptionContext:<key>`` and ``kms:EncryptionContextKeys``: ``requestParameters.encryptionContext``.
- ``kms:GrantIsForAWSResource``: "true" for CreateGrant, ListGrants and RevokeGrant made by an AWS service
  for the caller (absent otherwise, so a condition requiring it does not hold on a direct call).
- ``kms:EncryptionAlgorithm``, ``kms:GrantOperations``, ``kms:GranteePrincipal`` when the request has them;
  ``kms:GrantConstraintType`` from a CreateGrant's ``constraints``; ``kms:RequestAlias``: the alias name when
  the request named the key by alias name or alias ARN (the KMS developer guide: either satisfies it).
- ``s3:x-amz-server-side-encryption`` and ``s3:x-amz-server-side-encryption-aws-kms-key-id`` from an S3
  request's headers as CloudTrail logs them.
- ``aws:PrincipalServiceName`` / ``aws:PrincipalServiceNamesList``: the service of an ``AWSService`` caller.
- ``aws:CurrentTime`` / ``aws:EpochTime``: ``eventTime``; ``aws:RequestedRegion``: ``awsRegion``.
- ``aws:SecureTransport``: "true" for KMS (HTTPS only) or when ``tlsDetails`` is present.
- ``aws:MultiFactorAuthPresent``, ``aws:TokenIssueTime``, ``aws:SourceIdentity`` from ``sessionContext``.
- ``aws:PrincipalIsAWSService``: "true" for ``AWSService`` callers; ``aws:ResourceAccount``.

Not derivable from the record alone: ``aws:PrincipalOrgID``, ``aws:PrincipalOrgPaths``, ``aws:PrincipalTag/*``,
``aws:ResourceTag/*``, ``kms:ResourceAliases``... ``diag.diagnosis.request_context`` fills them from the
collected policies and the trail; a key it cannot determine gets the value ``UNDETERMINED`` (never "absent"):
a condition on it is then neither true nor false (``diag.policy.undetermined`` decides both ways).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from typing import Any

from diag import arn as arns
from diag.policy.model import Request

_KEY_ID_RE = re.compile(r"^(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")

# The value of a condition key that kmsdiag cannot determine (a request never carries a NUL character).
# The suffix is the evaluation mode: "deny" resolves every condition on such a key against the request
# (an Allow statement does not apply, a Deny does), "allow" in its favour. See diag.policy.undetermined.
UNDETERMINED = "\x00undetermined:deny"
UNDETERMINED_ALLOW = "\x00undetermined:allow"
UNDETERMINED_PREFIX = "\x00undetermined:"


def is_undetermined(value: object) -> bool:
    """Whether a context value (a string or a list/tuple of strings) is the undetermined marker."""
    if isinstance(value, str):
        return value.startswith(UNDETERMINED_PREFIX)
    if isinstance(value, list | tuple) and len(value) == 1 and isinstance(value[0], str):
        return value[0].startswith(UNDETERMINED_PREFIX)
    return False


def undetermined_mode(value: object) -> str | None:
    """``deny`` or ``allow`` for the undetermined marker (a string or a one-element list/tuple), else None."""
    if not is_undetermined(value):
        return None
    marker = value if isinstance(value, str) else value[0]  # type: ignore[index]
    return str(marker)[len(UNDETERMINED_PREFIX) :]


_PRINCIPAL_TYPES = {
    "Root": "Account",
    "IAMUser": "User",
    "FederatedUser": "FederatedUser",
    "AssumedRole": "AssumedRole",
    "AWSAccount": "Account",
}


def _d(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _s(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def scalar_text(v: object) -> str | None:
    """A JSON scalar as condition text (``true``/``false`` for a boolean, a number as written by ``str``);
    None for anything else (null, an object, a list)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if isinstance(v, int | float):
        return str(v)
    return None


def _is_ip(v: str) -> bool:
    try:
        ipaddress.ip_address(v)
    except ValueError:
        return False
    return True


def _invoking_service(record: dict[str, Any]) -> str | None:
    ui = _d(record.get("userIdentity"))
    inv = _s(ui.get("invokedBy")) or _s(record.get("invokedBy"))
    if inv and inv.endswith(".amazonaws.com") and " " not in inv:
        return inv
    src = _s(record.get("sourceIPAddress"))
    if src and src.endswith(".amazonaws.com") and " " not in src and ui.get("type") != "AWSService":
        return src
    return None


def via_service(invoked_by: str, region: str | None) -> str:
    """``s3.amazonaws.com`` → ``s3.<region>.amazonaws.com`` (the value of ``kms:ViaService``)."""
    name = invoked_by[: -len(".amazonaws.com")] if invoked_by.endswith(".amazonaws.com") else invoked_by
    return f"{name}.{region}.amazonaws.com" if region else invoked_by


_GRANT_CALLS = frozenset({"CreateGrant", "ListGrants", "RevokeGrant"})


def context_from_event(record: dict[str, Any]) -> dict[str, str | list[str]]:
    """The condition keys of a raw CloudTrail record (see module docstring). Never raises on bad input."""
    if not isinstance(record, dict):
        return {}
    ctx: dict[str, str | list[str]] = {}
    ui = _d(record.get("userIdentity"))
    sc = _d(ui.get("sessionContext"))
    utype = _s(ui.get("type"))
    region = _s(record.get("awsRegion"))
    _principal_keys(ctx, ui, _d(sc.get("sessionIssuer")), utype)
    _network_keys(ctx, record, utype, region)
    params = _d(record.get("requestParameters"))
    _kms_request_keys(ctx, params)
    _request_extras(record, params, ui, ctx)
    _time_and_transport_keys(ctx, record, region)
    _session_keys(ctx, sc, _d(sc.get("attributes")))
    res_account = _resource(record, arns.DEFAULT_PARTITION)[1]  # only its account is read
    if res_account:
        ctx["aws:ResourceAccount"] = res_account
    return ctx


def _principal_keys(ctx: dict[str, Any], ui: dict[str, Any], issuer: dict[str, Any], utype: str | None) -> None:
    arn = _s(ui.get("arn"))
    if utype == "AssumedRole" and _s(issuer.get("arn")):
        ctx["aws:PrincipalArn"] = issuer["arn"]
    elif arn:
        ctx["aws:PrincipalArn"] = arn
    account = _s(ui.get("accountId"))
    if account:
        ctx["aws:PrincipalAccount"] = account
        ctx["kms:CallerAccount"] = account
    if utype in _PRINCIPAL_TYPES:
        ctx["aws:PrincipalType"] = _PRINCIPAL_TYPES[utype]
    if utype == "AWSService":
        ctx["aws:PrincipalIsAWSService"] = "true"
    elif utype:
        ctx["aws:PrincipalIsAWSService"] = "false"
    pid = _s(ui.get("principalId"))
    if pid:
        ctx["aws:userid"] = pid
    if utype == "IAMUser" and _s(ui.get("userName")):
        ctx["aws:username"] = ui["userName"]


def _network_keys(ctx: dict[str, Any], record: dict[str, Any], utype: str | None, region: str | None) -> None:
    """Source IP / VPC endpoint, and the service that called for the caller (``aws:CalledVia``...)."""
    src = _s(record.get("sourceIPAddress"))
    if src and _is_ip(src):
        ctx["aws:SourceIp"] = src
    vpce = _s(record.get("vpcEndpointId"))
    if vpce:
        ctx["aws:SourceVpce"] = vpce
    service = _invoking_service(record)
    if service:
        ctx["aws:ViaAWSService"] = "true"
        ctx["aws:CalledVia"] = [service]
        ctx["aws:CalledViaFirst"] = service
        ctx["aws:CalledViaLast"] = service
        ctx["kms:ViaService"] = via_service(service, region)
        if _s(record.get("eventName")) in _GRANT_CALLS:
            ctx["kms:GrantIsForAWSResource"] = "true"  # an integrated service managed the grant for the caller
    elif utype:
        ctx["aws:ViaAWSService"] = "false"


def _kms_request_keys(ctx: dict[str, Any], params: dict[str, Any]) -> None:
    """Encryption context, algorithm, grant operations and grantee of a KMS request."""
    ec = params.get("encryptionContext")
    if isinstance(ec, dict):
        keys = []
        for k, v in ec.items():
            sv = scalar_text(v)
            if isinstance(k, str) and sv is not None:
                ctx[f"kms:EncryptionContext:{k}"] = sv
                keys.append(k)
        if keys:
            ctx["kms:EncryptionContextKeys"] = keys
    alg = _s(params.get("encryptionAlgorithm"))
    if alg:
        ctx["kms:EncryptionAlgorithm"] = alg
    ops = params.get("operations")
    if isinstance(ops, list) and all(isinstance(o, str) for o in ops):
        ctx["kms:GrantOperations"] = list(ops)
    grantee = _s(params.get("granteePrincipal"))
    if grantee:
        ctx["kms:GranteePrincipal"] = grantee


def _time_and_transport_keys(ctx: dict[str, Any], record: dict[str, Any], region: str | None) -> None:
    when = _s(record.get("eventTime"))
    if when:
        ctx["aws:CurrentTime"] = when
        try:
            t = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
            if t.tzinfo is None:
                t = t.replace(tzinfo=dt.UTC)
            ctx["aws:EpochTime"] = str(int(t.timestamp()))
        except ValueError:
            pass
    if region:
        ctx["aws:RequestedRegion"] = region
    source = _s(record.get("eventSource"))
    tls = _d(record.get("tlsDetails"))
    if source == "kms.amazonaws.com" or _s(tls.get("tlsVersion")):
        ctx["aws:SecureTransport"] = "true"


def _session_keys(ctx: dict[str, Any], sc: dict[str, Any], attrs: dict[str, Any]) -> None:
    mfa = attrs.get("mfaAuthenticated")
    if isinstance(mfa, str | bool):
        ctx["aws:MultiFactorAuthPresent"] = str(mfa).lower()
    issued = _s(attrs.get("creationDate"))
    if issued:
        ctx["aws:TokenIssueTime"] = issued
    sid = _s(sc.get("sourceIdentity"))
    if sid:
        ctx["aws:SourceIdentity"] = sid


def _alias_name(ref: str | None) -> str | None:
    """``alias/x`` or ``arn:aws:kms:r:a:alias/x`` → ``alias/x`` (the value of ``kms:RequestAlias``)."""
    if not ref:
        return None
    if ref.startswith("alias/"):
        return ref
    return arns.resource_of(ref) if arns.is_alias_arn(ref) else None


def _request_extras(
    record: dict[str, Any], params: dict[str, Any], ui: dict[str, Any], ctx: dict[str, str | list[str]]
) -> None:
    """Keys read from request parameters and the caller's type: kms:RequestAlias, kms:GrantConstraintType,
    S3's SSE-KMS key header, aws:PrincipalServiceName (AWS service callers)."""
    if _s(record.get("eventSource")) == "kms.amazonaws.com":
        alias = _alias_name(_s(params.get("keyId")))
        if alias:
            ctx["kms:RequestAlias"] = alias
    constraints = _d(params.get("constraints"))
    kinds = [k for k in ("encryptionContextEquals", "encryptionContextSubset") if k in constraints]
    if kinds:
        ctx["kms:GrantConstraintType"] = kinds[0][0].upper() + kinds[0][1:]
    sse_key = _s(params.get("x-amz-server-side-encryption-aws-kms-key-id")) or _s(params.get("SSEKMSKeyId"))
    if sse_key:
        ctx["s3:x-amz-server-side-encryption-aws-kms-key-id"] = sse_key
    sse = _s(params.get("x-amz-server-side-encryption"))
    if sse:
        ctx["s3:x-amz-server-side-encryption"] = sse
    if ui.get("type") == "AWSService":
        name = _s(ui.get("invokedBy"))
        if name:
            ctx["aws:PrincipalServiceName"] = name
            ctx["aws:PrincipalServiceNamesList"] = [name]


def _resource(record: dict[str, Any], partition: str) -> tuple[str, str | None]:
    """(resource ARN, owning account) of the record: the KMS key, or an S3 object/bucket, else ``*``. An
    ARN the record does not spell out is built in ``partition`` (the call's)."""
    region = _s(record.get("awsRegion"))
    recipient = _s(record.get("recipientAccountId"))
    res_list = record.get("resources")
    kms_arn: str | None = None
    res_acct: str | None = None
    if isinstance(res_list, list):
        for r in res_list:
            r = _d(r)
            rarn = _s(r.get("ARN"))
            if arns.is_key_arn(rarn):
                kms_arn = rarn
                res_acct = _s(r.get("accountId"))
                break
    params = _d(record.get("requestParameters"))
    source = _s(record.get("eventSource")) or ""
    if kms_arn is None and source == "kms.amazonaws.com":
        key = _s(params.get("keyId")) or _s(params.get("sourceKeyId")) or _s(params.get("destinationKeyId"))
        if key and key.startswith("arn:"):
            kms_arn = key
        elif key and region and (recipient or res_acct):
            owner = str(recipient or res_acct)
            if key.startswith("alias/"):
                kms_arn = arns.alias_arn(key, region, owner, partition)
            else:
                kms_arn = arns.key_arn(key, region, owner, partition)
    if kms_arn:
        acct = arns.account_of(kms_arn)
        return kms_arn, (acct if acct and arns.ACCOUNT_RE.match(acct) else None) or res_acct or recipient
    if source == "s3.amazonaws.com":
        bucket = _s(params.get("bucketName"))
        key = _s(params.get("key"))
        if bucket:
            return (arns.object_arn(bucket, key, partition) if key else arns.bucket_arn(bucket, partition)), recipient
    return "*", recipient


def request_from_event(record: dict[str, Any]) -> Request:
    """The engine's ``Request`` for a CloudTrail record (caller, action, key ARN, key's account, context)."""
    if not isinstance(record, dict):
        record = {}
    ui = _d(record.get("userIdentity"))
    utype = _s(ui.get("type"))
    principal = _s(ui.get("arn"))
    if utype == "AWSService":
        principal = _s(ui.get("invokedBy")) or principal
    partition = arns.call_partition(principal, _s(record.get("awsRegion")))
    if not principal:
        acct = _s(ui.get("accountId"))
        principal = arns.root_arn(acct, partition) if acct and arns.ACCOUNT_RE.match(acct) else "anonymous"
    source = _s(record.get("eventSource")) or "unknown.amazonaws.com"
    service = source.split(".", 1)[0]
    name = _s(record.get("eventName")) or "Unknown"
    resource, account = _resource(record, partition)
    return Request(
        principal=principal,
        action=f"{service}:{name}",
        resource=resource,
        resource_account=account,
        context=context_from_event(record),
    )
