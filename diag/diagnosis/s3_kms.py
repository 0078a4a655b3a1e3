"""An S3 request's KMS side: the resource ARN S3 authorizes, and the KMS call S3 made (or would have made)
for the caller, which ``kmsdiag explain`` diagnoses when S3 itself allowed the request.

Amazon S3 asks KMS for the data key of an SSE-KMS object as the caller (``invokedBy`` S3): the logged KMS
event when there is one (same caller, within seconds), else a call derived from the bucket's default
encryption (its key, or ``aws/s3`` of the bucket's account).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from diag import arn as arns
from diag.diagnosis.model import EventFacts

if TYPE_CHECKING:
    from diag.collect.model import InForce
    from diag.diagnosis.sources import PolicySource

# (what, lookup, default): runs a lookup, recording its failure as a gap instead of raising
Safe = Callable[..., Any]

_WRITES = frozenset({"PutObject", "CreateMultipartUpload", "UploadPart"})  # S3 asks for a data key to write


def s3_resource(facts: EventFacts) -> str:
    """The ARN of the object (or bucket) of an S3 request, in the region's partition."""
    partition = arns.partition_for_region(facts.region)
    bucket = facts.bucket or ""
    return (
        arns.object_arn(bucket, facts.object_key, partition) if facts.object_key else arns.bucket_arn(bucket, partition)
    )


def _default_encryption(inforce: InForce | None) -> tuple[dict[str, Any], bool] | None:
    """The bucket's default SSE-KMS setting (``ApplyServerSideEncryptionByDefault``, Bucket Key on), or None."""
    enc = (inforce.bucket_encryption if inforce is not None else None) or {}
    rules = (enc.get("ServerSideEncryptionConfiguration") or enc).get("Rules") or []
    default = (rules[0].get("ApplyServerSideEncryptionByDefault") or {}) if rules else {}
    if not str(default.get("SSEAlgorithm", "")).startswith("aws:kms"):
        return None
    return default, bool(rules[0].get("BucketKeyEnabled"))


def _bucket_owner(facts: EventFacts, inforce: InForce | None) -> str | None:
    owner = None
    for res in (facts.raw or {}).get("resources") or []:
        if isinstance(res, dict) and res.get("type") == "AWS::S3::Bucket":
            owner = res.get("accountId")
    if owner is None and inforce is not None and inforce.bucket_policy is not None:
        owner = inforce.bucket_policy.account
    return owner


def kms_facts_for_s3(source: PolicySource, facts: EventFacts, inforce: InForce | None, safe: Safe) -> EventFacts | None:
    """The KMS call that S3 made for the S3 request ``facts``: the logged one, else the derived one (module doc)."""
    logged = safe("related KMS event", lambda: source.s3_kms_event(facts))
    if logged is not None:
        return logged
    found = _default_encryption(inforce)
    if found is None:
        return None
    default, bucket_key = found
    owner = _bucket_owner(facts, inforce)
    ref = default.get("KMSMasterKeyID") or "alias/aws/s3"
    key = safe(
        "key resolution",
        lambda: source.resolve_key(ref, region=facts.region, account=owner, at=facts.event_time),
    )
    if key is None:
        return None
    from diag.diagnosis.facts import facts_from_record

    record = dict(facts.raw or {})
    bucket = arns.bucket_arn(facts.bucket or "", arns.partition_for_region(facts.region))
    record.update(
        eventID=None,
        eventSource="kms.amazonaws.com",
        eventName="GenerateDataKey" if facts.event_name in _WRITES else "Decrypt",
        userIdentity={**(record.get("userIdentity") or {}), "invokedBy": "s3.amazonaws.com"},
        # with an S3 Bucket Key, S3 asks KMS for the bucket's key with the bucket ARN as context
        # (Amazon S3 User Guide, "Reducing the cost of SSE-KMS with Amazon S3 Bucket Keys")
        requestParameters={"encryptionContext": {"aws:s3:arn": bucket if bucket_key else s3_resource(facts)}},
        resources=[{"ARN": key.key_arn, "type": "AWS::KMS::Key", "accountId": key.account}],
    )
    return facts_from_record(record, origin="derived")
