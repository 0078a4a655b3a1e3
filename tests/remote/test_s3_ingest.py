"""S3 trail bucket → the one ingest path (moto server): refused objects, incremental re-runs, late objects."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import boto3

from diag.ingest.remote.blob import default_ingester
from diag.ingest.sources.s3 import sync_s3
from diag.ingest.sources.s3_layout import TrailScope
from diag.store import open_db
from tests.remote.conftest import ACCOUNT_A, ACCOUNT_B, BUCKET, Calls, TrailBucket

NOW = dt.datetime(2026, 11, 6, 9, 0)


def counted_client() -> tuple[object, Calls]:
    session = boto3.Session(region_name="us-east-1")
    calls = Calls()
    calls.hook(session)
    return session.client("s3"), calls


def test_bucket_ingest_is_incremental_and_picks_up_late_objects(trail_bucket: TrailBucket, db_path: Path) -> None:
    client, calls = counted_client()
    con = open_db(db_path)
    ingester = default_ingester(workers=1)
    first = sync_s3(
        con, f"s3://{BUCKET}", TrailScope(), client=client, ingester=ingester, workers=4, progress=False, now=NOW
    )
    n_logs = len(trail_bucket.log_keys)
    assert first.objects_fetched == n_logs + 1  # + the corrupt one
    assert first.skipped_digest == 0  # digest folders are never listed
    assert calls.counts["GetObject"] == n_logs + 1
    assert not any("Digest" in k for k in calls.keys)
    ing = first.ingest
    assert ing["files_ingested"] == n_logs and ing["files_refused"] == 1
    assert ing["refused"][0]["file"] == f"s3://{BUCKET}/{trail_bucket.corrupt_keys[0]}"
    expected_ids = {e for ids in trail_bucket.event_ids.values() for e in ids}
    stored = {r[0] for r in con.execute("SELECT event_id FROM events").fetchall()}
    assert stored == expected_ids
    rows = con.execute(
        "SELECT count(*), count(DISTINCT etag) > 1, min(source) FROM ingested_files WHERE status = 'ok'"
    ).fetchone()
    assert rows == (n_logs, True, "s3")
    # the events keep where they came from
    src = con.execute("SELECT source_file FROM events WHERE event_id = ?", [next(iter(expected_ids))]).fetchone()
    assert src is not None and src[0].startswith(f"s3://{BUCKET}/AWSLogs/")

    # a second run downloads nothing (the corrupt object too: same ETag, same bytes, same refusal)
    calls.reset()
    second = sync_s3(con, f"s3://{BUCKET}", TrailScope(), client=client, ingester=ingester, progress=False, now=NOW)
    assert calls.counts["GetObject"] == 0
    assert second.objects_fetched == 0 and second.skipped_known == n_logs
    # the corrupt one stays listed with its reason, not among the "already ingested"
    assert second.refused_unchanged == [{"file": ing["refused"][0]["file"], "reason": ing["refused"][0]["reason"]}]

    # an object delivered later is picked up, alone
    calls.reset()
    late = trail_bucket.put_log(ACCOUNT_B, "eu-west-1", dt.datetime(2026, 11, 5, 23, 55), "late", n=2)
    third = sync_s3(con, f"s3://{BUCKET}", TrailScope(), client=client, ingester=ingester, progress=False, now=NOW)
    assert calls.counts["GetObject"] == 1 and calls.keys[0].endswith(late.split("/")[-1])
    assert third.ingest["events_stored"] == 2
    assert con.execute("SELECT count(*) FROM events").fetchone() == (len(expected_ids) + 2,)
    con.close()


def test_windowed_ingest_reads_only_the_window(trail_bucket: TrailBucket, db_path: Path) -> None:
    client, calls = counted_client()
    con = open_db(db_path)
    window = TrailScope(
        since=dt.datetime(2026, 11, 2), until=dt.datetime(2026, 11, 3), accounts=(ACCOUNT_A,), regions=("us-east-1",)
    )
    summary = sync_s3(
        con, f"s3://{BUCKET}", window, client=client, ingester=default_ingester(workers=1), progress=False, now=NOW
    )
    assert calls.counts["ListObjectsV2"] == 1 + 2  # AWSLogs/ (org folder), then days 02 and 03
    assert calls.counts["GetObject"] == 1  # only 2026-11-02 12:05; 03's files are past --until + 1h
    days = {r[0] for r in con.execute("SELECT DISTINCT CAST(event_time AS DATE) FROM events").fetchall()}
    assert days == {dt.date(2026, 11, 2)}
    assert summary.ingest["events_stored"] == 3
    con.close()


def test_known_objects_are_read_for_the_window_only(trail_bucket: TrailBucket, db_path: Path) -> None:
    from diag.ingest.sources.s3 import known_objects
    from diag.ingest.sources.s3_layout import parse_s3_uri

    client, _ = counted_client()
    con = open_db(db_path)
    sync_s3(
        con,
        f"s3://{BUCKET}",
        TrailScope(),
        client=client,
        ingester=default_ingester(workers=1),
        progress=False,
        now=NOW,
    )
    everything = known_objects(con, parse_s3_uri(f"s3://{BUCKET}"))
    assert len(everything) == len(trail_bucket.log_keys) + 1
    recent = known_objects(con, parse_s3_uri(f"s3://{BUCKET}"), dt.datetime(2026, 11, 4, 18))
    assert recent and all("/2026/11/04/" in k or "/2026/11/05/" in k for k in recent)
    assert len(recent) == 2 * 2 * 2  # 2 accounts x 2 regions x days 04, 05
    one_account = known_objects(con, parse_s3_uri(f"s3://{BUCKET}/AWSLogs/o-abcdef1234/{ACCOUNT_A}/"))
    assert all(f"/{ACCOUNT_A}/" in k for k in one_account) and len(one_account) == len(trail_bucket.log_keys) // 2 + 1
    # an object whose rows a killed run stored only in part (`partial`) is fetched again
    cut = sorted(everything)[0]
    con.execute("UPDATE ingested_files SET status = 'partial' WHERE path = ?", [cut])
    assert cut not in known_objects(con, parse_s3_uri(f"s3://{BUCKET}"))
    con.close()


def test_download_progress_goes_to_the_callback(trail_bucket: TrailBucket, db_path: Path) -> None:
    """The ingest package draws nothing: the S3 source reports its downloads to a callback (the CLI's bar)."""
    from diag.ingest.summary import FetchProgress

    client, _ = counted_client()
    con = open_db(db_path)
    seen: list[FetchProgress] = []
    summary = sync_s3(
        con,
        f"s3://{BUCKET}",
        TrailScope(),
        client=client,
        ingester=default_ingester(workers=1),
        progress=seen.append,
        now=NOW,
    )
    con.close()
    total = summary.objects_fetched
    assert total == len(trail_bucket.log_keys) + 1
    assert seen[0] == FetchProgress(f"s3://{BUCKET}/", 0, total, 0, seen[0].bytes_total)
    assert [p.objects_done for p in seen] == list(range(total + 1))
    assert all(p.objects_total == total and p.source == f"s3://{BUCKET}/" for p in seen)
    assert seen[-1].bytes_done == summary.bytes_fetched == seen[0].bytes_total > 0
