"""AWS faults, least privilege and secrets, on real moto-backed boto3 clients.

Faults are injected under botocore's retry loop (tests/reliability/awsworld.py): throttling and timeouts
are retried; AccessDenied, expired credentials and a disabled region become gaps with a clear message;
the run finishes with everything else collected.
"""

from __future__ import annotations

import gzip
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from moto import mock_aws

from diag.collect.live import collect_live
from diag.collect.permissions import READ_ONLY_ACTIONS, read_only_policy
from diag.config import AccountConfig, Config
from diag.store import open_db
from tests.reliability.awsworld import REGION, build_account, faults, user_with_policy
from tests.reliability.crashutil import REPO

pytestmark = pytest.mark.slow  # kill loops, moto servers or fuzzing budgets: `python3 -m pytest -m slow`

DISABLED_REGION = "ap-east-1"


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        yield build_account()


def _config(regions: tuple[str, ...] = (REGION,)) -> Config:
    return Config(accounts=(AccountConfig(),), regions=regions, buckets=("kmsdiag-data-bucket",), max_workers=2)


def _gaps(con: Any, snapshot_id: int) -> list[tuple[str, str, str, str]]:
    return con.execute(
        "SELECT what, call, coalesce(resource, ''), error FROM collection_gaps WHERE snapshot_id = ? ORDER BY 1, 2, 3",
        [snapshot_id],
    ).fetchall()


def test_collect_faults_retried_or_recorded_as_gaps(aws: dict[str, Any], db_path: Path) -> None:
    data_key, logs_key, refused_key = aws["keys"]
    counts: dict[str, int] = {}

    def decide(op: str, request: Any) -> Any:
        counts[op] = counts.get(op, 0) + 1
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        if DISABLED_REGION in request.url:
            return "UnrecognizedClientException"  # opt-in region not enabled for the account
        if op == "ListKeys" and counts[op] <= 2:
            return "ThrottlingException"
        if op == "DescribeKey" and logs_key in body and counts[op] <= 3:
            return ReadTimeoutError(endpoint_url=request.url)
        if op == "ListAliases" and counts[op] == 1:
            return EndpointConnectionError(endpoint_url=request.url)
        if op == "GetKeyPolicy" and refused_key in body:
            return "AccessDeniedException"
        if op == "GetAccountAuthorizationDetails":
            return "ExpiredTokenException"  # credentials expired mid-run
        if op == "GetBucketPolicy" and counts[op] == 1:
            return "SlowDown"
        return None

    con = open_db(db_path)
    with faults(decide) as injected:
        result = collect_live(con, _config((REGION, DISABLED_REGION)))
    sid = result.snapshot_id
    kinds = {k for _, k in injected}
    assert {"ThrottlingException", "ReadTimeoutError", "EndpointConnectionError", "AccessDeniedException",
            "ExpiredTokenException", "UnrecognizedClientException", "SlowDown"} <= kinds  # fmt: skip
    gaps = _gaps(con, sid)
    errors = {g[3] for g in gaps}
    assert "AccessDeniedException" in errors and "ExpiredTokenException" in errors
    assert "UnrecognizedClientException" in errors
    assert not errors & {"ThrottlingException", "ReadTimeoutError", "EndpointConnectionError", "SlowDown"}, gaps
    assert any(refused_key in g[2] and g[3] == "AccessDeniedException" for g in gaps)
    assert any(
        DISABLED_REGION in g[2] or DISABLED_REGION in g[1] for g in gaps if g[3] == "UnrecognizedClientException"
    )
    # everything else was collected: all three keys described, two key policies, the bucket, the alias
    n_keys = con.execute("SELECT count(*) FROM keys WHERE snapshot_id = ?", [sid]).fetchone()[0]
    n_pol = con.execute(
        "SELECT count(*) FROM key_policies WHERE snapshot_id = ? AND policy IS NOT NULL", [sid]
    ).fetchone()[0]
    n_alias = con.execute("SELECT count(*) FROM aliases WHERE snapshot_id = ?", [sid]).fetchone()[0]
    buckets = con.execute("SELECT bucket, policy_known FROM bucket_policies WHERE snapshot_id = ?", [sid]).fetchall()
    assert (n_keys, n_pol) == (3, 2) and n_alias >= 1 and buckets == [("kmsdiag-data-bucket", True)]
    how = con.execute(
        "SELECT how_to_collect FROM collection_gaps WHERE snapshot_id = ? AND error = 'AccessDeniedException'", [sid]
    ).fetchall()
    assert all(h[0] and "aws " in h[0] for h in how), how  # the gap says how to fill it
    con.close()


