"""`watch`: two cycles against moto with new events arriving in between, then SIGTERM; every new
diagnosis printed (and POSTed) exactly once; the database is free between cycles and consistent after."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from diag.errors import RefusedError
from diag.ingest.pulls import Clients, RemoteOptions, WatchPlanner
from diag.ingest.remote.blob import default_ingester
from diag.ingest.remote.timeparse import utcnow
from diag.store import open_db
from diag.watch import StopOnSignals, Watcher, iter_lines
from tests.remote.conftest import ACCOUNT_A, ACCOUNT_B, BUCKET, TrailBucket


class RecordingDiagnose:
    """Test double for the diagnosis step: writes one real `diagnoses` row per event it is given
    (verdict UNKNOWN), and records what it was asked, so the test checks the watch plumbing only."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, con: Any, event_ids: list[str]) -> None:
        self.calls.append(list(event_ids))
        for eid in event_ids:
            con.execute(
                "INSERT INTO diagnoses (event_id, verdict, codes, findings, diagnosed_at) VALUES (?, 'UNKNOWN', ['UNKNOWN'], '[]', ?)",
                [eid, utcnow()],
            )


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()


def read_only_count(db: Path) -> int:
    """Count events from another process, read-only: works only while watch holds no lock."""
    code = f"import duckdb; print(duckdb.connect({str(db)!r}, read_only=True).execute('select count(*) from events').fetchone()[0])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout)


def test_two_cycles_then_sigterm_each_diagnosis_once(
    trail_bucket: TrailBucket, db_path: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, posted = webhook
    now = utcnow()
    opts = RemoteOptions(
        s3_uris=[f"s3://{BUCKET}"], since=dt.datetime(2026, 11, 1), accounts=(ACCOUNT_A, ACCOUNT_B), progress=False
    )
    out = io.StringIO()
    diagnose = RecordingDiagnose()
    stop = threading.Event()
    counts_between: list[int] = []
    late_ids: list[str] = []

    def between_cycles(message: str) -> None:
        report = json.loads(message)
        counts_between.append(read_only_count(db_path))  # a "notebook" reads while watch waits
        listings.append(f"end of cycle {report['cycle']}")
        if report["cycle"] == 1:
            # new events arrive: a file in today's folder, with two failures, and a duplicate delivery
            key = trail_bucket.put_log(ACCOUNT_A, "us-east-1", now - dt.timedelta(minutes=3), "new", n=4, failures=2)
            late_ids.extend(trail_bucket.event_ids[key][:2])
            trail_bucket.client.copy_object(
                Bucket=BUCKET, Key=key.replace("_new.", "_dup."), CopySource={"Bucket": BUCKET, "Key": key}
            )
        else:
            os.kill(os.getpid(), signal.SIGTERM)

    session = boto3.Session(region_name="us-east-1")
    listings: list[str] = []
    session.events.register(
        "before-parameter-build.s3.ListObjectsV2",
        lambda params, **_: listings.append("discover" if params.get("Delimiter") else "list"),
    )
    watcher = Watcher(
        db_path,
        WatchPlanner(opts, Clients(opts, session)),
        ingester=default_ingester(workers=1),
        diagnose=diagnose,
        interval=0.2,
        webhook=url,
        out=out,
        log=between_cycles,
        stop=stop,
    )
    with StopOnSignals(stop):
        emitted = watcher.run()
    assert watcher.cycles == 2 and stop.is_set()
    # cycle 1 discovered the org folder and the accounts' regions; cycle 2 reused them and listed only
    # the day folders since cycle 1 started (today's, and yesterday's when cycle 1 ran just after midnight)
    cycle2 = listings[listings.index("end of cycle 1") + 1 : listings.index("end of cycle 2")]
    assert "discover" in listings[: listings.index("end of cycle 1")]
    assert "discover" not in cycle2 and 4 <= len(cycle2) <= 8  # 2 accounts x 2 regions x 1-2 days

    first_failures = {e for ids in trail_bucket.event_ids.values() for e in ids[:1]} - set(late_ids)
    lines = list(iter_lines(out.getvalue()))
    ids = [line["event"]["event_id"] for line in lines]
    assert len(ids) == len(set(ids)) == emitted == len(first_failures) + 2
    assert set(ids) == first_failures | set(late_ids)
    assert ids[-2:] == sorted(late_ids) or set(ids[-2:]) == set(late_ids)  # cycle 2 printed only the new ones
    assert all(line["verdict"] == "UNKNOWN" and line["event"]["error_code"] == "AccessDenied" for line in lines)
    assert [p["event"]["event_id"] for p in posted] == ids
    # diagnose saw each failure once
    asked = [e for call in diagnose.calls for e in call]
    assert sorted(asked) == sorted(ids)
    assert counts_between[0] > 0 and counts_between[1] == counts_between[0] + 4

    con = open_db(db_path)
    assert con.execute(
        "SELECT count(*), count(emitted_at), count(DISTINCT event_id), min(webhook_status) FROM watch_outbox"
    ).fetchone() == (len(ids), len(ids), len(ids), "204")
    assert con.execute("SELECT count(*) FROM diagnoses").fetchone() == (len(ids),)
    dup = con.execute(
        "SELECT sum(records_kept), sum(records_duplicate) FROM ingested_files WHERE path LIKE '%new.json.gz' OR path LIKE '%dup.json.gz'"
    ).fetchone()
    assert dup == (4, 4)  # the second delivery of the same file stored nothing
    con.close()

    # a restart announces nothing again
    out2 = io.StringIO()
    again = Watcher(
        db_path,
        WatchPlanner(opts, Clients(opts)),
        ingester=default_ingester(workers=1),
        diagnose=RecordingDiagnose(),
        interval=0.1,
        out=out2,
    )
    assert again.run(max_cycles=1) == 0 and out2.getvalue() == ""


def test_queued_but_unprinted_diagnoses_go_out_after_a_restart(db_path: Path) -> None:
    """A crash between the write and the print leaves rows queued: the next start prints them once."""
    from diag.watch import ensure_baseline, queue_new_diagnoses

    con = open_db(db_path)
    base = ensure_baseline(con, utcnow() - dt.timedelta(minutes=1))
    con.execute(
        "INSERT INTO events (event_id, event_time, error_code) VALUES ('e-1', now()::TIMESTAMP, 'AccessDenied')"
    )
    con.execute(
        "INSERT INTO diagnoses (event_id, verdict, codes, findings, diagnosed_at) VALUES ('e-1', 'KEY_POLICY_NO_PRINCIPAL', ['KEY_POLICY_NO_PRINCIPAL'], '[]', now()::TIMESTAMP)"
    )
    assert queue_new_diagnoses(con, base) == 1
    assert queue_new_diagnoses(con, base) == 0
    con.close()
    out = io.StringIO()
    w = Watcher(
        db_path,
        lambda con, now, stop: [],
        ingester=default_ingester(workers=1),
        diagnose=RecordingDiagnose(),
        interval=0.1,
        out=out,
    )
    assert w.run(max_cycles=1) == 1
    assert [x["verdict"] for x in iter_lines(out.getvalue())] == ["KEY_POLICY_NO_PRINCIPAL"]
    out2 = io.StringIO()
    w2 = Watcher(
        db_path,
        lambda con, now, stop: [],
        ingester=default_ingester(workers=1),
        diagnose=RecordingDiagnose(),
        interval=0.1,
        out=out2,
    )
    assert w2.run(max_cycles=1) == 0 and out2.getvalue() == ""


def test_transient_errors_back_off_and_the_loop_survives(db_path: Path) -> None:
    from botocore.exceptions import ClientError

    attempts: list[int] = []
    logs: list[str] = []

    def planner(con: Any, now: dt.datetime, stop: threading.Event) -> list[Any]:
        attempts.append(1)
        if len(attempts) < 3:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "ListObjectsV2")
        return []

    w = Watcher(
        db_path,
        planner,
        ingester=default_ingester(workers=1),
        diagnose=RecordingDiagnose(),
        interval=0.01,
        out=io.StringIO(),
        log=logs.append,
    )
    assert w.run(max_cycles=1) == 0
    assert len(attempts) == 3
    assert sum("transient AWS error" in m for m in logs) == 2

    def refused(con: Any, now: dt.datetime, stop: threading.Event) -> list[Any]:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "ListObjectsV2")

    w2 = Watcher(
        db_path,
        refused,
        ingester=default_ingester(workers=1),
        diagnose=RecordingDiagnose(),
        interval=0.01,
        out=io.StringIO(),
    )
    with pytest.raises(RefusedError, match="AWS refused: AccessDenied"):
        w2.run(max_cycles=1)


