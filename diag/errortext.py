"""Parse the AccessDenied text an application printed, in every form AWS and the SDKs produce.

Forms handled (AWS IAM "access denied error message" formats, KMS and SDK wrappers):

- ``User: ARN is not authorized to perform: ACTION on resource: RES because no identity-based policy
  allows the ACTION action`` (also resource-based, service control, resource control, permissions
  boundary, session, VPC endpoint policies);
- ``... with an explicit deny in a(n) identity-based / resource-based / service control / resource control
  policy / permissions boundary / session policy / VPC endpoint policy[: POLICY-ARN]``;
- KMS's ciphertext form ``... on the resource associated with this ciphertext because the resource does not
  exist in this Region, no resource-based policies allow access, or a resource-based policy explicitly
  denies access`` and the older ``The ciphertext refers to a customer master key that does not exist ...``;
- no ``because`` clause at all;
- SDK wrappers: boto3 ``An error occurred (AccessDeniedException) when calling the Decrypt operation: ...``
  and Java/.NET ``(Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException; Request ID: ...)``,
  whose request ID lets ``explain`` find the CloudTrail event;
- a caller its author masked (``User: [default] is not authorized to perform: kms:GenerateDataKey …``): the
  action is read, no caller; a service that called KMS for the caller (SNS's ``KMSAccessDenied`` on
  Publish) wrapping KMS's Java suffix: KMS's own error code wins; S3's ``status code: 403, request id: …,
  host id: …``; ``InvalidKeyUsageException: ARN key usage is … not valid for Encrypt`` (key, operation);
- key-state errors: ``Key 'ARN' does not exist`` / ``Alias ... is not found`` (NotFoundException),
  ``ARN is disabled`` (DisabledException), ``ARN is pending deletion`` (KMSInvalidStateException).

The claimed layer is a hint only: for cross-account calls AWS's message can name the wrong layer, so the
diagnosis always evaluates the collected policies and never concludes from the text alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ARN = r"arn:[\w-]+:[^\s,;'\"()]+"
_PRINCIPAL_RE = re.compile(
    r"User:\s*(?P<principal>" + _ARN + r"|anonymous)\s+is not authorized to perform:?\s*(?P<action>[\w-]+:[\w*]+)"
)
# the same sentence when the author replaced the caller's ARN ("User: [default] is not authorized …")
_ACTION_ONLY_RE = re.compile(r"\bis not authorized to perform:?\s*(?P<action>[a-z0-9-]+:[\w*]+)")
_RESOURCE_RE = re.compile(r"\bon resource:?\s*(?P<resource>" + _ARN + r"|\*)")
_CIPHERTEXT_RE = re.compile(r"on the resource associated with this ciphertext", re.I)
_OLD_CIPHERTEXT_RE = re.compile(r"ciphertext refers to a customer master key that does not exist", re.I)
_NO_ALLOW_RE = re.compile(
    r"because no (?P<kind>identity-based|resource-based|service control|resource control|session|VPC endpoint)"
    r" polic(?:y|ies) allows?|because no permissions boundary allows",
    re.I,
)
_EXPLICIT_RE = re.compile(
    r"with an explicit deny in (?:an? )?(?P<kind>identity-based policy|resource-based policy|service control policy"
    r"|resource control policy|permissions boundary|session policy|VPC endpoint policy)"
    r"(?::\s*(?P<policy>" + _ARN + r"))?",
    re.I,
)
_SDK_CODE_RE = re.compile(
    r"(?:An error occurred|A client error) \((?P<code>\w+)\)(?: occurred)? when calling the (?P<op>\w+) operation",
    re.I,
)
# Go SDK v2 (and Terraform's AWS provider since v4): "operation error KMS: Decrypt, https response error
# StatusCode: 400, RequestID: …, api error AccessDeniedException: …"
_GO2_RE = re.compile(
    r"operation error (?P<service>[\w .-]+?): (?P<op>\w+),.*?(?:RequestID: (?P<rid>[\w-]+),\s*)?"
    r"api error (?P<code>\w+):",
    re.I,
)
_JAVA_RE = re.compile(
    r"\(Service:\s*(?P<service>[^;]+);\s*Status Code:\s*(?P<status>\d+);\s*Error Code:\s*(?P<code>[\w ]+?);"
    r"\s*Request ID:\s*(?P<rid>[\w-]+)",
    re.I,
)
# Java SDK v2: "(Service: Kms, Status Code: 400, Request ID: …)"
_JAVA2_RE = re.compile(
    r"\(Service:\s*(?P<service>[^,;()]+),\s*Status Code:\s*(?P<status>\d+),\s*Request ID:\s*(?P<rid>[\w-]+)", re.I
)
# Lambda's environment-variable wrapper: "KMS Exception: AccessDeniedExceptionKMS Message: …"
_LAMBDA_ENV_RE = re.compile(
    r"Lambda was unable to decrypt the environment variables.*?KMS Exception:\s*(?P<code>[A-Za-z]+?)(?:KMS Message|$|\s)",
    re.I,
)
_XML_CODE_RE = re.compile(r"<Code>(?P<code>\w+)</Code>")
# Go SDK v1, JavaScript, .NET, Terraform (old): "AccessDeniedException: …", "Model.AccessDeniedException: …"
_CODE_PREFIX_RE = re.compile(r"(?:^|[\s.(\[])(?P<code>AccessDenied|[A-Z][A-Za-z]+Exception)(?::|\s*\()")
_REQUEST_ID_RE = re.compile(
    r"(?:Request ?ID|RequestId|request id)[:=]?\s*\"?(?:</?RequestId>)?(?P<rid>[0-9a-fA-F-]{20,}|[0-9A-Z]{16})\b", re.I
)
# An SDK's base exception class names the service, not the error: Java v2 ``KmsException``/``S3Exception``,
# ``AwsServiceException``, ``SdkClientException``, Java v1 ``AmazonServiceException``, .NET
# ``AmazonKeyManagementServiceException``. Never an error code: AWS's code comes from the message instead.
_GENERIC_SDK_EXCEPTION_RE = re.compile(
    r"^(?:Kms|S3|Sts|Iam|AwsService|SdkClient|SdkService|Sdk|AmazonService|AmazonClient|AmazonS3|Amazon"
    r"KeyManagementService|AmazonSecurityTokenService|AmazonIdentityManagementService)Exception$"
)
_XML_RID_RE = re.compile(r"<RequestId>(?P<rid>[\w-]+)</RequestId>")
_S3_ACCESS_DENIED_RE = re.compile(r"\bAccess Denied\b")
_KMS_CODES = frozenset(
    {
        "NotFoundException",
        "DisabledException",
        "KMSInvalidStateException",
        "InvalidCiphertextException",
        "IncorrectKeyException",
        "InvalidKeyUsageException",
        "KMSInternalException",
    }
)
_S3_OPS = frozenset(
    {
        "GetObject",
        "PutObject",
        "HeadObject",
        "CopyObject",
        "ListObjects",
        "ListObjectsV2",
        "ListBuckets",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
        "DeleteObject",
        "GetBucketPolicy",
        "PutBucketPolicy",
        "GetBucketEncryption",
        "GetBucketLifecycleConfiguration",
        "GetObjectTagging",
        "PutObjectTagging",
    }
)
_KMS_OPS = frozenset(
    {
        "Decrypt",
        "Encrypt",
        "ReEncrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "GenerateMac",
        "VerifyMac",
        "Sign",
        "Verify",
        "DescribeKey",
        "CreateGrant",
        "GetKeyPolicy",
        "PutKeyPolicy",
        "GetKeyRotationStatus",
        "ListGrants",
        "ScheduleKeyDeletion",
        "EnableKey",
        "DisableKey",
        "GetPublicKey",
    }
)
_KEY_USAGE_OP_RE = re.compile(r"which is not valid for (?P<op>[A-Z]\w+)")
_KMS_KEY_ARN_RE = re.compile(r"arn:aws[\w-]*:kms:[\w-]+:\d{12}:key/[\w-]+")
_NOT_FOUND_KEY_RE = re.compile(r"Key '(?P<key>" + _ARN + r"|[\w/-]+)' does not exist", re.I)
_NOT_FOUND_ALIAS_RE = re.compile(r"Alias (?P<key>" + _ARN + r"|alias/[\w/-]+) is not found", re.I)
_DISABLED_RE = re.compile(r"(?P<key>" + _ARN + r") is disabled", re.I)
_PENDING_RE = re.compile(r"(?P<key>" + _ARN + r") is pending deletion", re.I)
_STATE_RE = re.compile(r"(?P<key>" + _ARN + r") is (?:pending import|unavailable|pending replica deletion)", re.I)

_LAYER_NAMES = {
    "identity-based": "identity",
    "resource-based": "resource",
    "service control": "scp",
    "resource control": "rcp",
    "session": "session_policy",
    "vpc endpoint": "vpc_endpoint",
    "permissions boundary": "permission_boundary",
}


@dataclass(frozen=True)
class ParsedError:
    """What an error text says. ``claimed_layer``: identity, resource, scp, rcp, permission_boundary,
    session_policy, vpc_endpoint, or None; ``claimed_effect``: "explicit", "implicit" or None;
    ``resource_kind``: "arn", "ciphertext", "wildcard" or None; ``state``: not_found, disabled,
    pending_deletion, invalid_state for key-state errors."""

    text: str
    principal: str | None = None
    action: str | None = None
    resource: str | None = None
    resource_kind: str | None = None
    claimed_layer: str | None = None
    claimed_effect: str | None = None
    policy_arn: str | None = None
    error_code: str | None = None
    operation: str | None = None
    request_id: str | None = None
    service: str | None = None
    state: str | None = None
    via: str | None = None  # the service that made the call for the caller (Lambda's env-var wrapper)

    @property
    def service_prefix(self) -> str | None:
        """The IAM prefix of the service called (``kms``, ``s3``, ``sts``…), when the text tells."""
        if self.action and ":" in self.action:
            return self.action.split(":", 1)[0]
        return _service_prefix(
            {
                "service": self.service,
                "operation": self.operation,
                "error_code": self.error_code,
                "resource_kind": self.resource_kind,
            }
        )

    @property
    def recognized(self) -> bool:
        return bool(self.principal or self.state or self.resource_kind == "ciphertext" or self.error_code)

    @property
    def claim(self) -> str:
        """AWS's claim in one phrase, for evidence ("no identity-based policy allows", ...)."""
        if self.claimed_layer is None:
            return "no reason given" if self.principal else ""
        what = {
            "identity": "identity-based policy",
            "resource": "resource-based policy",
            "scp": "service control policy",
            "rcp": "resource control policy",
            "session_policy": "session policy",
            "vpc_endpoint": "VPC endpoint policy",
            "permission_boundary": "permissions boundary",
        }[self.claimed_layer]
        if self.claimed_effect == "explicit":
            return f"an explicit deny in a {what}"
        if self.claimed_layer == "resource" and self.resource_kind == "ciphertext":
            return "the key does not exist in this Region, or no key policy allows, or one denies"
        return f"no {what} allows"


