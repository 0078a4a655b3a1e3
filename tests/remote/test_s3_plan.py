"""S3 trail-bucket listing: prefix pruning by date/account/region, counted on the wire (moto server)."""

from __future__ import annotations

import datetime as dt

import boto3
import pytest

from diag.errors import NotFoundError, UsageError
from diag.ingest.sources.s3 import fetch_blobs, plan_s3
from diag.ingest.sources.s3_layout import (
    TrailScope,
    file_time,
    parse_s3_uri,
    transform_day_prefixes,
    transform_layout_position,
)
from tests.remote.conftest import ACCOUNT_A, ACCOUNT_B, BUCKET, ORG, Calls, TrailBucket

NOW = dt.datetime(2026, 11, 6, 9, 0)


def counted_client() -> tuple[object, Calls]:
    session = boto3.Session(region_name="us-east-1")
    calls = Calls()
    calls.hook(session)
    return session.client("s3"), calls


def test_parse_uri_and_layout_position() -> None:
    assert parse_s3_uri("s3://b") == parse_s3_uri("s3://b/")
    assert parse_s3_uri("s3://b/trail").prefix == "trail/"
    with pytest.raises(UsageError):
        parse_s3_uri("/local/path")
    assert transform_layout_position("").root == "AWSLogs/"
    assert transform_layout_position("trail/").root == "trail/AWSLogs/"
    pos = transform_layout_position(f"x/AWSLogs/{ORG}/{ACCOUNT_A}/CloudTrail/us-east-1/2026/11/")
    assert (pos.root, pos.org, pos.account, pos.region, pos.tail) == (
        "x/AWSLogs/",
        ORG,
        ACCOUNT_A,
        "us-east-1",
        "2026/11/",
    )
    with pytest.raises(UsageError):
        transform_layout_position(f"AWSLogs/{ACCOUNT_A}/CloudTrail-Digest/")


def test_day_prefixes_cover_the_window_plus_delivery_slack() -> None:
    w = TrailScope(since=dt.datetime(2026, 11, 2, 10), until=dt.datetime(2026, 11, 4))
    assert transform_day_prefixes("R/", w, now=NOW) == ["R/2026/11/02/", "R/2026/11/03/", "R/2026/11/04/"]
    assert transform_day_prefixes("R/", TrailScope(), now=NOW) == ["R/"]
    assert transform_day_prefixes("R/", w, "2026/11/03/", now=NOW) == ["R/2026/11/03/"]
    assert file_time("a/111111111111_CloudTrail_us-east-1_20261128T1205Z_x.json.gz") == dt.datetime(2026, 11, 28, 12, 5)
    assert file_time("a/other.json.gz") is None


def test_account_and_date_pruning_counts_list_and_get_requests(trail_bucket: TrailBucket) -> None:
    client, calls = counted_client()
    window = TrailScope(since=dt.datetime(2026, 11, 4), until=dt.datetime(2026, 11, 5), accounts=(ACCOUNT_A,))
    plan = plan_s3(client, parse_s3_uri(f"s3://{BUCKET}"), window, {}, now=NOW)
    # 1 delimiter listing of AWSLogs/ (finds the org folder), 1 of A's CloudTrail/ (regions),
    # then one per region x day: days 04 and 05 (05 for files delivered just after --until).
    assert calls.counts["ListObjectsV2"] == 1 + 1 + 2 * 2
    assert all(ACCOUNT_A in p and ("/2026/11/04/" in p or "/2026/11/05/" in p) for p in plan.prefixes_listed)
    # Day 05's 12:05 files are past --until + 1h: listed, not fetched.
    assert {o.key.split("/")[7] for o in plan.to_fetch} == {"04"}
    assert len(plan.to_fetch) == 2
    assert plan.skipped_outside_window == 2
    assert calls.counts["GetObject"] == 0
    blobs = list(fetch_blobs(client, BUCKET, plan.to_fetch, workers=4))
    assert calls.counts["GetObject"] == 2
    assert {b.name for b in blobs} == {f"s3://{BUCKET}/{o.key}" for o in plan.to_fetch}
    assert all(b.source == "s3" and b.etag and b.size == len(b.data) for b in blobs)


