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


def test_key_and_alias_arns_in_every_partition() -> None:
    for partition, region in (("aws", "eu-west-1"), ("aws-cn", "cn-north-1"), ("aws-us-gov", "us-gov-west-1")):
        key = arns.key_arn("1234abcd-12ab-34cd-56ef-1234567890ab", region, "111122223333")
        alias = arns.alias_arn("alias/app", region, "111122223333")
        assert arns.partition_of(key) == partition
        assert arns.is_key_arn(key) and not arns.is_alias_arn(key)
        assert arns.is_alias_arn(alias) and not arns.is_key_arn(alias)
        assert arns.name_of(key) == "1234abcd-12ab-34cd-56ef-1234567890ab" and arns.name_of(alias) == "app"
    # a key ID, an alias name, an S3 object whose path says key/, other services: not KMS key ARNs
    for text in ("1234abcd-12ab-34cd-56ef-1234567890ab", "alias/app", "arn:aws:s3:::b/key/x", "arn:aws:iam::1:key/x"):
        assert not arns.is_key_arn(text) and not arns.is_alias_arn(text)


def test_untrusted_values_that_are_not_text_are_not_arns() -> None:
    """CloudTrail fields are any JSON value: a number or an object where an ARN is expected is not one."""
    for value in (12, {"arn": "arn:aws:kms:r:a:key/k"}, ["arn:aws:kms:r:a:key/k"], None):
        assert arns.parse(value) is None and not arns.is_key_arn(value)  # type: ignore[arg-type]
        assert arns.name_of(value) is None and arns.account_of(value) is None  # type: ignore[arg-type]


def test_name_of_role_user_policy_and_session_arns() -> None:
    assert arns.name_of("arn:aws-us-gov:iam::111122223333:role/service-role/R") == "R"
    assert arns.name_of("arn:aws-cn:iam::111122223333:policy/team/P") == "P"
    assert arns.name_of("arn:aws:sts::111122223333:assumed-role/R/session@example.com") == "session@example.com"
    assert arns.name_of("arn:aws:iam::111122223333:root") == "root"
    assert arns.name_of("R") is None


def test_resources_a_service_record_names_carry_the_key_partition() -> None:
    """aws:SourceArn candidates for a call on an aws-us-gov key are built in aws-us-gov (was always aws)."""
    from diag.diagnosis.callers import _source_arn

    record = {"awsRegion": "us-gov-west-1", "recipientAccountId": "111122223333", "requestParameters": {}}
    trail = {**record, "requestParameters": {"name": "org-trail"}, "responseElements": {}}
    alarm = {**record, "requestParameters": {"alarmName": "high-cpu"}}
    bucket = {**record, "requestParameters": {"bucketName": "amzn-s3-demo-bucket"}}
    assert _source_arn("CreateTrail", trail, "aws-us-gov") == (
        "arn:aws-us-gov:cloudtrail:us-gov-west-1:111122223333:trail/org-trail"
    )
    assert _source_arn("PutMetricAlarm", alarm, "aws-us-gov") == (
        "arn:aws-us-gov:cloudwatch:us-gov-west-1:111122223333:alarm:high-cpu"
    )
    assert _source_arn("CreateBucket", bucket, "aws-us-gov") == "arn:aws-us-gov:s3:::amzn-s3-demo-bucket"
    named = {**trail, "requestParameters": {"name": "arn:aws-us-gov:cloudtrail:us-gov-west-1:111122223333:trail/t"}}
    assert _source_arn("UpdateTrail", named, "aws") == "arn:aws-us-gov:cloudtrail:us-gov-west-1:111122223333:trail/t"


def test_cloudformation_stack_of_another_partition_gives_its_pseudo_parameters() -> None:
    from diag.impact.cloudformation import stack_facts

    stack = "arn:aws-cn:cloudformation:cn-north-1:111122223333:stack/shared-data/0f1e2d3c-aaaa-bbbb-cccc-1234567890ab"
    _, _, _, pseudo = stack_facts({"StackId": stack, "Changes": []})
    assert pseudo == {
        "AWS::Partition": "aws-cn",
        "AWS::Region": "cn-north-1",
        "AWS::AccountId": "111122223333",
        "AWS::StackId": stack,
        "AWS::StackName": "shared-data",
    }


def test_account_principals_in_every_partition() -> None:
    """A Principal element naming a whole account: its ID or its root ARN (IAM User Guide, "AWS account
    principals"); a role, a user, an assumed-role session or an STS ARN ending in root are not."""
    for value in ("111122223333", "arn:aws:iam::111122223333:root", "arn:aws-cn:iam::111122223333:root"):
        assert arns.is_account_principal(value), value
    for value in (
        "11112222333",
        "arn:aws-us-gov:iam::111122223333:role/root",
        "arn:aws:sts::111122223333:assumed-role/R/root",
        "arn:aws:iam::111122223333:user/root",
        "*",
    ):
        assert not arns.is_account_principal(value), value