def test_collect_cli_exit_code_with_gaps_and_when_everything_is_refused(
    aws: dict[str, Any], tmp_path: Path, run_cli: Any
) -> None:
    with faults(lambda op, req: "AccessDeniedException" if op == "GetKeyPolicy" else None):
        code, out, err = run_cli("--db", tmp_path / "a.duckdb", "--json", "collect", "--region", REGION)
    assert code == 0, err  # gaps are data, not a failure
    assert any(g["error"] == "AccessDeniedException" for g in json.loads(out)["gaps"])
    with faults(lambda op, req: "ExpiredTokenException" if op == "GetCallerIdentity" else None):
        code, out, err = run_cli("--db", tmp_path / "b.duckdb", "collect", "--region", REGION)
    assert code == 4, err
    assert "Traceback" not in err and "ExpiredToken" in err


def _trail_bucket(n_files: int = 6) -> str:
    import boto3

    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="trail-logs")
    base = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/01/"
    for i in range(n_files):
        rec = {"eventID": f"ev-{i}", "eventTime": "2026-11-01T10:00:00Z", "eventSource": "kms.amazonaws.com",
               "eventName": "Decrypt", "awsRegion": REGION, "errorCode": "AccessDenied", "recipientAccountId": "123456789012"}  # fmt: skip
        key = f"{base}123456789012_CloudTrail_us-east-1_20261101T10{i:02d}Z_x{i}.json.gz"
        s3.put_object(Bucket="trail-logs", Key=key, Body=gzip.compress(json.dumps({"Records": [rec]}).encode()))
    # hostile keys: traversal in the object key must stay a name, never a path on disk
    s3.put_object(Bucket="trail-logs", Key=base + "../../../../../../tmp/kmsdiag-escape.json.gz", Body=b"x")
    return "s3://trail-logs/AWSLogs/"


def test_s3_ingest_faults(aws: dict[str, Any], tmp_path: Path, run_cli: Any) -> None:
    uri = _trail_bucket()
    counts: dict[str, int] = {}

    def decide(op: str, request: Any) -> Any:
        counts[op] = counts.get(op, 0) + 1
        if op == "ListObjectsV2" and counts[op] == 1:
            return "SlowDown"
        if op == "GetObject" and "x1.json.gz" in request.url:
            return "AccessDenied"
        if op == "GetObject" and "x2.json.gz" in request.url and counts[op] <= 8:
            return ReadTimeoutError(endpoint_url=request.url)
        if op == "GetObject" and counts[op] == 2:
            return "ThrottlingException"
        return None

    db = tmp_path / "s3.duckdb"
    with faults(decide) as injected:
        code, out, err = run_cli("--db", db, "--json", "ingest", uri, "--since", "3650d")
    assert code == 0, err
    assert {"SlowDown", "AccessDenied", "ReadTimeoutError"} <= {k for _, k in injected}
    (src,) = json.loads(out)["sources"]
    denied = [e for e in src["fetch_errors"] if "x1.json.gz" in e["path"]]
    assert denied and "AccessDenied" in denied[0]["error"]
    con = duckdb.connect(str(db), read_only=True)
    ids = {r[0] for r in con.execute("SELECT event_id FROM events").fetchall()}
    paths = [r[0] for r in con.execute("SELECT path FROM ingested_files").fetchall()]
    con.close()
    assert ids == {f"ev-{i}" for i in range(6)} - {"ev-1"}
    assert all(p.startswith("s3://trail-logs/") for p in paths)
    assert not Path("/tmp/kmsdiag-escape.json.gz").exists()
    # the denied object is retried next run (not recorded as ingested)
    code, out, err = run_cli("--db", db, "--json", "ingest", uri, "--since", "3650d")
    assert code == 0, err
    assert json.loads(out)["sources"][0]["objects_fetched"] >= 1  # the denied object is tried again
    with faults(lambda op, req: "ExpiredToken" if op == "ListObjectsV2" else None):
        code, out, err = run_cli("--db", db, "ingest", uri, "--since", "3650d")
    assert code == 4, err
    assert "ExpiredToken" in err and "Traceback" not in err


# ----------------------------------------------------------------------------------- least privilege


