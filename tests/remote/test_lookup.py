"""LookupEvents: pagination, throttling then success, the 2 requests/s pacing, incremental windows.

moto does not implement LookupEvents, so the client is a real botocore client with a Stubber whose
responses follow the API reference (Events[].CloudTrailEvent is the record as a JSON string).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from diag.errors import UsageError
from diag.ingest.remote.ratelimit import RateLimiter
from diag.ingest.sources.lookup import (
    KEPT_SOURCES,
    OVERLAP,
    LookupTarget,
    sync_lookup,
    transform_queries,
)
from diag.store import open_db
from tests.remote.conftest import ACCOUNT_A, Recorder, record

NOW = dt.datetime(2026, 11, 28, 12, 0)


class FakeClock:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def api_event(event_id: str, when: dt.datetime) -> dict[str, Any]:
    rec = record(event_id, ACCOUNT_A, "us-east-1", when, error="AccessDenied")
    return {
        "EventId": event_id,
        "EventName": "Decrypt",
        "ReadOnly": "true",
        "AccessKeyId": "ASIAEXAMPLE",
        "EventTime": when.replace(tzinfo=dt.UTC),
        "EventSource": "kms.amazonaws.com",
        "Username": "app",
        "Resources": [{"ResourceType": "AWS::KMS::Key", "ResourceName": rec["resources"][0]["ARN"]}],
        "CloudTrailEvent": json.dumps(rec),
    }


def expected(source: str, start: dt.datetime, token: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "LookupAttributes": [{"AttributeKey": "EventSource", "AttributeValue": source}],
        "StartTime": start.replace(tzinfo=dt.UTC),
        "EndTime": NOW.replace(tzinfo=dt.UTC),
        "MaxResults": 50,
    }
    if token:
        params["NextToken"] = token
    return params


def test_queries_per_source_with_global_services_in_us_east_1_only() -> None:
    targets = [LookupTarget(ACCOUNT_A, "us-east-1", None), LookupTarget(ACCOUNT_A, "eu-west-1", None)]
    qs = transform_queries(targets, since=None, now=NOW, watermarks={})
    east = {q.event_source for q in qs if q.region == "us-east-1"}
    west = {q.event_source for q in qs if q.region == "eu-west-1"}
    assert east == set(KEPT_SOURCES)
    assert west == set(KEPT_SOURCES) - {"iam.amazonaws.com", "organizations.amazonaws.com"}
    assert all(q.start == NOW - dt.timedelta(days=1) and q.end == NOW for q in qs)
    mark = NOW - dt.timedelta(hours=3)
    qs = transform_queries(
        targets[:1], since=None, now=NOW, watermarks={f"{ACCOUNT_A}/us-east-1/kms.amazonaws.com": mark}
    )
    kms = next(q for q in qs if q.event_source == "kms.amazonaws.com")
    assert kms.start == mark - OVERLAP
    with pytest.raises(UsageError, match="future"):
        transform_queries(targets, since=NOW + dt.timedelta(hours=1), now=NOW, watermarks={})
    with pytest.raises(UsageError, match="90 days"):
        transform_queries(targets, since=NOW - dt.timedelta(days=120), now=NOW, watermarks={})


def test_rate_limiter_spaces_requests_per_key() -> None:
    clock = FakeClock()
    rl = RateLimiter(2.0, clock=clock, sleep=clock.sleep)
    times = [rl.acquire(("a", "r1")) for _ in range(5)]
    assert [round(t - times[0], 3) for t in times] == [0.0, 0.5, 1.0, 1.5, 2.0]
    # another account/region has its own budget
    assert rl.acquire(("b", "r1")) == clock.t


def test_pagination_throttling_and_pacing(db_path: Path) -> None:
    client = boto3.client("cloudtrail", region_name="us-east-1")
    stub = Stubber(client)
    start = NOW - dt.timedelta(hours=6)
    t0 = NOW - dt.timedelta(hours=1)
    # page 1 is throttled once, then served with a NextToken; page 2 ends the listing
    stub.add_client_error(
        "lookup_events",
        service_error_code="ThrottlingException",
        service_message="Rate exceeded",
        http_status_code=400,
        expected_params=expected("kms.amazonaws.com", start),
    )
    stub.add_response(
        "lookup_events",
        {"Events": [api_event(f"e{i}", t0) for i in range(50)], "NextToken": "tok-2"},
        expected("kms.amazonaws.com", start),
    )
    stub.add_response(
        "lookup_events",
        {"Events": [api_event(f"e{i}", t0) for i in range(50, 60)]},
        expected("kms.amazonaws.com", start, "tok-2"),
    )
    stub.add_response("lookup_events", {"Events": []}, expected("iam.amazonaws.com", start))
    clock = FakeClock()
    limiter = RateLimiter(2.0, clock=clock, sleep=clock.sleep)
    sent_at: list[float] = []
    client.meta.events.register("before-parameter-build.cloudtrail.LookupEvents", lambda **_: sent_at.append(clock.t))
    rec = Recorder()
    con = open_db(db_path)
    with stub:
        summary = sync_lookup(
            con,
            [LookupTarget(ACCOUNT_A, "us-east-1", client)],
            ingester=rec,
            since=start,
            now=NOW,
            limiter=limiter,
            sleep=clock.sleep,
            workers=1,
            sources=("kms.amazonaws.com", "iam.amazonaws.com"),
        )
        stub.assert_no_pending_responses()
    assert rec.event_ids() == [f"e{i}" for i in range(60)]
    assert [b.source for b in rec.blobs] == ["lookup", "lookup"]
    assert rec.blobs[0].name.startswith(f"lookup:{ACCOUNT_A}/us-east-1/kms.amazonaws.com/")
    assert (summary.requests, summary.retries, summary.pages, summary.events_seen) == (4, 1, 2, 60)
    assert summary.gaps == []
    # never more than 2 requests in any one second (retries included); the backoff slept at least once
    assert len(sent_at) == 4
    assert all(b - a >= 0.5 - 1e-9 for a, b in itertools.pairwise(sent_at))
    assert any(s >= 0.5 for s in clock.sleeps)
    marks = dict(con.execute("SELECT scope, watermark FROM remote_watermarks").fetchall())
    assert marks == {f"{ACCOUNT_A}/us-east-1/kms.amazonaws.com": NOW, f"{ACCOUNT_A}/us-east-1/iam.amazonaws.com": NOW}
    # the next run starts at the watermark minus the overlap
    stub2 = Stubber(client)
    later = NOW + dt.timedelta(hours=1)
    for src in ("kms.amazonaws.com", "iam.amazonaws.com"):
        params = expected(src, NOW - OVERLAP)
        params["EndTime"] = later.replace(tzinfo=dt.UTC)
        stub2.add_response("lookup_events", {"Events": []}, params)
    with stub2:
        sync_lookup(
            con,
            [LookupTarget(ACCOUNT_A, "us-east-1", client)],
            ingester=rec,
            now=later,
            limiter=limiter,
            sleep=clock.sleep,
            workers=1,
            sources=("kms.amazonaws.com", "iam.amazonaws.com"),
        )
        stub2.assert_no_pending_responses()
    con.close()


def test_refused_region_is_a_gap_and_keeps_its_watermark(db_path: Path) -> None:
    client = boto3.client("cloudtrail", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_client_error(
        "lookup_events",
        service_error_code="AccessDeniedException",
        service_message="no",
        http_status_code=400,
        expected_params=None,
    )
    clock = FakeClock()
    con = open_db(db_path)
    with stub:
        summary = sync_lookup(
            con,
            [LookupTarget(ACCOUNT_A, "us-east-1", client)],
            ingester=Recorder(),
            now=NOW,
            limiter=RateLimiter(2.0, clock=clock, sleep=clock.sleep),
            sleep=clock.sleep,
            sources=("kms.amazonaws.com",),
        )
    assert summary.gaps == [
        {
            "account": ACCOUNT_A,
            "region": "us-east-1",
            "event_source": "kms.amazonaws.com",
            "error": "AccessDeniedException: no",
        }
    ]
    assert con.execute("SELECT count(*) FROM remote_watermarks").fetchone() == (0,)
    con.close()


def test_throttling_that_never_ends_is_a_gap(db_path: Path) -> None:
    client = boto3.client("cloudtrail", region_name="us-east-1")
    stub = Stubber(client)
    for _ in range(6):
        stub.add_client_error(
            "lookup_events", service_error_code="ThrottlingException", http_status_code=400, expected_params=None
        )
    clock = FakeClock()
    con = open_db(db_path)
    with stub:
        summary = sync_lookup(
            con,
            [LookupTarget(ACCOUNT_A, "us-east-1", client)],
            ingester=Recorder(),
            now=NOW,
            limiter=RateLimiter(2.0, clock=clock, sleep=clock.sleep),
            sleep=clock.sleep,
            sources=("kms.amazonaws.com",),
        )
    assert summary.retries == 5 and summary.requests == 6
    assert summary.gaps[0]["error"].startswith("ThrottlingException")
    con.close()


def test_lookup_pages_go_through_the_real_ingest_path(db_path: Path) -> None:
    from diag.ingest.remote.blob import default_ingester

    client = boto3.client("cloudtrail", region_name="us-east-1")
    stub = Stubber(client)
    t0 = NOW - dt.timedelta(hours=2)
    stub.add_response("lookup_events", {"Events": [api_event("x1", t0), api_event("x2", t0)]}, None)
    clock = FakeClock()
    con = open_db(db_path)
    with stub:
        summary = sync_lookup(
            con,
            [LookupTarget(ACCOUNT_A, "us-east-1", client)],
            ingester=default_ingester(workers=1),
            now=NOW,
            limiter=RateLimiter(2.0, clock=clock, sleep=clock.sleep),
            sleep=clock.sleep,
            sources=("kms.amazonaws.com",),
        )
    assert summary.ingest["events_stored"] == 2
    rows = con.execute("SELECT event_id, error_code, key_arn IS NOT NULL FROM events ORDER BY 1").fetchall()
    assert rows == [("x1", "AccessDenied", True), ("x2", "AccessDenied", True)]
    src = con.execute("SELECT source, status, records_kept FROM ingested_files").fetchall()
    assert src == [("lookup", "ok", 2)]
    con.close()
