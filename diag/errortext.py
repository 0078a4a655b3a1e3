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
_SDK_CODE_RE = re.compile(r"An error occurred \((?P<code>\w+)\) when calling the (?P<op>\w+) operation", re.I)
_JAVA_RE = re.compile(
    r"\(Service:\s*(?P<service>[^;]+);\s*Status Code:\s*(?P<status>\d+);\s*Error Code:\s*(?P<code>\w+);"
    r"\s*Request ID:\s*(?P<rid>[\w-]+)",
    re.I,
)
_REQUEST_ID_RE = re.compile(r"(?:Request ?ID|RequestId|request id)[:=]?\s*\"?(?P<rid>[0-9a-fA-F-]{20,})", re.I)
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

    @property
    def recognized(self) -> bool:
        return bool(self.principal or self.state or self.resource_kind == "ciphertext")

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
    m = _SDK_CODE_RE.search(t)
    if m:
        fields["error_code"] = m.group("code")
        fields["operation"] = m.group("op")
    m = _JAVA_RE.search(t)
    if m:
        fields["error_code"] = m.group("code")
        fields["service"] = m.group("service").strip()
        fields["request_id"] = m.group("rid")
    if not fields.get("request_id"):
        m = _REQUEST_ID_RE.search(t)
        if m:
            fields["request_id"] = m.group("rid")
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
    if fields.get("principal") and not fields.get("error_code"):
        fields["error_code"] = "AccessDenied"
    if not fields.get("action") and fields.get("operation") and fields.get("state"):
        fields["action"] = f"kms:{fields['operation']}"
    return ParsedError(text=text, **fields)