@pytest.fixture
def enforce_iam(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """From here on moto authenticates and authorizes every request (IAM-like access control)."""
    from moto import settings
    from moto.core.responses import ActionAuthenticatorMixin

    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    monkeypatch.setattr(ActionAuthenticatorMixin, "request_count", 0)
    yield


# moto authorizes `GET /bucket?encryption` (GetBucketEncryption) as s3:ListBucket (its S3 ACTION_MAP has no
# "encryption" entry and falls back to the bucket GET default), where AWS checks s3:GetEncryptionConfiguration.
# The policy given to moto adds the moto name next to (never instead of) the documented action.
# moto authorizes some S3 calls under its own action names instead of AWS's IAM actions, and the names
# changed between moto releases (5.0: GetBucketEncryption as s3:ListBucket; 5.2: s3:GetBucketEncryption,
# ListObjectsV2 as s3:ListObjectsV2). Each AWS action is granted together with moto's names for it.
MOTO_ACTION_NAMES = {
    "s3:GetEncryptionConfiguration": ("s3:ListBucket", "s3:GetBucketEncryption"),
    "s3:ListBucket": ("s3:ListObjects", "s3:ListObjectsV2"),
}


def _for_moto(policy: dict[str, Any]) -> dict[str, Any]:
    statements = []
    for st in policy["Statement"]:
        given = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        actions = list(given) + [m for a in given for m in MOTO_ACTION_NAMES.get(a, ())]
        statements.append({**st, "Action": actions})
    return {**policy, "Statement": statements}


def _denied(error: str) -> bool:
    """moto answers an unauthorized KMS call with a bare 403, IAM and S3 with AccessDenied."""
    return "denied" in error.lower() or "unauthorized" in error.lower() or error == "403"


def _collect_as(user_key: dict[str, str], db: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str, str]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", user_key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", user_key["SecretAccessKey"])
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    con = open_db(db)
    try:
        result = collect_live(con, _config())
        return _gaps(con, result.snapshot_id)
    finally:
        con.close()


def test_documented_policy_is_the_code_constant() -> None:
    page = (REPO / "docs" / "collect.md").read_text()
    for action in READ_ONLY_ACTIONS:
        assert f'"{action}"' in page, f"docs/collect.md's collect policy lacks {action}"


def test_collect_succeeds_with_exactly_the_documented_policy(
    aws: dict[str, Any], db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = user_with_policy("kmsdiag-collector", _for_moto(read_only_policy()))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("moto.settings.INITIAL_NO_AUTH_ACTION_COUNT", 0)
        mp.setattr("moto.core.responses.ActionAuthenticatorMixin.request_count", 0)
        gaps = _collect_as(key, db_path, monkeypatch)
    denied = [g for g in gaps if _denied(g[3])]
    assert denied == [], f"the code called actions the documented policy does not allow: {denied}"
    con = duckdb.connect(str(db_path), read_only=True)
    assert con.execute("SELECT count(*) FROM keys").fetchone()[0] == 3
    assert con.execute("SELECT count(*) FROM key_policies WHERE policy IS NOT NULL").fetchone()[0] == 3
    con.close()


@pytest.mark.parametrize("dropped", ["kms:GetKeyPolicy", "iam:GetAccountAuthorizationDetails", "s3:GetBucketPolicy"])
def test_enforcement_is_real_a_missing_action_is_a_denied_gap(
    aws: dict[str, Any], db_path: Path, monkeypatch: pytest.MonkeyPatch, dropped: str
) -> None:
    """Negative control: without one listed action, moto refuses it and kmsdiag records the gap."""
    policy = read_only_policy()
    policy["Statement"][0]["Action"] = [a for a in READ_ONLY_ACTIONS if a != dropped]
    key = user_with_policy("kmsdiag-partial", _for_moto(policy))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("moto.settings.INITIAL_NO_AUTH_ACTION_COUNT", 0)
        mp.setattr("moto.core.responses.ActionAuthenticatorMixin.request_count", 0)
        gaps = _collect_as(key, db_path, monkeypatch)
    call = {"kms:GetKeyPolicy": "get-key-policy", "iam:GetAccountAuthorizationDetails": "get-account-authorization",
            "s3:GetBucketPolicy": "get-bucket-policy"}[dropped]  # fmt: skip
    denied = [g for g in gaps if _denied(g[3])]
    assert denied and all(call in g[1] for g in denied), (dropped, gaps)


S3_INGEST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::trail-logs"},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::trail-logs/*"},
    ],
}


