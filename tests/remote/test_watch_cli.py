"""`kmsdiag watch` as a real process against moto's server with the real diagnosis: two cycles with
new events arriving in between, then SIGTERM; each new diagnosis printed exactly once, exit code 0."""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import pytest

from diag.ingest.remote.timeparse import utcnow
from diag.store import open_db
from tests.conftest import REPO
from tests.remote.conftest import ACCOUNT_A, BUCKET, TrailBucket

pytestmark = pytest.mark.slow  # kill loops, moto servers or fuzzing budgets: `python3 -m pytest -m slow`


def _lines(stream: IO[str], q: queue.Queue[str]) -> None:
    for line in stream:
        q.put(line)


def _wait_for_cycle(q: queue.Queue[str], n: int, seen: list[str]) -> None:
    while True:
        line = q.get(timeout=120)
        seen.append(line)
        if line.startswith("{") and json.loads(line).get("cycle") == n:
            return


def test_watch_process_two_cycles_then_sigterm(trail_bucket: TrailBucket, moto: str, tmp_path: Path) -> None:
    db = tmp_path / "watch.duckdb"
    env = {**os.environ, "AWS_ENDPOINT_URL": moto, "COLUMNS": "500"}
    cmd = [
        sys.executable, "-m", "diag", "watch", f"s3://{BUCKET}", "--account", ACCOUNT_A, "--region", "us-east-1",
        "--since", "2026-11-01", "--interval", "1s", "--db", str(db),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    errq: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stderr, errq), daemon=True).start()
    outq: queue.Queue[str] = queue.Queue()  # drained as it comes, as a real consumer does (a full pipe blocks watch)
    reader = threading.Thread(target=_lines, args=(proc.stdout, outq), daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        _wait_for_cycle(errq, 1, seen)
        now = utcnow()
        key = trail_bucket.put_log(ACCOUNT_A, "us-east-1", now - dt.timedelta(minutes=2), "fresh", n=3, failures=2)
        _wait_for_cycle(errq, 2, seen)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        reader.join(timeout=60)
        out = "".join(outq.queue)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, "".join(seen)
    lines = [json.loads(x) for x in out.splitlines() if x.strip()]
    ids = [x["event"]["event_id"] for x in lines]
    a_east = [k for k in trail_bucket.event_ids if f"/{ACCOUNT_A}/CloudTrail/us-east-1/" in k and k != key]
    first = {trail_bucket.event_ids[k][0] for k in a_east}
    assert len(ids) == len(set(ids))  # never the same event twice
    assert set(ids) == first | set(trail_bucket.event_ids[key][:2])
    assert all(x["verdict"] and x["codes"] and x["codes"][0] == x["verdict"] for x in lines)
    con = open_db(db)
    assert con.execute("SELECT count(*), count(emitted_at) FROM watch_outbox").fetchone() == (len(ids), len(ids))
    assert con.execute("SELECT count(DISTINCT event_id) FROM diagnoses").fetchone() == (len(ids),)
    con.close()
