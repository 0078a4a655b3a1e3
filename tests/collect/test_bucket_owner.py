"""One owner per bucket: live collection when a bucket is seen in the CloudTrail of two accounts.

A cross-account S3 call is logged by the caller's trail and by the bucket owner's; a bucket listed in
``[collect].buckets`` can also appear in another account's events. Live collection used to read such a
bucket once per account and crash on the duplicate ``bucket_policies`` row (exit 70), so a live
``nightly`` wrote no report. These tests run against moto in server mode (a separate HTTP endpoint) with two
accounts reached through AssumeRole, and, for the ``ExpectedBucketOwner`` answer that moto does not
implement, against in-process moto with AWS's documented refusal injected below botocore.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.collect.world import COLLECTOR, A, assume, build_world

REGION = "us-east-1"
SHARED = "data-bucket-aaa"  # A's bucket (world.py), listed in [collect].buckets, read by B's role too


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto server of our own (another thread, talking HTTP), every boto3 client pointed at it."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")).read()
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    yield url
    server.stop()


def _s3_event(n: int, bucket: str, *, caller: str, recipient: str, owner: str | None) -> dict[str, Any]:
    """An S3 GetObject data event shaped like CloudTrail's (AWS documentation's S3 examples)."""
    resources: list[dict[str, Any]] = [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/raw/{n}.csv"}]
    resources.append(
        {"type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}", **({"accountId": owner} if owner else {})}
    )
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:etl",
            "arn": f"arn:aws:sts::{caller}:assumed-role/DataProcessingRole/etl",
            "accountId": caller,
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE",
                                                 "arn": f"arn:aws:iam::{caller}:role/DataProcessingRole",
                                                 "accountId": caller, "userName": "DataProcessingRole"}},
        },
        "eventTime": f"2026-11-28T10:{n:02d}:00Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": REGION,
        "sourceIPAddress": "10.0.0.1",
        "userAgent": "[aws-cli/2.15.0]",
        "requestParameters": {"bucketName": bucket, "key": f"raw/{n}.csv", "Host": f"{bucket}.s3.amazonaws.com"},
        "responseElements": None,
        "requestID": f"REQ{n}",
        "eventID": f"s3-{n}-{recipient}",
        "readOnly": True,
        "resources": resources,
        "eventType": "AwsApiCall",
        "managementEvent": False,
        "recipientAccountId": recipient,
        "sharedEventID": f"shared-{n}",
        "eventCategory": "Data",
    }  # fmt: skip


def _both_trails(n: int, bucket: str, *, caller: str, owner: str, with_owner_field: bool) -> list[dict[str, Any]]:
    """The copy in the caller's trail and the copy in the bucket owner's trail of one cross-account call."""
    named = owner if with_owner_field else None
    return [
        _s3_event(n, bucket, caller=caller, recipient=caller, owner=named),
        _s3_event(n, bucket, caller=caller, recipient=owner, owner=named),
    ]


def _world_with_buckets(tmp_path: Path) -> tuple[Any, dict[str, str], Path, Path]:
    w = build_world()
    b = assume(w.b).client("s3")
    raw, logs = f"datalake-raw-{w.b}", f"shared-logs-{w.b}"
    for name in (raw, logs):
        b.create_bucket(Bucket=name)
    b.put_bucket_policy(Bucket=raw, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "ReadFromA", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
         "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{raw}/*"}]}))  # fmt: skip
    records = [
        *_both_trails(1, raw, caller=A, owner=w.b, with_owner_field=True),  # A reads B's bucket
        *_both_trails(2, logs, caller=A, owner=w.b, with_owner_field=False),  # no resources[].accountId
        *_both_trails(3, SHARED, caller=w.b, owner=A, with_owner_field=False),  # B reads A's configured bucket
    ]
    trail = tmp_path / "trails.json"
    trail.write_text(json.dumps({"Records": records}))
    cfg = tmp_path / "kmsdiag.toml"
    cfg.write_text(
        f'[collect]\nregions = ["{REGION}"]\nbuckets = ["{SHARED}"]\nmax_workers = 2\n\n'
        f'[[accounts]]\nid = "{A}"\nrole_arn = "arn:aws:iam::{A}:role/{COLLECTOR}"\n\n'
        f'[[accounts]]\nid = "{w.b}"\nrole_arn = "arn:aws:iam::{w.b}:role/{COLLECTOR}"\n'
    )
    return w, {raw: w.b, logs: w.b, SHARED: A}, trail, cfg


def _bucket_rows(db: Path) -> list[tuple[str, str, bool]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "SELECT bucket, account, policy_known FROM bucket_policies"
            " WHERE snapshot_id = (SELECT max(snapshot_id) FROM snapshots) ORDER BY bucket"
        ).fetchall()
    finally:
        con.close()


def test_live_collect_stores_each_bucket_once_under_its_owner(
    moto_server: str, tmp_path: Path, db_path: Path, run_cli: Any
) -> None:
    w, owners, trail, cfg = _world_with_buckets(tmp_path)
    code, _, err = run_cli("--db", db_path, "-q", "ingest", trail)
    assert code == 0, err
    code, out, err = run_cli("--db", db_path, "--json", "collect", "--config", cfg, "--out-dir", tmp_path / "bundle")
    assert code == 0, err  # was exit 70: duplicate key "…, datalake-raw-…"
    rows = _bucket_rows(db_path)
    assert [(b, a) for b, a, _ in rows] == sorted(owners.items())
    assert all(known for _, _, known in rows)
    # the bundle holds each bucket under its owner only, and loads back to the same rows
    bundle = tmp_path / "bundle"
    assert {p.parent.parent.parent.name for p in bundle.glob("*/s3/*/get-bucket-location.json")} == {A, w.b}
    for bucket, owner in owners.items():
        assert [p.parts[-4] for p in bundle.glob(f"*/s3/{bucket}/get-bucket-location.json")] == [owner]
    code, _, err = run_cli("--db", db_path, "-q", "collect", "--from-dir", bundle)
    assert code == 0, err
    assert _bucket_rows(db_path) == rows


def test_live_nightly_writes_its_report(moto_server: str, tmp_path: Path, db_path: Path, run_cli: Any) -> None:
    _w, owners, trail, cfg = _world_with_buckets(tmp_path)
    report = tmp_path / "reports" / "nightly.html"
    code, out, err = run_cli(
        "--db", db_path, "-q", "nightly", trail, "--config", cfg, "--since", "3650d", "--out", report
    )
    assert code == 0, err
    assert report.is_file() and "<html" in report.read_text()[:400].lower()
    assert [(b, a) for b, a, _ in _bucket_rows(db_path)] == sorted(owners.items())
