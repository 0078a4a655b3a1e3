"""Fixtures for the remote sources: moto in server mode (a real HTTP endpoint), a trail bucket laid out
like CloudTrail's, and request counters hooked on botocore events."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from diag.ingest.remote.blob import RemoteBlob

ACCOUNT_A = "111111111111"
ACCOUNT_B = "222222222222"
ORG = "o-abcdef1234"
REGIONS = ("us-east-1", "eu-west-1")
DAYS = tuple(dt.date(2026, 11, d) for d in range(1, 6))  # 2026-11-01 .. 2026-11-05
BUCKET = "org-trail-logs"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean moto server; every boto3 client of the test (and of kmsdiag) talks to it."""
    req = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(req).read()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint


@dataclass
class Calls:
    """Counts of API calls made through one boto3 session, by operation name."""

    counts: Counter[str] = field(default_factory=Counter)
    keys: list[str] = field(default_factory=list)

    def hook(self, session: Any) -> None:
        def before_call(model: Any, params: Any, **_: Any) -> None:
            self.counts[model.name] += 1
            if model.name == "GetObject":
                self.keys.append(params["url_path"])

        session.events.register("before-call.s3", before_call)

    def reset(self) -> None:
        self.counts.clear()
        self.keys.clear()


def record(event_id: str, account: str, region: str, when: dt.datetime, *, error: str | None = None) -> dict[str, Any]:
    """A KMS Decrypt record shaped like CloudTrail's."""
    rec: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:app",
            "arn": f"arn:aws:sts::{account}:assumed-role/DataProcessingRole/app",
            "accountId": account,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": "AROAEXAMPLE",
                    "arn": f"arn:aws:iam::{account}:role/DataProcessingRole",
                    "accountId": account,
                    "userName": "DataProcessingRole",
                }
            },
        },
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "kms.amazonaws.com",
        "eventName": "Decrypt",
        "awsRegion": region,
        "sourceIPAddress": "10.0.0.1",
        "userAgent": "aws-sdk-java/1.12",
        "requestParameters": {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
        "responseElements": None,
        "requestID": f"req-{event_id}",
        "eventID": event_id,
        "readOnly": True,
        "resources": [
            {
                "accountId": ACCOUNT_A,
                "type": "AWS::KMS::Key",
                "ARN": f"arn:aws:kms:{region}:{ACCOUNT_A}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            }
        ],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    if error:
        rec["errorCode"] = error
        rec["errorMessage"] = "User is not authorized to perform: kms:Decrypt"
    return rec


def log_key(account: str, region: str, when: dt.datetime, suffix: str, *, org: str | None = ORG) -> str:
    base = f"AWSLogs/{org}/" if org else "AWSLogs/"
    return (
        f"{base}{account}/CloudTrail/{region}/{when:%Y/%m/%d}/"
        f"{account}_CloudTrail_{region}_{when:%Y%m%dT%H%MZ}_{suffix}.json.gz"
    )


def gz_records(records: list[dict[str, Any]]) -> bytes:
    return gzip.compress(json.dumps({"Records": records}).encode())


@dataclass
class TrailBucket:
    """What was put in the bucket, for assertions."""

    client: Any
    bucket: str
    log_keys: list[str] = field(default_factory=list)
    digest_keys: list[str] = field(default_factory=list)
    corrupt_keys: list[str] = field(default_factory=list)
    event_ids: dict[str, list[str]] = field(default_factory=dict)  # key -> event IDs

    def put_log(self, account: str, region: str, when: dt.datetime, suffix: str, n: int = 3, failures: int = 1) -> str:
        key = log_key(account, region, when, suffix)
        ids = [f"{account}-{region}-{when:%Y%m%d%H%M}-{suffix}-{i}" for i in range(n)]
        recs = [
            record(e, account, region, when, error="AccessDenied" if i < failures else None) for i, e in enumerate(ids)
        ]
        self.client.put_object(Bucket=self.bucket, Key=key, Body=gz_records(recs))
        self.log_keys.append(key)
        self.event_ids[key] = ids
        return key


@pytest.fixture
def trail_bucket(moto: str) -> TrailBucket:
    """Two accounts (org trail layout) x two regions x five days, one log file per day at 12:05,
    digest files beside them, and one corrupt (truncated gzip) object on 2026-11-03 in account A."""
    import boto3

    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    tb = TrailBucket(client, BUCKET)
    for account in (ACCOUNT_A, ACCOUNT_B):
        for region in REGIONS:
            for day in DAYS:
                when = dt.datetime(day.year, day.month, day.day, 12, 5)
                tb.put_log(account, region, when, "aaaa")
                dkey = (
                    f"AWSLogs/{ORG}/{account}/CloudTrail-Digest/{region}/{day:%Y/%m/%d}/"
                    f"{account}_CloudTrail-Digest_{region}_trail_{region}_{when:%Y%m%dT%H%MZ}.json.gz"
                )
                client.put_object(Bucket=BUCKET, Key=dkey, Body=gzip.compress(b'{"digestStartTime": "x"}'))
                tb.digest_keys.append(dkey)
    bad = log_key(ACCOUNT_A, "us-east-1", dt.datetime(2026, 11, 3, 18, 0), "corrupt")
    client.put_object(
        Bucket=BUCKET, Key=bad, Body=gz_records([record("x", ACCOUNT_A, "us-east-1", dt.datetime(2026, 11, 3))])[:40]
    )
    tb.corrupt_keys.append(bad)
    return tb


class Recorder:
    """Stands in for the ingester: records what the source hands over (names, parsed records)."""

    def __init__(self) -> None:
        self.blobs: list[RemoteBlob] = []

    def __call__(self, con: Any, blobs: Iterable[RemoteBlob]) -> Mapping[str, Any]:
        for b in blobs:
            self.blobs.append(b)
        return {"files": len(self.blobs)}

    def records(self) -> list[dict[str, Any]]:
        out = []
        for b in self.blobs:
            doc = json.loads(b.data)
            if "Events" in doc:
                out.extend(json.loads(e["CloudTrailEvent"]) for e in doc["Events"])
            else:
                out.extend(doc["Records"])
        return out

    def event_ids(self) -> list[str]:
        return [r["eventID"] for r in self.records()]
