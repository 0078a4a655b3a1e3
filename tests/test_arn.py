"""diag.arn: the one ARN parser/builder, on ARNs from AWS documentation records (tests/data/real_records)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diag import arn as arns
from diag.collect.history import _partition

REAL = Path(__file__).parent / "data" / "real_records"
AWS_CN = REAL / "aws-secrets-manager-guide" / "kms_GenerateDataKey_invokedBy_secretsmanager_aws-cn.json"


def test_parse_splits_six_fields_and_keeps_the_resource_whole() -> None:
    a = arns.parse("arn:aws:iam::222222222222:role/service-role/Data:Processing")
    assert a == arns.Arn("aws", "iam", "", "222222222222", "role/service-role/Data:Processing")
    assert (a.resource_type, a.resource_id, a.name) == ("role", "service-role/Data:Processing", "Data:Processing")
    assert str(a) == "arn:aws:iam::222222222222:role/service-role/Data:Processing"
    s3 = arns.parse("arn:aws:s3:::amzn-s3-demo-bucket/photos/2026/a.jpg")
    assert s3 is not None and (s3.account, s3.region, s3.resource_type) == ("", "", "amzn-s3-demo-bucket")
    assert arns.bucket_of(str(s3)) == "amzn-s3-demo-bucket"


@pytest.mark.parametrize(
    "text", [None, "", "alias/x", "1234abcd-12ab-34cd-56ef-1234567890ab", "arn:aws:kms", "xarn:a:b:c:d:e"]
)
def test_not_an_arn(text: str | None) -> None:
    assert arns.parse(text) is None and arns.split(text) is None
    assert arns.account_of(text) is None and arns.region_of(text) is None
    assert arns.partition_of(text) == "aws"


def test_partitions_of_regions() -> None:
    assert arns.partition_for_region("eu-west-1") == "aws"
    assert arns.partition_for_region("cn-northwest-1") == "aws-cn"
    assert arns.partition_for_region("us-gov-west-1") == "aws-us-gov"
    assert arns.partition_for_region(None) == "aws"
    key = arns.key_arn("1234abcd-12ab-34cd-56ef-1234567890ab", "cn-north-1", "111122223333")
    assert key == "arn:aws-cn:kms:cn-north-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert (
        arns.alias_arn("alias/app", "us-gov-east-1", "111122223333")
        == "arn:aws-us-gov:kms:us-gov-east-1:111122223333:alias/app"
    )


def test_aws_cn_record_from_the_secrets_manager_guide() -> None:
    """The documented record names aws-cn ARNs in region us-west-2: the ARNs' partition wins over the region's."""
    record = json.loads(AWS_CN.read_text(encoding="utf-8"))
    caller = record["userIdentity"]["arn"]
    key = record["resources"][0]["ARN"]
    assert arns.role_of_assumed_role(caller) == "arn:aws-cn:iam::111122223333:role/Admin"
    assert arns.partition_of(key) == "aws-cn" and arns.account_of(key) == record["recipientAccountId"]
    assert arns.region_of(key) == record["awsRegion"]
    assert _partition(record) == "aws-cn"  # policy-change ARNs built for this record get its partition


def test_builders() -> None:
    assert arns.root_arn("111122223333") == "arn:aws:iam::111122223333:root"
    assert arns.role_arn("111122223333", "R", "/a/b/", "aws-us-gov") == "arn:aws-us-gov:iam::111122223333:role/a/b/R"
    assert arns.assumed_role_arn("111122223333", "R", "s") == "arn:aws:sts::111122223333:assumed-role/R/s"
    assert arns.object_arn("b", "k/1", "aws-cn") == "arn:aws-cn:s3:::b/k/1"
    assert arns.role_of_assumed_role("arn:aws:iam::111122223333:role/R") is None
    assert arns.role_of_assumed_role("arn:aws:sts::111122223333:federated-user/bob") is None