def test_s3_ingest_succeeds_with_list_and_get_only(
    aws: dict[str, Any], tmp_path: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = _trail_bucket()
    key = user_with_policy("kmsdiag-reader", _for_moto(S3_INGEST_POLICY))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("moto.settings.INITIAL_NO_AUTH_ACTION_COUNT", 0)
        mp.setattr("moto.core.responses.ActionAuthenticatorMixin.request_count", 0)
        code, out, err = run_cli("--db", tmp_path / "s.duckdb", "--json", "ingest", uri, "--since", "3650d")
    assert code == 0, err
    (src,) = json.loads(out)["sources"]
    assert src["fetch_errors"] == [] and src["ingest"]["events_stored"] == 6


# -------------------------------------------------------------------------------------------- secrets

CANARY_KEY_ID = "AKIAKMSDIAGCANARY001"
CANARY_SECRET = "kmsdiagCanarySecret/Do+Not+Store/0123456789abcdefXYZ"
CANARY_TOKEN = "kmsdiagCanarySessionToken//FwoGZXIvYXdzEJr+canary+0123456789"
SIGNED_MARKERS = ("X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token", "aws_session_token")


def _scan(blob: bytes, where: str, extra: tuple[str, ...]) -> None:
    for secret in (CANARY_SECRET, CANARY_TOKEN, *extra, *SIGNED_MARKERS):
        assert secret.encode() not in blob, f"{secret[:24]}… found in {where}"


def test_no_secret_reaches_database_bundle_logs_or_reports(
    aws: dict[str, Any], tmp_path: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from botocore.client import BaseClient

    uri = _trail_bucket()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CANARY_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", CANARY_TOKEN)
    issued: list[str] = []  # temporary credentials returned by STS during the run are secrets too
    real = BaseClient._make_api_call

    def record(self: Any, operation: str, params: Any) -> Any:
        out = real(self, operation, params)
        creds = out.get("Credentials") if isinstance(out, dict) else None
        if creds:
            issued.extend([creds["SecretAccessKey"], creds["SessionToken"]])
        return out

    monkeypatch.setattr(BaseClient, "_make_api_call", record)
    # kmsdiag's own loggers at every level; third-party ones at INFO and above. (botocore's DEBUG wire log
    # prints request headers, session token included, but only if the application turns it on: kmsdiag
    # configures no logging and never does.)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="diag")
    db = tmp_path / "s.duckdb"
    bundle = tmp_path / "bundle"
    report = tmp_path / "r.html"
    streams = []
    role = f"arn:aws:iam::{aws['account']}:role/App"
    for args in (
        ("collect", "--region", REGION, "--bucket", "kmsdiag-data-bucket", "--out-dir", bundle),
        ("collect", "--role-arn", role, "--region", REGION),
        ("ingest", uri, "--since", "3650d"),
        ("diagnose",),
        ("report", "--since", "3650d", "--out", report),
        ("report", "--since", "3650d", "--format", "md", "--out", "-"),
        ("explain", "ev-0"),
        ("--json", "explain", "ev-0"),
        ("explain", "--error", f"User: {role} is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:{aws['account']}:key/{aws['keys'][0]} {CANARY_KEY_ID}"),
    ):  # fmt: skip
        code, out, err = run_cli("--db", db, "--debug", *args) if args[0] == "report" else run_cli("--db", db, *args)
        streams.append(out + err)
    extra = tuple(issued)
    for i, text in enumerate(streams):
        _scan(text.encode(), f"output stream {i}", extra)
    _scan("\n".join(r.getMessage() for r in caplog.records).encode(), "logs", extra)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".duckdb" for p in files) and any(p.parent.name == "iam" for p in files)
    for path in files:
        _scan(path.read_bytes(), str(path), extra)
    con = duckdb.connect(str(db), read_only=True)  # the DuckDB file may compress strings: ask SQL too
    tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall()]
    for table in tables:
        for secret in (CANARY_SECRET, CANARY_TOKEN, *extra):
            n = con.execute(
                f'SELECT count(*) FROM "{table}" t WHERE strpos(CAST(t AS VARCHAR), ?) > 0', [secret]
            ).fetchone()[0]
            assert n == 0, f"{secret[:20]}… stored in table {table}"
    con.close()


def test_database_and_bundle_are_owner_only(aws: dict[str, Any], tmp_path: Path, run_cli: Any) -> None:
    old = os.umask(0o022)  # a permissive umask, as on most machines
    try:
        db = tmp_path / "m.duckdb"
        bundle = tmp_path / "bundle"
        code, _o, err = run_cli("--db", db, "collect", "--region", REGION, "--out-dir", bundle)
        assert code == 0, err
        code, _o, err = run_cli("--db", db, "-q", "nightly", "--no-collect")
        assert code == 0, err
    finally:
        os.umask(old)
    for path in [db, Path(str(db) + ".wal"), Path(str(db) + ".lock")]:
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o700
    for path in bundle.rglob("*"):
        want = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == want, path