def _layer(kind: str) -> str:
    k = kind.lower()
    for name, layer in _LAYER_NAMES.items():
        if k.startswith(name):
            return layer
    return k


def parse_error(text: str) -> ParsedError:
    """Parse one error text; fields that the text does not hold stay None. Never raises."""
    t = " ".join((text or "").split())
    fields: dict[str, str | None] = {}
    m = _PRINCIPAL_RE.search(t)
    if m:
        fields["principal"] = m.group("principal")
        fields["action"] = m.group("action")
    elif m := _ACTION_ONLY_RE.search(t):
        fields["action"] = m.group("action")  # a refusal, the caller not named (masked or cut)
    m = _RESOURCE_RE.search(t)
    if m:
        res = m.group("resource").rstrip(".")
        fields["resource"] = res
        fields["resource_kind"] = "wildcard" if res == "*" else "arn"
    if _CIPHERTEXT_RE.search(t) or _OLD_CIPHERTEXT_RE.search(t):
        fields["resource_kind"] = "ciphertext"
        fields["claimed_layer"] = "resource"
        fields["claimed_effect"] = None
    m = _EXPLICIT_RE.search(t)
    if m:
        fields["claimed_layer"] = _layer(m.group("kind"))
        fields["claimed_effect"] = "explicit"
        fields["policy_arn"] = m.group("policy")
    else:
        m = _NO_ALLOW_RE.search(t)
        if m:
            kind = m.group("kind") or "permissions boundary"
            fields["claimed_layer"] = _layer(kind)
            fields["claimed_effect"] = "implicit"
    _wrappers(t, fields)
    _key_state(t, fields)
    _defaults(t, fields)
    return ParsedError(text=text, **fields)