def test_watch_follows_lookup_events_from_its_watermark(db_path: Path) -> None:
    """Two cycles over LookupEvents (Stubber: moto has no LookupEvents): the second cycle asks only from
    the first cycle's end minus the overlap, and announces only the new failure."""
    from botocore.stub import Stubber

    from diag.ingest.sources.lookup import OVERLAP, LookupTarget
    from tests.remote.test_lookup import api_event

    client = boto3.client("cloudtrail", region_name="us-east-1")
    stub = Stubber(client)
    t1 = dt.datetime(2026, 11, 28, 12, 0)
    t2 = t1 + dt.timedelta(minutes=5)
    starts: list[dt.datetime] = []
    client.meta.events.register(
        "before-parameter-build.cloudtrail.LookupEvents",
        lambda params, **_: starts.append(params["StartTime"].replace(tzinfo=None)),
    )
    # one worker: the five sources are asked in order (kms, s3, iam, organizations, sts) each cycle
    first = [api_event("L1", t1 - dt.timedelta(minutes=30))]
    second = [api_event("L2", t2 - dt.timedelta(minutes=1)), first[0]]
    for events in (first, second):
        stub.add_response("lookup_events", {"Events": events}, None)
        for _ in range(4):
            stub.add_response("lookup_events", {"Events": []}, None)
    opts = RemoteOptions(lookup=True, progress=False, workers=1)
    clients = Clients(opts, boto3.Session(region_name="us-east-1"))
    clients._targets = [LookupTarget(ACCOUNT_A, "us-east-1", client)]
    out = io.StringIO()
    times = iter([t1, t1, t2])
    with stub:
        w = Watcher(
            db_path,
            WatchPlanner(opts, clients),
            ingester=default_ingester(workers=1),
            diagnose=RecordingDiagnose(),
            interval=0.01,
            out=out,
            now=lambda: next(times),
        )
        assert w.run(max_cycles=2) == 2
        stub.assert_no_pending_responses()
    assert starts[0] == t1 - dt.timedelta(days=1) and starts[5] == t1 - OVERLAP
    assert [x["event"]["event_id"] for x in iter_lines(out.getvalue())] == ["L1", "L2"]
