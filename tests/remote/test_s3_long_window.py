"""A --since spanning years lists each region once (StartAfter its first day, stopping past its last day):
LIST requests grow with objects, not days x accounts x regions; exactly the window's objects are read."""

from __future__ import annotations

import datetime as dt

import boto3

from diag.ingest.sources.s3 import plan_s3
from diag.ingest.sources.s3_layout import Listing, TrailScope, parse_s3_uri, transform_listings
from tests.remote.conftest import ACCOUNT_A, ACCOUNT_B, BUCKET, REGIONS, Calls, TrailBucket

NOW = dt.datetime(2026, 11, 6, 9, 0)


def _client() -> tuple[object, Calls]:
    session = boto3.Session(region_name="us-east-1")
    calls = Calls()
    calls.hook(session)
    return session.client("s3"), calls


def test_long_windows_are_range_listings() -> None:
    region = "AWSLogs/111111111111/CloudTrail/eu-west-1/"
    short = transform_listings(region, TrailScope(since=dt.datetime(2026, 11, 1)), now=dt.datetime(2026, 11, 2, 12))
    assert short == [Listing(f"{region}2026/11/01/"), Listing(f"{region}2026/11/02/")]
    long = transform_listings(
        region, TrailScope(since=dt.datetime(2024, 1, 1), until=dt.datetime(2026, 6, 30)), now=NOW
    )
    assert long == [Listing(region, start_after=f"{region}2024/01/01/", last=f"{region}2026/06/30/")]


def test_years_long_window_lists_once_per_region(trail_bucket: TrailBucket) -> None:
    tb = trail_bucket
    before = tb.put_log(ACCOUNT_A, "us-east-1", dt.datetime(2023, 12, 31, 23, 0), "before")
    inside = [
        tb.put_log(ACCOUNT_B, "eu-west-1", dt.datetime(2024, 1, 1, 0, 5), "first-day"),
        tb.put_log(ACCOUNT_A, "us-east-1", dt.datetime(2025, 6, 15, 8, 0), "middle"),
    ]
    after = tb.put_log(ACCOUNT_A, "eu-west-1", dt.datetime(2026, 11, 7, 12, 0), "after-now")
    client, calls = _client()
    window = TrailScope(since=dt.datetime(2024, 1, 1))  # until now: 2026-11-06 (+1 h of delivery slack)
    plan = plan_s3(client, parse_s3_uri(f"s3://{BUCKET}"), window, {}, now=NOW)
    fetched = {o.key for o in plan.to_fetch}
    assert set(inside) <= fetched and before not in fetched and after not in fetched
    assert fetched == (set(tb.log_keys) - {before, after}) | set(tb.corrupt_keys)
    # discovery: AWSLogs/, the org folder, CloudTrail/ of each account; then one listing per region
    regions = 2 * len(REGIONS)
    assert calls.counts["ListObjectsV2"] == 1 + 1 + 2 + regions  # the day-by-day plan made 2 x 2 x 1,041
    assert len(plan.prefixes_listed) == regions
