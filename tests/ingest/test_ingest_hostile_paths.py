"""Hostile file-system objects in an ingested folder: a symbolic link loop, a FIFO named *.json, a dangling
symbolic link, a symlink to a folder (made for real, not mocked). None aborts or hangs the ingest; each is
skipped and reported under its own name; the good files are stored. JSON Lines files in folders are read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from diag.ingest import ingest_paths
from diag.store import open_db

REPO = Path(__file__).resolve().parents[2]


def _record(eid: str) -> dict[str, object]:
    return {
        "eventVersion": "1.08",
        "eventID": eid,
        "eventTime": "2026-11-20T10:00:00Z",
        "eventSource": "kms.amazonaws.com",
        "eventName": "Decrypt",
        "awsRegion": "eu-west-1",
        "userIdentity": {"type": "AssumedRole", "accountId": "111111111111"},
        "recipientAccountId": "111111111111",
    }


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    root = tmp_path / "trails"
    (root / "sub").mkdir(parents=True)
    (root / "good.json").write_text(json.dumps({"Records": [_record("e-good")]}))
    (root / "sub" / "lines.jsonl").write_text(json.dumps(_record("e-jsonl")) + "\n" + json.dumps(_record("e-jsonl2")))
    (root / "sub" / "more.ndjson").write_text(json.dumps(_record("e-ndjson")) + "\n")
    os.symlink("loop-b.json", root / "loop-a.json")  # a -> b -> a
    os.symlink("loop-a.json", root / "loop-b.json")
    os.symlink(str(tmp_path / "gone" / "target.json"), root / "dangling.json")
    os.symlink("..", root / "sub" / "up")  # a folder loop: sub/up -> trails
    os.mkfifo(root / "pipe.json")
    return root


def test_hostile_paths_are_reported_not_fatal(hostile: Path, tmp_path: Path) -> None:
    con = open_db(tmp_path / "db.duckdb")
    try:
        s = ingest_paths(con, [hostile], workers=1)
        ids = sorted(r[0] for r in con.execute("SELECT event_id FROM events").fetchall())
    finally:
        con.close()
    assert ids == ["e-good", "e-jsonl", "e-jsonl2", "e-ndjson"]
    reasons = {Path(name).name: reason for name, reason in s.refused}
    assert reasons["loop-a.json"].startswith("symbolic link loop")
    assert reasons["loop-b.json"].startswith("symbolic link loop")
    assert reasons["dangling.json"].startswith("dangling symbolic link")  # its own name, not target.json
    assert "target.json" not in {Path(n).name for n, _ in s.refused}
    assert reasons["pipe.json"] == "not a regular file (a FIFO): not read"
    assert reasons["up"] == "symbolic link to a folder: not followed"
    assert s.files_ingested == 3


def test_cli_on_a_fifo_and_a_loop_does_not_hang(hostile: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "diag", "--db", str(tmp_path / "cli.duckdb"), "--json", "ingest", str(hostile),
         str(hostile / "pipe.json"), str(hostile / "loop-a.json"), "--workers", "2"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["events_stored"] == 4
    named = [r for r in summary["refused"] if r["file"].endswith(("pipe.json", "loop-a.json"))]
    assert len(named) >= 3 and all("not read" in r["reason"] for r in named)


def test_a_fifo_swapped_in_after_discovery_is_not_waited_on(tmp_path: Path) -> None:
    from diag.ingest.worker import process_input

    fifo = tmp_path / "late.json"
    os.mkfifo(fifo)
    res = process_input(str(fifo), str(fifo), [], [])
    assert res.status == "refused" and res.reason == "not a regular file (a FIFO): not read"