def _key_state(t: str, fields: dict[str, str | None]) -> None:
    """KMS's key-state messages: the state, the key, and the error code when no wrapper gave one."""
    for regex, state, code in (
        (_NOT_FOUND_KEY_RE, "not_found", "NotFoundException"),
        (_NOT_FOUND_ALIAS_RE, "not_found", "NotFoundException"),
        (_DISABLED_RE, "disabled", "DisabledException"),
        (_PENDING_RE, "pending_deletion", "KMSInvalidStateException"),
        (_STATE_RE, "invalid_state", "KMSInvalidStateException"),
    ):
        m = regex.search(t)
        if m:
            fields["state"] = state
            fields.setdefault("resource", m.group("key"))
            fields.setdefault("resource_kind", "arn" if m.group("key").startswith("arn:") else None)
            if not fields.get("error_code"):
                fields["error_code"] = code
            break


def _defaults(t: str, fields: dict[str, str | None]) -> None:
    """What the text implies when it does not say it: the refusal's code, the key, the action, the service."""
    if not fields.get("error_code") and (
        fields.get("principal") or (fields.get("action") and _ACTION_ONLY_RE.search(t))
    ):
        fields["error_code"] = "AccessDenied"
    usage_op = _KEY_USAGE_OP_RE.search(t)  # "… key usage is SIGN_VERIFY which is not valid for Encrypt."
    if fields.get("error_code") == "InvalidKeyUsageException" and not fields.get("operation") and usage_op:
        fields["operation"] = usage_op.group("op")
    if not fields.get("resource") and (m := _KMS_KEY_ARN_RE.search(t)):
        fields["resource"], fields["resource_kind"] = m.group(0).rstrip("."), "arn"  # "ARN key usage is …"
    if not fields.get("action") and fields.get("operation"):
        prefix = _service_prefix(fields)
        if prefix:
            fields["action"] = f"{prefix}:{fields['operation']}"
    if not fields.get("service") and (fields.get("action") or "").startswith("kms:"):
        fields["service"] = "kms"


