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
from contextlib import contextmanager
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


@pytest.mark.slow  # a moto server
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


@pytest.mark.slow  # a moto server
def test_live_nightly_writes_its_report(moto_server: str, tmp_path: Path, db_path: Path, run_cli: Any) -> None:
    _w, owners, trail, cfg = _world_with_buckets(tmp_path)
    report = tmp_path / "reports" / "nightly.html"
    code, out, err = run_cli(
        "--db", db_path, "-q", "nightly", trail, "--config", cfg, "--since", "3650d", "--out", report
    )
    assert code == 0, err
    assert report.is_file() and "<html" in report.read_text()[:400].lower()
    assert [(b, a) for b, a, _ in _bucket_rows(db_path)] == sorted(owners.items())


# ------------------------------------------------------------------ ExpectedBucketOwner, as AWS answers it


class _XmlBody:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


@contextmanager
def _expected_owner_refusals() -> Iterator[list[str]]:
    """AWS refuses a bucket call whose x-amz-expected-bucket-owner is not the bucket's owner (403
    AccessDenied, an XML error body); moto ignores the header, so that answer is given below botocore's
    retry loop for such calls (everything else reaches moto)."""
    from botocore.awsrequest import AWSResponse
    from botocore.endpoint import Endpoint
    from moto.s3.models import s3_backends

    real = Endpoint._do_get_response
    refused: list[str] = []

    def patched(self: Any, request: Any, operation_model: Any, context: Any) -> Any:
        expected = request.headers.get("x-amz-expected-bucket-owner")
        if expected is None:
            return real(self, request, operation_model, context)
        expected = expected.decode() if isinstance(expected, bytes) else str(expected)
        rest = request.url.split("//", 1)[1]
        bucket = rest.split(".s3", 1)[0] if ".s3" in rest.split("/", 1)[0] else rest.split("/")[1].split("?")[0]
        owner = s3_backends.bucket_accounts.get(bucket, ("aws", None))[1]
        if expected == owner:
            return real(self, request, operation_model, context)
        refused.append(f"{operation_model.name} {bucket} as {expected}")
        body = b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>'
        http = AWSResponse(request.url, 403, {}, _XmlBody(body))
        parsed = {
            "Error": {"Code": "AccessDenied", "Message": "Access Denied"},
            "ResponseMetadata": {"HTTPStatusCode": 403, "HTTPHeaders": {}, "RetryAttempts": 0},
        }
        return (http, parsed), None

    Endpoint._do_get_response = patched  # type: ignore[method-assign]
    try:
        yield refused
    finally:
        Endpoint._do_get_response = real  # type: ignore[method-assign]


def test_expected_bucket_owner_decides_when_the_trails_do_not(tmp_path: Path, db_path: Path) -> None:
    """Only B's trail saw A's bucket (B's own call): B is asked first, AWS refuses, A is the owner. A bucket
    that no configured account owns becomes a gap naming every refusal; collection goes on."""
    from moto import mock_aws

    from diag.collect.live import collect_live
    from diag.config import AccountConfig, Config
    from diag.store import open_db

    with mock_aws():
        w = build_world()
        stranger = "333333333333"
        assume(stranger).client("s3").create_bucket(Bucket="vendor-drop-333")
        con = open_db(db_path)
        for n, (bucket, owner) in enumerate(((SHARED, None), ("vendor-drop-333", None)), 1):
            rec = _s3_event(n, bucket, caller=w.b, recipient=w.b, owner=owner)
            con.execute(
                "INSERT INTO events (event_id, event_time, event_source, event_name, bucket, recipient_account,"
                " caller_account, raw) VALUES (?, TIMESTAMP '2026-11-28 10:00:00', 's3.amazonaws.com', 'GetObject',"
                " ?, ?, ?, ?)",
                [rec["eventID"], bucket, w.b, w.b, json.dumps(rec)],
            )
        cfg = Config(
            accounts=(
                AccountConfig(account_id=A, role_arn=f"arn:aws:iam::{A}:role/{COLLECTOR}"),
                AccountConfig(account_id=w.b, role_arn=f"arn:aws:iam::{w.b}:role/{COLLECTOR}"),
            ),
            regions=(REGION,),
            max_workers=2,
        )
        with _expected_owner_refusals() as injected:
            result = collect_live(con, cfg)
        assert f"GetBucketLocation {SHARED} as {w.b}" in injected  # B was asked first, and refused
        rows = con.execute(
            "SELECT bucket, account, policy_known, encryption_known FROM bucket_policies WHERE snapshot_id = ?"
            " ORDER BY bucket",
            [result.snapshot_id],
        ).fetchall()
        assert rows == [(SHARED, A, True, True), ("vendor-drop-333", w.b, False, False)]
        gaps = con.execute(
            "SELECT account, call, error, message FROM collection_gaps WHERE snapshot_id = ? AND resource = ?"
            " ORDER BY call",
            [result.snapshot_id, "vendor-drop-333"],
        ).fetchall()
        assert [g[1] for g in gaps] == [
            "s3api get-bucket-encryption",
            "s3api get-bucket-location",
            "s3api get-bucket-policy",
        ]
        assert all(g[0] == w.b and "not confirmed" in g[3] and A in g[3] and w.b in g[3] for g in gaps), gaps
        assert dict((g[1], g[2]) for g in gaps)["s3api get-bucket-location"] == "AccessDenied"
        assert not con.execute(
            "SELECT count(*) FROM collection_gaps WHERE snapshot_id = ? AND resource = ?", [result.snapshot_id, SHARED]
        ).fetchone()[0]
        con.close()


def test_bundle_with_one_bucket_under_two_accounts_loads_once(tmp_path: Path, db_path: Path, run_cli: Any) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text('{"collected_at": "2026-11-28T12:00:00Z"}')
    for account, policy in (("111111111111", {"Version": "2012-10-17", "Statement": []}), ("222222222222", None)):
        folder = bundle / account / "s3" / "shared-bucket"
        folder.mkdir(parents=True)
        (folder / "get-bucket-location.json").write_text('{"LocationConstraint": "eu-west-1"}')
        if policy is not None:
            (folder / "get-bucket-policy.json").write_text(json.dumps({"Policy": json.dumps(policy)}))
    code, out, err = run_cli("--db", db_path, "--json", "collect", "--from-dir", bundle)
    assert code == 0, err  # was exit 70: duplicate key
    assert _bucket_rows(db_path) == [("shared-bucket", "111111111111", True)]
    dup = [g for g in json.loads(out)["gaps"] if g["error"] == "DuplicateBucket"]
    assert [(g["account"], g["resource"]) for g in dup] == [("222222222222", "shared-bucket")]
