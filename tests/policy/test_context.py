"""Request context and Request from raw CloudTrail records, including hostile and malformed ones."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diag.policy.context import context_from_event, request_from_event, via_service
from diag.policy.engine import evaluate
from diag.policy.model import Decision, Layer, PolicyInputs

from .helpers import KEY_ARN, ROLE_ARN, SESSION_ARN, key_policy, named, policy, root_statement, stmt

RECORD: dict[str, Any] = {
    "eventVersion": "1.09",
    "userIdentity": {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLEID12345678:etl-job",
        "arn": SESSION_ARN,
        "accountId": "222222222222",
        "invokedBy": "s3.amazonaws.com",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAEXAMPLEID12345678",
                "arn": "arn:aws:iam::222222222222:role/service/DataProcessingRole",
                "accountId": "222222222222",
                "userName": "DataProcessingRole",
            },
            "attributes": {"creationDate": "2026-11-28T10:00:00Z", "mfaAuthenticated": "false"},
        },
    },
    "eventTime": "2026-11-28T10:15:00Z",
    "eventSource": "kms.amazonaws.com",
    "eventName": "Decrypt",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "s3.amazonaws.com",
    "userAgent": "s3.amazonaws.com",
    "errorCode": "AccessDenied",
    "requestParameters": {
        "encryptionContext": {"aws:s3:arn": "arn:aws:s3:::data-bucket/file.csv"},
        "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
    },
    "resources": [{"accountId": "111111111111", "type": "AWS::KMS::Key", "ARN": KEY_ARN}],
    "recipientAccountId": "222222222222",
    "tlsDetails": {"tlsVersion": "TLSv1.3"},
}


def test_context_of_an_assumed_role_call_via_s3() -> None:
    ctx = context_from_event(RECORD)
    assert ctx["aws:PrincipalArn"] == "arn:aws:iam::222222222222:role/service/DataProcessingRole"
    assert ctx["aws:PrincipalAccount"] == "222222222222" == ctx["kms:CallerAccount"]
    assert ctx["aws:PrincipalType"] == "AssumedRole"
    assert ctx["aws:userid"] == "AROAEXAMPLEID12345678:etl-job"
    assert "aws:username" not in ctx
    assert ctx["kms:ViaService"] == "s3.us-east-1.amazonaws.com"
    assert ctx["aws:ViaAWSService"] == "true"
    assert ctx["aws:CalledVia"] == ["s3.amazonaws.com"]
    assert "aws:SourceIp" not in ctx  # a service name, not an address
    assert ctx["kms:EncryptionContext:aws:s3:arn"] == "arn:aws:s3:::data-bucket/file.csv"
    assert ctx["kms:EncryptionContextKeys"] == ["aws:s3:arn"]
    assert ctx["aws:CurrentTime"] == "2026-11-28T10:15:00Z"
    assert ctx["aws:RequestedRegion"] == "us-east-1"
    assert ctx["aws:SecureTransport"] == "true"
    assert ctx["aws:MultiFactorAuthPresent"] == "false"
    assert ctx["aws:ResourceAccount"] == "111111111111"


def test_context_of_a_direct_user_call() -> None:
    rec = {
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE",
            "arn": "arn:aws:iam::111111111111:user/alice",
            "accountId": "111111111111",
            "userName": "alice",
        },
        "eventSource": "kms.amazonaws.com",
        "eventName": "Encrypt",
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "203.0.113.9",
        "vpcEndpointId": "vpce-0abc",
        "requestParameters": {"keyId": "1234abcd-12ab-34cd-56ef-1234567890ab"},
        "recipientAccountId": "111111111111",
    }
    ctx = context_from_event(rec)
    assert ctx["aws:PrincipalArn"] == "arn:aws:iam::111111111111:user/alice"
    assert ctx["aws:PrincipalType"] == "User" and ctx["aws:username"] == "alice"
    assert ctx["aws:SourceIp"] == "203.0.113.9" and ctx["aws:SourceVpce"] == "vpce-0abc"
    assert ctx["aws:ViaAWSService"] == "false" and "kms:ViaService" not in ctx
    req = request_from_event(rec)
    assert req.resource == "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert req.action == "kms:Encrypt" and req.resource_account == "111111111111"


def test_request_from_event() -> None:
    req = request_from_event(RECORD)
    assert req.principal == SESSION_ARN
    assert req.action == "kms:Decrypt"
    assert req.resource == KEY_ARN
    assert req.resource_account == "111111111111"
    assert req.context["kms:ViaService"] == "s3.us-east-1.amazonaws.com"


def test_event_to_decision_end_to_end() -> None:
    kp = key_policy(
        root_statement(),
        stmt(Principal={"AWS": ROLE_ARN}, Condition={"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}),
    )
    inputs = PolicyInputs(
        identity_policies=(named(policy(stmt(resource=KEY_ARN))),),
        resource_policy=kp,
        resource_policy_layer=Layer.KEY_POLICY,
    )
    assert evaluate(request_from_event(RECORD), inputs).decision == Decision.ALLOWED
    direct = copy.deepcopy(RECORD)
    del direct["userIdentity"]["invokedBy"]
    direct["sourceIPAddress"] = "198.51.100.4"
    assert evaluate(request_from_event(direct), inputs).decision == Decision.IMPLICITLY_DENIED


def test_via_service() -> None:
    assert via_service("ec2.amazonaws.com", "eu-west-1") == "ec2.eu-west-1.amazonaws.com"
    assert via_service("s3.amazonaws.com", None) == "s3.amazonaws.com"


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"userIdentity": None, "requestParameters": None, "resources": None},
        {"userIdentity": "x", "requestParameters": [1], "resources": [None, 3, {"ARN": 5}], "awsRegion": 7},
        {"userIdentity": {"type": "AssumedRole", "sessionContext": {"sessionIssuer": []}}, "eventTime": "not a time"},
        {"requestParameters": {"encryptionContext": {"a": {"nested": 1}, "b": 2}}, "eventSource": "kms.amazonaws.com"},
        {"userIdentity": {"type": "AWSService", "invokedBy": "\x1b[2Jevil.amazonaws.com"}, "eventName": None},
    ],
)
def test_malformed_records_do_not_crash(record: dict) -> None:
    ctx = context_from_event(record)
    assert all(isinstance(k, str) for k in ctx)
    req = request_from_event(record)
    assert isinstance(req.principal, str) and isinstance(req.action, str)
    evaluate(req, PolicyInputs())


def test_non_dict_record() -> None:
    assert context_from_event([]) == {}  # type: ignore[arg-type]
    assert request_from_event(None).action == "unknown:Unknown"  # type: ignore[arg-type]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from([*list(RECORD), "invokedBy", "vpcEndpointId"]), json_values, max_size=10))
def test_fuzzed_records_never_crash(record: dict) -> None:
    req = request_from_event(record)
    evaluate(req, PolicyInputs(identity_policies=(named(policy(stmt(action="*"))),)))


# The Secrets Manager guide's aws-cn record (tests/data/real_records, provenance in its README): its ARNs are
# aws-cn while its region reads us-west-2, so the caller's ARN decides the partition of what kmsdiag builds.
_AWS_CN = "tests/data/real_records/aws-secrets-manager-guide/kms_GenerateDataKey_invokedBy_secretsmanager_aws-cn.json"


def _aws_cn_record() -> dict[str, Any]:
    import json
    from pathlib import Path

    return json.loads((Path(__file__).resolve().parents[2] / _AWS_CN).read_text(encoding="utf-8"))


def test_a_key_named_by_id_gets_the_arn_of_the_calls_partition() -> None:
    record = _aws_cn_record()
    del record["resources"]
    record["requestParameters"]["keyId"] = "1234abcd-12ab-34cd-56ef-1234567890ab"
    req = request_from_event(record)
    assert req.resource == "arn:aws-cn:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    record["requestParameters"]["keyId"] = "alias/app"
    assert request_from_event(record).resource == "arn:aws-cn:kms:us-west-2:111122223333:alias/app"
    assert context_from_event(record)["kms:RequestAlias"] == "alias/app"


def test_an_s3_object_and_an_account_root_in_aws_cn_and_aws_us_gov() -> None:
    record = _aws_cn_record()
    del record["resources"]
    record.update(eventSource="s3.amazonaws.com", eventName="GetObject")
    record["requestParameters"] = {"bucketName": "amzn-s3-demo-bucket", "key": "a/b.txt"}
    req = request_from_event(record)
    assert req.resource == "arn:aws-cn:s3:::amzn-s3-demo-bucket/a/b.txt"
    allow = stmt(Action="s3:GetObject", Resource="arn:aws-cn:s3:::amzn-s3-demo-bucket/*")
    assert evaluate(req, PolicyInputs(identity_policies=(named(policy(allow)),))).decision == Decision.ALLOWED
    # no caller ARN: the account's root, in the region's partition
    gov = {**record, "awsRegion": "us-gov-west-1", "userIdentity": {"type": "Root", "accountId": "111122223333"}}
    req = request_from_event(gov)
    assert req.principal == "arn:aws-us-gov:iam::111122223333:root"
    assert req.resource == "arn:aws-us-gov:s3:::amzn-s3-demo-bucket/a/b.txt"
