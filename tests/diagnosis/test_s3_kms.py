"""The S3 request's KMS side (diag.diagnosis.s3_kms): the resource ARN S3 authorizes, in the region's
partition, and the KMS call derived from the bucket's default encryption when none was logged."""

from __future__ import annotations

import datetime as dt
from typing import Any

from diag.collect.model import InForce, KeyInfo
from diag.diagnosis.model import EventFacts
from diag.diagnosis.s3_kms import kms_facts_for_s3, s3_resource
from tests.diagnosis.fakes import FakeSource

AT = dt.datetime(2026, 11, 25, 4, 20)
KEY = KeyInfo(
    key_arn="arn:aws:kms:us-east-1:111111111111:key/00000001-12ab-34cd-56ef-1234567890ab",
    key_id="00000001-12ab-34cd-56ef-1234567890ab",
    account="111111111111",
    region="us-east-1",
    aliases=("alias/app",),
)


def _facts(event_name: str = "GetObject", region: str = "us-east-1", object_key: str | None = "a/b.txt") -> EventFacts:
    return EventFacts(
        event_id="e1",
        event_time=AT,
        event_source="s3.amazonaws.com",
        event_name=event_name,
        action=f"s3:{event_name}",
        region=region,
        caller_arn="arn:aws:sts::222222222222:assumed-role/App/s",
        bucket="my-bucket",
        object_key=object_key,
        raw={"eventSource": "s3.amazonaws.com", "eventName": event_name, "awsRegion": region},
    )


def _safe(what: str, fn: Any, default: Any = None) -> Any:
    return fn()


def _encrypted(bucket_key: bool) -> InForce:
    rule: dict[str, Any] = {
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/app"}
    }
    if bucket_key:
        rule["BucketKeyEnabled"] = True
    return InForce(at=AT, bucket_encryption={"ServerSideEncryptionConfiguration": {"Rules": [rule]}})


def test_s3_resource_is_the_object_or_bucket_in_the_regions_partition() -> None:
    assert s3_resource(_facts()) == "arn:aws:s3:::my-bucket/a/b.txt"
    assert s3_resource(_facts(object_key=None)) == "arn:aws:s3:::my-bucket"
    assert s3_resource(_facts(region="cn-north-1")) == "arn:aws-cn:s3:::my-bucket/a/b.txt"
    assert s3_resource(_facts(region="us-gov-west-1", object_key=None)) == "arn:aws-us-gov:s3:::my-bucket"


def test_derived_kms_call_reads_the_default_encryption_key() -> None:
    source = FakeSource(None, keys=[KEY])
    kms = kms_facts_for_s3(source, _facts("PutObject"), _encrypted(bucket_key=False), _safe)
    assert kms is not None
    assert (kms.event_source, kms.event_name, kms.key_arn, kms.origin) == (
        "kms.amazonaws.com",
        "GenerateDataKey",
        KEY.key_arn,
        "derived",
    )
    assert kms.invoked_by == "s3.amazonaws.com"
    assert kms.encryption_context == {"aws:s3:arn": "arn:aws:s3:::my-bucket/a/b.txt"}


def test_with_a_bucket_key_the_context_is_the_bucket() -> None:
    kms = kms_facts_for_s3(FakeSource(None, keys=[KEY]), _facts(), _encrypted(bucket_key=True), _safe)
    assert kms is not None and kms.event_name == "Decrypt"
    assert kms.encryption_context == {"aws:s3:arn": "arn:aws:s3:::my-bucket"}


def test_no_kms_call_without_sse_kms_or_a_known_key() -> None:
    sse_s3 = InForce(
        at=AT,
        bucket_encryption={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
    )
    assert kms_facts_for_s3(FakeSource(None, keys=[KEY]), _facts(), sse_s3, _safe) is None
    assert kms_facts_for_s3(FakeSource(None, keys=[KEY]), _facts(), None, _safe) is None
    assert kms_facts_for_s3(FakeSource(None), _facts(), _encrypted(bucket_key=False), _safe) is None
