"""diag.ingest.normalize: typed columns for every userIdentity type, key ARN resolution, hostile input."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diag.ingest.normalize import COLUMNS, normalize_record
from diag.ingest.parse import KIND_RECORDS, KIND_REFUSED, parse_blob
from tests.ingest.ctdata import CALLER, KEY_ARN, OWNER, ROLE_ARN, SESSION_ARN, kms_record

# userIdentity type -> (caller_arn, caller_type, caller_account, caller_role_arn, session, principal, invoked_by)
EXPECTED_CALLERS: dict[str, tuple[str | None, ...]] = {
    "AssumedRole": (
        SESSION_ARN,
        "AssumedRole",
        CALLER,
        ROLE_ARN,
        "etl-run-42",
        "AROAEXAMPLEROLEID0001:etl-run-42",
        None,
    ),
    "AWSAccount": (None, "AWSAccount", CALLER, None, None, "AROAEXAMPLEROLEID0001:etl-run-42", None),
    "AWSService": (None, "AWSService", None, None, None, None, "cloudtrail.amazonaws.com"),
    "IAMUser": (
        f"arn:aws:iam::{CALLER}:user/alice",
        "IAMUser",
        CALLER,
        f"arn:aws:iam::{CALLER}:user/alice",
        None,
        "AIDAEXAMPLEUSERID0001",
        None,
    ),
    "Root": (f"arn:aws:iam::{CALLER}:root", "Root", CALLER, f"arn:aws:iam::{CALLER}:root", None, CALLER, None),
    "FederatedUser": (
        f"arn:aws:sts::{CALLER}:federated-user/bob",
        "FederatedUser",
        CALLER,
        f"arn:aws:iam::{CALLER}:user/broker",
        "bob",
        f"{CALLER}:bob",
        None,
    ),
    "IdentityCenterUser": (
        None,
        "IdentityCenterUser",
        CALLER,
        None,
        None,
        "94482488-3041-7026-18f3-be45837cd0e4",
        None,
    ),
    "SAMLUser": (None, "SAMLUser", None, None, "carol@example.com", "SAMLEXAMPLE:carol@example.com", None),
    "WebIdentityUser": (None, "WebIdentityUser", None, None, "123456789", "accounts.google.com:123456789", None),
}


@pytest.mark.parametrize("identity", sorted(EXPECTED_CALLERS))
def test_every_user_identity_type(identity: str) -> None:
    row = normalize_record(kms_record(identity=identity))
    got = (
        row["caller_arn"],
        row["caller_type"],
        row["caller_account"],
        row["caller_role_arn"],
        row["caller_session_name"],
        row["caller_principal_id"],
        row["invoked_by"],
    )
    assert got == EXPECTED_CALLERS[identity]


def test_typed_columns() -> None:
    rec = kms_record(error="AccessDenied", sharedEventID="s-1", vpcEndpointId="vpce-1")
    row = normalize_record(rec)
    assert set(row) == set(COLUMNS)
    assert row["event_time"] == dt.datetime(2026, 11, 28, 12, 0, 0)
    assert row["event_source"] == "kms.amazonaws.com" and row["event_name"] == "Decrypt"
    assert row["error_code"] == "AccessDenied" and "not authorized" in row["error_message"]
    assert row["shared_event_id"] == "s-1" and row["vpc_endpoint_id"] == "vpce-1"
    assert row["recipient_account"] == CALLER and row["request_id"] == rec["requestID"]
    assert row["read_only"] is True and row["management_event"] is True
    assert row["key_arn"] == KEY_ARN and row["key_account"] == OWNER and row["key_id_given"] == KEY_ARN
    assert row["bucket"] == "data-bucket"
    assert json.loads(row["encryption_context"]) == {"aws:s3:arn": "arn:aws:s3:::data-bucket/reports/2026.csv"}
    assert json.loads(row["raw"]) == rec


@pytest.mark.parametrize("field", ["ARN", "arn", "Arn", "aRN"])
def test_key_arn_from_resources_in_any_case(field: str) -> None:
    rec = kms_record(key_id=None)
    rec["resources"] = [{"accountId": OWNER, "type": "AWS::KMS::Key", field: KEY_ARN}]
    row = normalize_record(rec)
    assert row["key_arn"] == KEY_ARN and row["key_id_given"] is None and row["key_account"] == OWNER


@pytest.mark.parametrize(
    ("key_id", "key_arn", "alias"),
    [
        (KEY_ARN, KEY_ARN, None),
        ("1234abcd-12ab-34cd-56ef-1234567890ab", None, None),
        ("alias/app-data", None, "alias/app-data"),
        (f"arn:aws:kms:us-east-1:{OWNER}:alias/app-data", None, f"arn:aws:kms:us-east-1:{OWNER}:alias/app-data"),
    ],
)
def test_key_from_key_id_when_resources_are_absent(key_id: str, key_arn: str | None, alias: str | None) -> None:
    row = normalize_record(kms_record(key_id=key_id, resources=False))
    assert row["key_id_given"] == key_id
    assert row["key_arn"] == key_arn
    assert row["key_alias"] == alias
    assert row["key_account"] == (OWNER if key_arn or (alias and alias.startswith("arn:")) else None)


def test_resources_win_over_an_alias_key_id() -> None:
    row = normalize_record(kms_record(key_id="alias/app-data"))
    assert row["key_arn"] == KEY_ARN and row["key_alias"] == "alias/app-data"


def test_s3_event_bucket_and_sse_kms_key() -> None:
    rec = kms_record(name="PutObject", key_id=None, resources=False)
    rec["eventSource"] = "s3.amazonaws.com"
    rec["requestParameters"] = {
        "bucketName": "reports",
        "key": "a.csv",
        "x-amz-server-side-encryption-aws-kms-key-id": KEY_ARN,
    }
    row = normalize_record(rec)
    assert row["bucket"] == "reports" and row["key_arn"] == KEY_ARN and row["encryption_context"] is None


def test_bucket_from_resources() -> None:
    rec = kms_record(key_id=None, resources=False)
    rec["requestParameters"] = None
    rec["resources"] = [{"type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::logs-bucket"}]
    assert normalize_record(rec)["bucket"] == "logs-bucket"


def test_strings_where_objects_belong_and_nulls() -> None:
    rec = kms_record()
    rec.update(
        userIdentity="AssumedRole",
        requestParameters="omitted: request parameters exceeded 100 KB",
        responseElements=[1, 2],
        resources={"ARN": KEY_ARN},
        readOnly="true",
        managementEvent="maybe",
        eventTime="not a time",
        errorCode=403,
        awsRegion=None,
    )
    row = normalize_record(rec)
    assert row["caller_arn"] is None and row["caller_type"] is None
    assert row["key_arn"] is None and row["encryption_context"] is None
    assert row["read_only"] is True and row["management_event"] is None
    # a numeric errorCode stays a failure (text); other wrong-typed scalars are NULL
    assert row["event_time"] is None and row["error_code"] == "403" and row["aws_region"] is None


def test_assumed_role_without_session_issuer() -> None:
    rec = kms_record()
    del rec["userIdentity"]["sessionContext"]
    row = normalize_record(rec)
    assert row["caller_role_arn"] == ROLE_ARN and row["caller_session_name"] == "etl-run-42"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=6,
)
FIELDS = [
    "userIdentity",
    "requestParameters",
    "responseElements",
    "resources",
    "eventTime",
    "eventSource",
    "eventName",
    "readOnly",
    "errorCode",
    "sharedEventID",
]


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=len(FIELDS)), st.data())
def test_hostile_fields_never_break_normalize(fields: dict[str, Any], data: st.DataObject) -> None:
    rec = kms_record()
    rec.update(fields)
    # Also hostile values nested where the code looks: userIdentity.sessionContext, resources[].ARN, keyId.
    if isinstance(rec.get("userIdentity"), dict):
        rec["userIdentity"]["sessionContext"] = data.draw(json_values)
    if isinstance(rec.get("requestParameters"), dict):
        rec["requestParameters"]["keyId"] = data.draw(json_values)
    row = normalize_record(rec)
    assert set(row) == set(COLUMNS)
    for name, value in row.items():
        if name == "event_time":
            assert value is None or isinstance(value, dt.datetime)
        elif name in ("read_only", "management_event"):
            assert value in (None, True, False)
        else:
            assert value is None or isinstance(value, str)


# ------------------------------------------------------------------------------------ real records

REAL_GOOD = {
    # file name prefix -> (caller_arn or caller type, key_arn, error_code, event_name)
    "lab-kms-intro-830834166987__kms_GenerateDataKey": (
        "arn:aws:sts::830834166987:assumed-role/AWSLabsUser-eo48QcrNoHcJZfkNoBbNHr/5afab8dd-572c-45b1-8b68-6b9e00f836c7",
        "arn:aws:kms:us-east-1:830834166987:key/313e9dc0-fec9-4cac-b343-fc7233316514",
        None,
        "GenerateDataKey",
    ),
    "lab-kms-intro-830834166987__kms_Decrypt": (
        "arn:aws:sts::830834166987:assumed-role/AWSLabsController/AVS-AsyncResourceMonitor",
        "arn:aws:kms:us-east-1:830834166987:key/69ba0c3d-57aa-4fe5-8318-b2a40e1366b6",
        None,
        "Decrypt",
    ),
    "panther-labs-panther__kms_Decrypt": (
        "arn:aws:sts::888888888888:assumed-role/panther-app-LogProcessor-XXXXXXXXXXXX-FunctionRole-XXXXXXXXXX/panther-log-processor",
        "arn:aws:kms:us-east-1:888888888888:key/90be6df2-db60-4237-ad9b-a49260XXXXX",
        None,
        "Decrypt",
    ),
    "panther-labs-panther__kms_GenerateDataKey": (
        "AWSService",
        "arn:aws:kms:us-west-2:888888888888:key/72c37aae-1000-4058-93d4-86374c0fe9a0",
        None,
        "GenerateDataKey",
    ),
    "datadog-stratus-red-team__organizations_LeaveOrganization": (
        "arn:aws:sts::307578594326:assumed-role/stratus-red-team-leave-org-role/aws-go-sdk-1722587398902687000",
        None,
        "AccessDenied",
        "LeaveOrganization",
    ),
    "datadog-stratus-red-team__sts_AssumeRole": (
        "arn:aws:iam::321848314756:user/christophe",
        None,
        "AccessDenied",
        "AssumeRole",
    ),
    "datadog-stratus-red-team__ec2_DescribeInstanceAttribute": (
        "arn:aws:sts::321848314756:assumed-role/stratus-red-team-get-usr-data-role/aws-go-sdk-1722455550269043000",
        None,
        "Client.UnauthorizedOperation",
        "DescribeInstanceAttribute",
    ),
}


def _real_files(shared_dir: Path) -> list[Path]:
    return sorted(p for p in (shared_dir / "real_events").glob("*.json"))


def test_every_real_event_file(shared_dir: Path) -> None:
    files = _real_files(shared_dir)
    assert len(files) == 10
    seen_good = set()
    for path in files:
        parsed = parse_blob(path.read_bytes(), path.name)
        if path.stem.endswith("_NOT_VALID_JSON"):
            assert parsed.kind == KIND_REFUSED, path.name
            assert parsed.reason and parsed.reason.startswith("invalid JSON"), parsed.reason
            continue
        assert parsed.kind == KIND_RECORDS, (path.name, parsed.reason)
        assert len(parsed.records) == 1
        prefix = next(p for p in REAL_GOOD if path.name.startswith(p))
        seen_good.add(prefix)
        caller, key_arn, error, name = REAL_GOOD[prefix]
        row = normalize_record(parsed.records[0])
        assert (row["caller_arn"] or row["caller_type"]) == caller
        assert row["key_arn"] == key_arn
        assert row["error_code"] == error
        assert row["event_name"] == name
        assert row["event_time"] is not None
        assert orjson.loads(row["raw"]) == parsed.records[0]
    assert seen_good == set(REAL_GOOD)


def test_real_event_details(shared_dir: Path) -> None:
    by_prefix = {}
    for path in _real_files(shared_dir):
        parsed = parse_blob(path.read_bytes(), path.name)
        if parsed.kind == KIND_RECORDS:
            by_prefix[path.name] = normalize_record(parsed.records[0])
    lab = next(v for k, v in by_prefix.items() if "GenerateDataKey_s3" in k)
    assert lab["invoked_by"] == "AWS Internal" and lab["bucket"] == "mycloudtrailbucket0968"
    assert lab["caller_role_arn"] == "arn:aws:iam::830834166987:role/AWSLabsUser-eo48QcrNoHcJZfkNoBbNHr"
    no_key_id = next(v for k, v in by_prefix.items() if "no_keyId" in k)
    assert no_key_id["key_id_given"] is None and no_key_id["invoked_by"] == "lambda.amazonaws.com"
    svc = next(v for k, v in by_prefix.items() if "AWSService" in k)
    assert svc["shared_event_id"] == "238c190c-1a30-4756-8e08-19fc36ad1b9f"
    assert svc["recipient_account"] == "777777777777" and svc["key_account"] == "888888888888"
    old = next(v for k, v in by_prefix.items() if "lambda_env" in k)
    assert old["recipient_account"] is None and old["management_event"] is None and old["event_version"] == "1.05"
