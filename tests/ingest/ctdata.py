"""Builders of realistic CloudTrail records and files for the ingest tests (real S3 layout)."""

from __future__ import annotations

import copy
import datetime as dt
import gzip
import json
import uuid
from pathlib import Path
from typing import Any

OWNER = "111111111111"
CALLER = "222222222222"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:us-east-1:{OWNER}:key/{KEY_ID}"
ROLE_ARN = f"arn:aws:iam::{CALLER}:role/DataProcessingRole"
SESSION_ARN = f"arn:aws:sts::{CALLER}:assumed-role/DataProcessingRole/etl-run-42"

IDENTITIES: dict[str, dict[str, Any]] = {
    "AssumedRole": {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLEROLEID0001:etl-run-42",
        "arn": SESSION_ARN,
        "accountId": CALLER,
        "accessKeyId": "ASIAEXAMPLEKEY000001",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAEXAMPLEROLEID0001",
                "arn": ROLE_ARN,
                "accountId": CALLER,
                "userName": "DataProcessingRole",
            },
            "attributes": {"creationDate": "2026-11-28T11:00:00Z", "mfaAuthenticated": "false"},
        },
    },
    "AWSAccount": {"type": "AWSAccount", "principalId": "AROAEXAMPLEROLEID0001:etl-run-42", "accountId": CALLER},
    "AWSService": {"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"},
    "IAMUser": {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLEUSERID0001",
        "arn": f"arn:aws:iam::{CALLER}:user/alice",
        "accountId": CALLER,
        "accessKeyId": "AKIAEXAMPLEKEY000001",
        "userName": "alice",
    },
    "Root": {
        "type": "Root",
        "principalId": CALLER,
        "arn": f"arn:aws:iam::{CALLER}:root",
        "accountId": CALLER,
        "accessKeyId": "ASIAEXAMPLEKEY000002",
    },
    "FederatedUser": {
        "type": "FederatedUser",
        "principalId": f"{CALLER}:bob",
        "arn": f"arn:aws:sts::{CALLER}:federated-user/bob",
        "accountId": CALLER,
        "sessionContext": {
            "sessionIssuer": {
                "type": "IAMUser",
                "principalId": "AIDAEXAMPLEUSERID0002",
                "arn": f"arn:aws:iam::{CALLER}:user/broker",
                "accountId": CALLER,
                "userName": "broker",
            }
        },
    },
    "IdentityCenterUser": {
        "type": "IdentityCenterUser",
        "accountId": CALLER,
        "onBehalfOf": {
            "userId": "94482488-3041-7026-18f3-be45837cd0e4",
            "identityStoreArn": "arn:aws:identitystore::111111111111:identitystore/d-9067e7d3a1",
        },
        "credentialId": "EXAMPLEcredentialId",
    },
    "SAMLUser": {
        "type": "SAMLUser",
        "principalId": "SAMLEXAMPLE:carol@example.com",
        "userName": "carol@example.com",
        "identityProvider": "bdGOnTesti4+ExamplehvnjaQ==",
    },
    "WebIdentityUser": {
        "type": "WebIdentityUser",
        "principalId": "accounts.google.com:123456789",
        "userName": "123456789",
        "identityProvider": "accounts.google.com",
    },
}


def new_id(n: int | None = None) -> str:
    return str(uuid.UUID(int=n)) if n is not None else str(uuid.uuid4())


def kms_record(
    *,
    event_id: str | None = None,
    name: str = "Decrypt",
    identity: str = "AssumedRole",
    error: str | None = None,
    when: str = "2026-11-28T12:00:00Z",
    key_id: str | None = KEY_ARN,
    resources: bool = True,
    region: str = "us-east-1",
    recipient: str = CALLER,
    **extra: Any,
) -> dict[str, Any]:
    """A KMS record as CloudTrail writes it (eventVersion 1.09)."""
    params: dict[str, Any] = {
        "encryptionContext": {"aws:s3:arn": "arn:aws:s3:::data-bucket/reports/2026.csv"},
        "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }
    if key_id is not None:
        params["keyId"] = key_id
    rec: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": copy.deepcopy(IDENTITIES[identity]),
        "eventTime": when,
        "eventSource": "kms.amazonaws.com",
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "10.0.0.1",
        "userAgent": "Boto3/1.34.11 md/Botocore#1.34.11 ua/2.0 os/linux#5.10 lang/python#3.11.6",
        "requestParameters": params,
        "responseElements": None,
        "requestID": new_id(),
        "eventID": event_id or new_id(),
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": recipient,
        "eventCategory": "Management",
    }
    if resources:
        rec["resources"] = [{"accountId": OWNER, "type": "AWS::KMS::Key", "ARN": KEY_ARN}]
    if error:
        rec["errorCode"] = error
        rec["errorMessage"] = (
            f"User: {SESSION_ARN} is not authorized to perform: kms:{name} on resource: {KEY_ARN} "
            f"because no resource-based policy allows the kms:{name} action"
        )
    rec.update(extra)
    return rec


def noise_record(*, event_id: str | None = None, n: int = 0) -> dict[str, Any]:
    rec = kms_record(event_id=event_id, name="DescribeInstances", resources=False, key_id=None)
    rec["eventSource"] = "ec2.amazonaws.com"
    rec["requestParameters"] = {"maxResults": n}
    return rec


def cross_account_pair(shared: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A successful cross-account Decrypt: the caller's copy and the key owner's copy."""
    shared = shared or new_id()
    caller = kms_record(sharedEventID=shared)
    owner = kms_record(identity="AWSAccount", recipient=OWNER, sharedEventID=shared)
    owner["requestID"] = caller["requestID"]
    return caller, owner


def trail_path(root: Path, account: str, region: str, when: dt.datetime, rand: str = "abcdEFGH12345678") -> Path:
    folder = root / "AWSLogs" / account / "CloudTrail" / region / when.strftime("%Y/%m/%d")
    return folder / f"{account}_CloudTrail_{region}_{when.strftime('%Y%m%dT%H%MZ')}_{rand}.json.gz"


def write_trail(
    root: Path,
    records: list[dict[str, Any]],
    *,
    account: str = CALLER,
    region: str = "us-east-1",
    when: dt.datetime | None = None,
    rand: str = "abcdEFGH12345678",
) -> Path:
    """Write a gzip CloudTrail log file ``{"Records": [...]}`` in the real S3 layout."""
    when = when or dt.datetime(2026, 11, 28, 12, 5, tzinfo=dt.UTC)
    path = trail_path(root, account, region, when, rand)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode(), mtime=0))
    return path


def write_digest(root: Path, account: str = CALLER, region: str = "us-east-1") -> Path:
    folder = root / "AWSLogs" / account / "CloudTrail-Digest" / region / "2026/11/28"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{account}_CloudTrail-Digest_{region}_trail_{region}_20261128T120000Z.json.gz"
    digest = {"awsAccountId": account, "digestPublicKeyFingerprint": "0" * 32, "logFiles": []}
    path.write_bytes(gzip.compress(json.dumps(digest).encode(), mtime=0))
    return path


def eventbridge(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": new_id(),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.kms",
        "account": CALLER,
        "time": record["eventTime"],
        "region": record["awsRegion"],
        "resources": [],
        "detail": record,
    }


def lookup_events(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Events": [
            {
                "EventId": r["eventID"],
                "EventName": r["eventName"],
                "ReadOnly": "true",
                "EventTime": "2026-11-28T12:00:00+00:00",
                "EventSource": r["eventSource"],
                "Username": "etl-run-42",
                "Resources": [],
                "CloudTrailEvent": json.dumps(r),
            }
            for r in records
        ]
    }