def test_region_given_skips_region_discovery(trail_bucket: TrailBucket) -> None:
    client, calls = counted_client()
    window = TrailScope(since=dt.datetime(2026, 11, 1), until=dt.datetime(2026, 11, 2), regions=("eu-west-1",))
    plan = plan_s3(client, parse_s3_uri(f"s3://{BUCKET}/"), window, {}, now=NOW)
    # AWSLogs/ (org), org folder (accounts), then 2 accounts x days 01, 02.
    assert calls.counts["ListObjectsV2"] == 1 + 1 + 2 * 2
    assert {o.key.split("/")[2] for o in plan.to_fetch} == {ACCOUNT_A, ACCOUNT_B}
    assert all("/eu-west-1/2026/11/01/" in o.key for o in plan.to_fetch)


def test_digests_never_fetched_and_known_etags_skipped(trail_bucket: TrailBucket) -> None:
    client, calls = counted_client()
    target = parse_s3_uri(f"s3://{BUCKET}")
    plan = plan_s3(client, target, TrailScope(), {}, now=NOW)
    assert len(plan.to_fetch) == len(trail_bucket.log_keys) + len(trail_bucket.corrupt_keys)
    assert not any("Digest" in o.key for o in plan.to_fetch)
    known = {f"s3://{BUCKET}/{o.key}": o.etag for o in plan.to_fetch}
    # one object changed since: a new ETag makes it due again
    changed = plan.to_fetch[0]
    known[f"s3://{BUCKET}/{changed.key}"] = "stale-etag"
    again = plan_s3(client, target, TrailScope(), known, now=NOW)
    assert [o.key for o in again.to_fetch] == [changed.key]
    assert again.skipped_known == len(plan.to_fetch) - 1


def test_deep_prefix_narrows_discovery(trail_bucket: TrailBucket) -> None:
    client, calls = counted_client()
    uri = f"s3://{BUCKET}/AWSLogs/{ORG}/{ACCOUNT_B}/CloudTrail/us-east-1/2026/11/02/"
    plan = plan_s3(client, parse_s3_uri(uri), TrailScope(), {}, now=NOW)
    assert calls.counts["ListObjectsV2"] == 1
    assert [o.key for o in plan.to_fetch] == [
        k for k in trail_bucket.log_keys if k.startswith(uri[len(f"s3://{BUCKET}/") :])
    ]


def test_empty_bucket_is_a_clear_error(moto: str) -> None:
    client, _ = counted_client()
    client.create_bucket(Bucket="empty")  # type: ignore[attr-defined]
    with pytest.raises(NotFoundError, match="no CloudTrail logs"):
        plan_s3(client, parse_s3_uri("s3://empty/trail"), TrailScope(), {}, now=NOW)
    with pytest.raises(NotFoundError, match="no such bucket"):
        plan_s3(client, parse_s3_uri("s3://missing-bucket"), TrailScope(), {}, now=NOW)


def test_a_failed_download_is_reported_not_yielded(trail_bucket: TrailBucket) -> None:
    client, _ = counted_client()
    plan = plan_s3(
        client, parse_s3_uri(f"s3://{BUCKET}"), TrailScope(accounts=(ACCOUNT_A,), regions=("us-east-1",)), {}, now=NOW
    )
    trail_bucket.client.delete_object(Bucket=BUCKET, Key=plan.to_fetch[0].key)
    errors: list[str] = []
    blobs = list(fetch_blobs(client, BUCKET, plan.to_fetch, workers=2, on_error=lambda o, e: errors.append(o.key)))
    assert errors == [plan.to_fetch[0].key]
    assert len(blobs) == len(plan.to_fetch) - 1
