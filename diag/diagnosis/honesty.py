"""What an answer may claim: the call's outcome, the kind of failure, and the decision the evidence proves.

Three questions every answer (``explain``, ``diagnose``, the report) asks before it says anything:

- ``outcome_of``: did the call succeed? A record with no ``errorCode`` (or an empty one, or an HTTP 2xx
  status written as one) succeeded: it gets no failure verdict.
- ``failure_kind``: which kind of failure: an access refusal or a key-state refusal (the policies and the
  key decide, so the engine is run), a KMS refusal that is not about authorization (key usage, wrong key,
  bad ciphertext, custom key store), another answer that is not a refusal at all (``NoSuchBucketPolicy``,
  ``ValidationException``), or a call to a service kmsdiag does not explain.
- ``proven_decision``: the engine's decision only when the layers that decide were seen. The engine
  computes as if a layer that was not collected allowed; such an "Allowed" is ``"Unknown"`` here, and so
  is an implicit deny that an uncollected grant could have turned into an allow.

``based_on`` lists what an answer rests on: the record, the layers seen, the layers not collected.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from diag.policy.model import Decision, Layer, LayerResult

if TYPE_CHECKING:
    from diag.collect.model import InForce
    from diag.diagnosis.model import EventFacts
    from diag.policy.model import EvaluationResult

SUCCEEDED = "succeeded"
FAILED = "failed"

# The services kmsdiag explains.
EXPLAINED_SOURCES = frozenset({"kms.amazonaws.com", "s3.amazonaws.com"})
# Refusals decided by authorization (policies, grants) or by the key's state.
ACCESS_CODES = frozenset({"AccessDenied", "AccessDeniedException"})
KEY_STATE_CODES = frozenset({"NotFoundException", "DisabledException", "KMSInvalidStateException"})
# KMS refusals that come after authorization: the caller was allowed, the request itself was wrong.
KMS_NON_AUTH_CODES = frozenset({"InvalidKeyUsageException", "IncorrectKeyException", "InvalidCiphertextException"})
_CUSTOM_STORE_CODE_RE = re.compile(r"^(CustomKeyStore|XksProxy|XksKey|CloudHsmCluster|KMSInternal)\w*Exception$")
_CUSTOM_STORE_MSG_RE = re.compile(
    r"custom key store|external key store|\bxks\b|xks ?proxy|cloudhsm|key store proxy", re.IGNORECASE
)
_OTHER_STATE_RE = re.compile(
    r"pending ?import|\bunavailable\b|\bcreating\b|\bupdating\b|pending ?replica ?deletion", re.IGNORECASE
)


def outcome_of(error_code: str | None) -> str:
    """``succeeded`` for no error code, an empty one, or an HTTP 2xx status written as one; else ``failed``."""
    code = (error_code or "").strip()
    if not code or (code.isdigit() and len(code) == 3 and code.startswith("2")):
        return SUCCEEDED
    return FAILED


def is_custom_key_store_error(code: str | None, message: str | None) -> bool:
    """A custom key store (CloudHSM or external/XKS) could not serve the call."""
    if code and _CUSTOM_STORE_CODE_RE.match(code):
        return True
    return code == "KMSInvalidStateException" and bool(_CUSTOM_STORE_MSG_RE.search(message or ""))


def other_key_state(message: str | None) -> str | None:
    """The key state a KMSInvalidStateException message names, when it is not disabled / pending deletion."""
    m = _OTHER_STATE_RE.search(message or "")
    if not m:
        return None
    word = m.group(0).lower().replace(" ", "")
    return {
        "pendingimport": "PendingImport",
        "unavailable": "Unavailable",
        "creating": "Creating",
        "updating": "Updating",
        "pendingreplicadeletion": "PendingReplicaDeletion",
    }.get(word)


def failure_kind(facts: EventFacts) -> str:
    """``succeeded``, ``other_service``, ``access`` (policies decide), ``key_state``, ``kms_non_auth`` or
    ``not_access`` (an error that is not a refusal: a missing configuration, a bad parameter, throttling)."""
    if outcome_of(facts.error_code) == SUCCEEDED:
        return SUCCEEDED
    if facts.event_source not in EXPLAINED_SOURCES:
        return "other_service"
    code = (facts.error_code or "").strip()
    if is_custom_key_store_error(code, facts.error_message):
        return "kms_non_auth"
    if code in ACCESS_CODES:
        return "access"
    if facts.event_source == "kms.amazonaws.com":
        if code in KEY_STATE_CODES:
            return "key_state"
        if code in KMS_NON_AUTH_CODES:
            return "kms_non_auth"
    return "not_access"


def needs_policies(kind: str) -> bool:
    """Whether the policies in force are gathered and evaluated for this kind of call."""
    return kind in (SUCCEEDED, "access", "key_state", "kms_non_auth")


def proven_decision(result: EvaluationResult | None) -> str | None:
    """The decision the evidence proves: the engine's, or ``Unknown`` when a layer not seen could change it.

    An explicit deny in a seen layer is final. An implicit deny holds unless grants were not collected (a
    grant could have allowed). An allow holds only when every layer was seen."""
    if result is None:
        return None
    if getattr(result, "undetermined", ()):
        return "Unknown"  # the decision depends on a condition key kmsdiag could not determine
    unknown = set(result.unknown)
    if result.decision == Decision.EXPLICITLY_DENIED:
        return str(result.decision)
    if result.decision == Decision.IMPLICITLY_DENIED:
        return "Unknown" if Layer.GRANTS in unknown and result.request.action.startswith("kms:") else "ImplicitlyDenied"
    return "Unknown" if unknown else str(result.decision)


def proven_allowed(result: EvaluationResult | None) -> bool:
    return proven_decision(result) == str(Decision.ALLOWED)


_ALL_KMS_LAYERS = ("key_policy", "grants", "identity", "scp", "rcp", "permission_boundary", "session_policy")
_ALL_S3_LAYERS = ("bucket_policy", "identity", "scp", "rcp", "permission_boundary", "session_policy")


def based_on(
    facts: EventFacts, result: EvaluationResult | None, inforce: InForce | None, *, claim: str | None = None
) -> dict[str, Any]:
    """What an answer rests on: the record, the layers seen and not seen, the key's metadata, AWS's claim."""
    record = {
        "event": "the CloudTrail record",
        "event-file": "the CloudTrail record given",
        "error-text": "the error text only (no CloudTrail record)",
        "derived": "the S3 request's record (the KMS call derived from it)",
    }.get(facts.origin, "the CloudTrail record")
    seen: list[str] = []
    not_seen: list[str] = []
    if result is not None:
        for lt in result.layers:
            name = str(lt.layer)
            target = not_seen if lt.result == LayerResult.UNKNOWN else seen
            if name not in target:
                target.append(name)
        seen = [s for s in seen if s not in not_seen]
    elif facts.event_source in EXPLAINED_SOURCES:
        not_seen = list(_ALL_S3_LAYERS if facts.is_s3 else _ALL_KMS_LAYERS)
    key_meta = None
    if facts.event_source == "kms.amazonaws.com":
        key_meta = bool(inforce is not None and inforce.key is not None)
    return {
        "record": record,
        "layers_seen": seen,
        "layers_not_seen": not_seen,
        "key_metadata_seen": key_meta,
        "policies_as_of": _policies_as_of(inforce),
        "aws_message_claims": claim or None,
    }


def _policies_as_of(inforce: InForce | None) -> Any:
    """When the policies used were true: None when nothing was collected (no snapshot, no change event)."""
    if inforce is None or (inforce.snapshot_id is None and not inforce.snapshot_ids and not inforce.changes_applied):
        return None
    return inforce.at or inforce.collected_at


def based_on_line(basis: dict[str, Any]) -> str:
    """``based on: the CloudTrail record; seen: …; not collected: …`` in one line."""
    parts = [str(basis.get("record"))]
    if basis.get("record") and basis.get("policies_as_of") is None:
        parts.append("no policy collected")
    if basis.get("layers_seen"):
        parts.append("seen: " + ", ".join(basis["layers_seen"]))
    if basis.get("layers_not_seen"):
        parts.append("not collected: " + ", ".join(basis["layers_not_seen"]))
    if basis.get("key_metadata_seen") is False:
        parts.append("key metadata (state, usage) not collected")
    if basis.get("aws_message_claims"):
        parts.append(f"AWS's message claims: {basis['aws_message_claims']} (a claim, not evidence)")
    return "based on: " + "; ".join(parts)