def _wrappers(t: str, fields: dict[str, str | None]) -> None:
    """The SDK, CLI and service wrappers around AWS's message: the error code, operation, service, request ID."""
    m = _GO2_RE.search(t)
    if m:
        fields["error_code"] = m.group("code")
        fields["operation"] = m.group("op")
        fields["service"] = m.group("service").strip()
        if m.group("rid"):
            fields["request_id"] = m.group("rid")
    m = _SDK_CODE_RE.search(t)
    if m and not fields.get("error_code"):
        fields["error_code"] = m.group("code")
        fields["operation"] = m.group("op")
    m = _JAVA_RE.search(t)
    if m:
        inner_kms = "kms" in m.group("service").lower() and (fields.get("operation") or "") not in _KMS_OPS
        # a service that called KMS for the caller (SNS's "KMSAccessDenied" on Publish) wraps KMS's own answer
        fields["error_code"] = (
            (m.group("code").strip() if inner_kms else None) or fields.get("error_code") or m.group("code").strip()
        )
        fields["service"] = (
            (m.group("service").strip() if inner_kms else None) or fields.get("service") or m.group("service").strip()
        )
        fields["request_id"] = m.group("rid")
    m = _JAVA2_RE.search(t)
    if m:
        fields["service"] = fields.get("service") or m.group("service").strip()
        fields["request_id"] = fields.get("request_id") or m.group("rid")
    m = _LAMBDA_ENV_RE.search(t)
    if m:
        code = m.group("code")
        fields["error_code"] = fields.get("error_code") or (code if code.endswith(("Exception", "Denied")) else None)
        fields["service"] = "kms"
        fields["operation"] = fields.get("operation") if fields.get("operation") in _KMS_OPS else "Decrypt"
        fields["via"] = "lambda.amazonaws.com"
    m = _XML_CODE_RE.search(t)
    if m and not fields.get("error_code"):
        fields["error_code"] = m.group("code")
    if not fields.get("error_code"):
        codes = (m.group("code") for m in _CODE_PREFIX_RE.finditer(t))
        fields["error_code"] = next((c for c in codes if not _GENERIC_SDK_EXCEPTION_RE.match(c)), None)
    if not fields.get("request_id"):
        m = _XML_RID_RE.search(t) or _REQUEST_ID_RE.search(t)
        if m:
            fields["request_id"] = m.group("rid")
    if not fields.get("error_code") and _S3_ACCESS_DENIED_RE.search(t) and ("403" in t or "S3" in t):
        fields["error_code"] = "AccessDenied"
    s3_hint = (fields.get("operation") or "") in _S3_OPS or "<HostId>" in t or "host id:" in t or "S3" in t
    if fields.get("error_code") == "AccessDenied" and _S3_ACCESS_DENIED_RE.search(t) and s3_hint:
        fields["service"] = fields.get("service") or "s3"


def _service_prefix(fields: dict[str, str | None]) -> str | None:
    """The IAM service prefix of the call (kms, s3, …) from the wrapper's service name or the operation."""
    service = (fields.get("service") or "").lower().replace(" ", "")
    for name, prefix in (("kms", "kms"), ("keymanagement", "kms"), ("s3", "s3"), ("sts", "sts")):
        if name in service:
            return prefix
    if service:
        return service.removeprefix("amazon").removeprefix("aws") or None
    op = fields.get("operation") or ""
    if op in _KMS_OPS or fields.get("error_code") in _KMS_CODES:
        return "kms"
    if op in _S3_OPS:  # an S3 call refused because of its KMS key ("The ciphertext refers to …") is still S3's
        return "s3"
    if fields.get("resource_kind") == "ciphertext":
        return "kms"
    return None
