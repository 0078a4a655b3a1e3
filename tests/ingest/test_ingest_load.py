"""diag.ingest.load: ingest_paths / ingest_blobs into DuckDB: idempotence, duplicates, refusals, copies."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest

from diag.ingest import Blob, IngestSummary, ingest_blobs, ingest_paths
from diag.ingest import commit as commit_mod
from diag.ingest import scheduler as load_mod
from diag.store import open_db
from tests.ingest.ctdata import (
    CALLER,
    KEY_ARN,
    OWNER,
    cross_account_pair,
    eventbridge,
    kms_record,
    lookup_events,
    new_id,
    noise_record,
    write_digest,
    write_trail,
)


def _when(minute: int) -> dt.datetime:
    return dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=5 * minute)


def _count(con: Any, sql: str, params: list[Any] | None = None) -> Any:
    row = con.execute(sql, params or []).fetchone()
    return row[0] if row else None


def _state(con: Any) -> dict[str, Any]:
    """Everything a re-run must reproduce exactly."""
    return {
        "events": _count(con, "SELECT count(*) FROM events"),
        "distinct": _count(con, "SELECT count(DISTINCT event_id) FROM events"),
        "files": con.execute(
            "SELECT status, count(*), sum(records_total), sum(records_kept), sum(records_duplicate),"
            " sum(records_skipped) FROM ingested_files GROUP BY 1 ORDER BY 1"
        ).fetchall(),
    }


@pytest.fixture
def con(db_path: Path) -> Any:
    c = open_db(db_path)
    yield c
    c.close()


def test_folder_with_noise_digest_and_failures(tmp_path: Path, con: Any) -> None:
    root = tmp_path / "trails"
    recs = [kms_record(), kms_record(error="AccessDenied"), noise_record(), noise_record()]
    write_trail(root, recs, when=_when(0))
    write_digest(root)
    (root / "notes.txt").write_text("not an input")
    s = ingest_paths(con, [root], workers=1)
    assert (s.files_seen, s.files_ingested, s.digests, s.refused) == (2, 1, 1, [])
    assert (s.events_read, s.events_stored, s.events_skipped, s.duplicates) == (4, 2, 2, 0)
    assert s.to_dict()["files_refused"] == 0
    failed = con.execute("SELECT event_id, error_code, key_arn FROM events WHERE error_code IS NOT NULL").fetchall()
    assert failed == [(recs[1]["eventID"], "AccessDenied", KEY_ARN)]
    rows = con.execute(
        "SELECT status, records_total, records_kept, records_skipped, shape FROM ingested_files ORDER BY 1"
    ).fetchall()
    assert rows == [("digest", 0, 0, 0, "digest"), ("ok", 4, 2, 2, "cloudtrail")]
    src = _count(con, "SELECT DISTINCT source_file FROM events")
    assert src.endswith(".json.gz") and os.path.isabs(src)
    assert _count(con, "SELECT count(*) FROM events WHERE ingested_at IS NULL OR event_time IS NULL") == 0


def test_reingest_adds_nothing_and_changed_file_is_reread(tmp_path: Path, con: Any) -> None:
    root = tmp_path / "trails"
    path = write_trail(root, [kms_record(), kms_record()], when=_when(0))
    write_trail(root, [kms_record()], when=_when(1))
    first = ingest_paths(con, [root], workers=1)
    before = _state(con)
    again = ingest_paths(con, [root], workers=1)
    assert (again.files_unchanged, again.files_ingested, again.events_read, again.events_stored) == (2, 0, 0, 0)
    assert _state(con) == before and first.events_stored == 3
    # The trail file grows (a new delivery rewritten in place): it is read again; the run adds only the new
    # event (the old ones count as already stored), and the file's row counts all three of its events in
    # `events` as kept (records_kept always equals the events stored under the file's name).
    recs = json.loads(gzip.decompress(path.read_bytes()))["Records"] + [kms_record()]
    path.write_bytes(gzip.compress(json.dumps({"Records": recs}).encode()))
    third = ingest_paths(con, [root], workers=1)
    assert (third.files_ingested, third.events_stored, third.duplicates) == (1, 1, 2)
    assert _count(con, "SELECT count(*) FROM events") == 4
    kept_dup = con.execute(
        "SELECT records_kept, records_duplicate FROM ingested_files WHERE path = ?", [str(path.resolve())]
    ).fetchone()
    assert kept_dup == (3, 0)
    assert _count(con, "SELECT count(*) FROM events WHERE source_file = ?", [str(path.resolve())]) == 3


def test_duplicates_within_a_file_across_files_and_across_runs(tmp_path: Path, con: Any) -> None:
    root = tmp_path / "trails"
    a, b = kms_record(), kms_record()
    write_trail(root, [a, a, b], when=_when(0))  # duplicate inside one file
    write_trail(root, [b, kms_record()], when=_when(1))  # duplicate delivery in a later file
    s = ingest_paths(con, [root], workers=1)
    assert (s.events_stored, s.duplicates) == (3, 2)
    # The first copy wins: b's row points at the first file.
    first = con.execute("SELECT min(path) FROM ingested_files").fetchone()[0]
    assert _count(con, "SELECT source_file FROM events WHERE event_id = ?", [b["eventID"]]) == first
    other = tmp_path / "copy"
    write_trail(other, [a, kms_record()], when=_when(2))
    s2 = ingest_paths(con, [other], workers=1)
    assert (s2.events_stored, s2.duplicates) == (1, 1)
    assert _count(con, "SELECT sum(records_duplicate) FROM ingested_files") == 3


def test_duplicates_across_commit_groups(tmp_path: Path, con: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commit_mod, "ROWS_PER_COMMIT", 2)
    monkeypatch.setattr(load_mod, "FILES_PER_TASK", 1)
    root = tmp_path / "trails"
    recs = [kms_record() for _ in range(6)]
    for i in range(6):
        write_trail(root, recs[: i + 1], when=_when(i))
    s = ingest_paths(con, [root], workers=1)
    assert (s.events_read, s.events_stored, s.duplicates) == (21, 6, 15)
    assert _count(con, "SELECT count(*) FROM events") == 6


def test_cross_account_copies_are_one_call(tmp_path: Path, con: Any) -> None:
    root = tmp_path / "trails"
    caller, owner = cross_account_pair()
    denied = kms_record(error="AccessDenied")  # a denied cross-account call: only in the caller's trail
    write_trail(root, [caller, denied], account=CALLER, when=_when(0))
    write_trail(root, [owner], account=OWNER, when=_when(0))
    ingest_paths(con, [root], workers=1)
    assert _count(con, "SELECT count(*) FROM events") == 3
    rows = con.execute(
        "SELECT call_id, copies, caller_event_id, owner_event_id, caller_arn, caller_account, key_arn, error_code"
        " FROM calls ORDER BY copies DESC"
    ).fetchall()
    assert rows[0] == (
        caller["sharedEventID"],
        2,
        caller["eventID"],
        owner["eventID"],
        caller["userIdentity"]["arn"],
        CALLER,
        KEY_ARN,
        None,
    )
    assert rows[1][:4] == (denied["eventID"], 1, denied["eventID"], None) and rows[1][7] == "AccessDenied"
    types = dict(
        con.execute("SELECT recipient_account, caller_type FROM events WHERE shared_event_id IS NOT NULL").fetchall()
    )
    assert types == {CALLER: "AssumedRole", OWNER: "AWSAccount"}


def test_truncated_gzip_in_the_middle_of_a_folder(tmp_path: Path, con: Any) -> None:
    root = tmp_path / "trails"
    good1 = write_trail(root, [kms_record()], when=_when(0))
    bad = write_trail(root, [kms_record(), kms_record()], when=_when(1))
    good2 = write_trail(root, [kms_record()], when=_when(2))
    bad.write_bytes(bad.read_bytes()[:-30])
    s = ingest_paths(con, [root], workers=1)
    assert s.refused == [(str(bad.resolve()), "truncated gzip: the compressed stream ends before its end marker")]
    assert (s.files_ingested, s.events_stored, s.all_bad) == (2, 2, False)
    stored_from = {r[0] for r in con.execute("SELECT source_file FROM events").fetchall()}
    assert stored_from == {str(good1.resolve()), str(good2.resolve())}
    row = con.execute(
        "SELECT status, reason, records_kept FROM ingested_files WHERE path = ?", [str(bad.resolve())]
    ).fetchone()
    assert row[0] == "refused" and "truncated gzip" in row[1] and row[2] == 0
    # A refused file is read again next time (it may have been fixed) and is reported again.
    again = ingest_paths(con, [root], workers=1)
    assert (again.files_unchanged, len(again.refused)) == (2, 1)
    bad.write_bytes(gzip.compress(json.dumps({"Records": [kms_record()]}).encode()))
    fixed = ingest_paths(con, [root], workers=1)
    assert (fixed.refused, fixed.events_stored) == ([], 1)
    assert _count(con, "SELECT status FROM ingested_files WHERE path = ?", [str(bad.resolve())]) == "ok"


def test_a_bad_file_never_touches_stored_rows(tmp_path: Path, con: Any) -> None:
    root = tmp_path / "trails"
    rec = kms_record()
    write_trail(root, [rec], when=_when(0))
    ingest_paths(con, [root], workers=1)
    before = con.execute("SELECT * FROM events").fetchall()
    bad_rec = dict(rec)
    bad_rec["eventName"] = "Encrypt"
    broken = dict(kms_record())
    del broken["eventID"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"Records": [bad_rec, broken]}))
    s = ingest_paths(con, [bad], workers=1)
    assert s.all_bad and "record 1 has no eventID" in s.refused[0][1]
    assert con.execute("SELECT * FROM events").fetchall() == before


def test_every_input_bad_and_missing_paths(tmp_path: Path, con: Any) -> None:
    (tmp_path / "a.json").write_text("{")
    s = ingest_paths(con, [tmp_path / "a.json", tmp_path / "missing.json"], workers=1)
    assert s.all_bad and s.files_seen == 2
    assert (str(tmp_path / "missing.json"), "no such file or directory") in s.refused
    # Missing paths are reported but not recorded in ingested_files.
    assert _count(con, "SELECT count(*) FROM ingested_files") == 1
    assert not ingest_paths(con, [], workers=1).all_bad


def test_real_events_batch(shared_dir: Path, con: Any) -> None:
    s = ingest_paths(con, [shared_dir / "real_events"], workers=1)
    assert s.files_seen == 10 and len(s.refused) == 3 and s.files_ingested == 7
    assert all(
        name.endswith("_NOT_VALID_JSON.json") and reason.startswith("invalid JSON") for name, reason in s.refused
    )
    # ec2 DescribeInstanceAttribute is counted, not stored; every other good record is stored.
    assert (s.events_read, s.events_stored, s.events_skipped) == (7, 6, 1)
    rows = con.execute("SELECT event_name, coalesce(error_code, 'ok'), caller_type FROM events ORDER BY ALL").fetchall()
    assert rows == [
        ("AssumeRole", "AccessDenied", "IAMUser"),
        ("Decrypt", "ok", "AssumedRole"),
        ("Decrypt", "ok", "AssumedRole"),
        ("GenerateDataKey", "ok", "AWSService"),
        ("GenerateDataKey", "ok", "AssumedRole"),
        ("LeaveOrganization", "AccessDenied", "AssumedRole"),
    ]
    assert _count(con, "SELECT count(*) FROM events WHERE event_source = 'kms.amazonaws.com'") == 4
    assert _count(con, "SELECT count(*) FROM events WHERE error_code = 'AccessDenied'") == 2
    svc = con.execute(
        "SELECT caller_type, invoked_by, shared_event_id FROM events WHERE caller_type = 'AWSService'"
    ).fetchall()
    assert svc == [("AWSService", "cloudtrail.amazonaws.com", "238c190c-1a30-4756-8e08-19fc36ad1b9f")]


def test_ingest_blobs_bytes_opener_and_etag(con: Any) -> None:
    r1, r2, r3 = kms_record(), kms_record(), kms_record()
    opened: list[str] = []

    def opener() -> bytes:
        opened.append("page")
        return json.dumps(lookup_events([r2])).encode()

    blobs = [
        Blob(
            "s3://trail/AWSLogs/x.json.gz",
            source="s3",
            etag='"e1"',
            data=gzip.compress(json.dumps({"Records": [r1]}).encode()),
        ),
        Blob("lookup:222222222222/us-east-1/page-1", source="lookup", opener=opener),
        Blob("event-file:paste", source="event-file", data=json.dumps(eventbridge(r3)).encode()),
    ]
    s = ingest_blobs(con, blobs, workers=1)
    assert (s.files_ingested, s.events_stored, opened) == (3, 3, ["page"])
    rows = con.execute("SELECT path, source, etag, size_bytes > 0, shape FROM ingested_files ORDER BY path").fetchall()
    assert rows == [
        ("event-file:paste", "event-file", None, True, "eventbridge"),
        ("lookup:222222222222/us-east-1/page-1", "lookup", None, True, "lookup-events"),
        ("s3://trail/AWSLogs/x.json.gz", "s3", '"e1"', True, "cloudtrail"),
    ]
    # Same etag: skipped without being opened; a new etag: read again.
    again = ingest_blobs(
        con, [Blob("s3://trail/AWSLogs/x.json.gz", source="s3", etag='"e1"', opener=opener)], workers=1
    )
    assert (again.files_unchanged, opened) == (1, ["page"])
    changed = ingest_blobs(
        con,
        [
            Blob(
                "s3://trail/AWSLogs/x.json.gz",
                source="s3",
                etag='"e2"',
                data=json.dumps({"Records": [r1, kms_record()]}).encode(),
            )
        ],
        workers=1,
    )
    assert (changed.events_stored, changed.duplicates) == (1, 1)
    # The same name twice in one call: the second is skipped.
    twice = ingest_blobs(con, [Blob("n", data=json.dumps(kms_record()).encode())] * 2, workers=1)
    assert (twice.files_ingested, twice.files_unchanged, twice.events_stored) == (1, 1, 1)


def test_worker_processes_give_the_same_result(tmp_path: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load_mod, "FILES_PER_TASK", 2)
    root = tmp_path / "trails"
    shared = kms_record()
    for i in range(9):
        recs = [kms_record(), noise_record(), shared] + ([kms_record(event_id=new_id(i))] if i % 3 == 0 else [])
        write_trail(root, recs, when=_when(i))
    bad = write_trail(root, [kms_record()], when=_when(20))
    bad.write_bytes(b"\x1f\x8b\x08\x00broken")
    progress: list[Any] = []
    results: list[tuple[IngestSummary, dict[str, Any]]] = []
    for workers, name in ((1, "inline.duckdb"), (2, "pool.duckdb")):
        c = open_db(tmp_path / name)
        s = ingest_paths(c, [root], workers=workers, progress=progress.append)
        results.append((s, _state(c)))
        c.close()
    (s1, st1), (s2, st2) = results
    assert st1 == st2
    assert s1.to_dict() | {"seconds": 0} == s2.to_dict() | {"seconds": 0}
    assert (s2.events_stored, s2.duplicates, len(s2.refused)) == (13, 8, 1)
    assert progress[-1].files_done == 10 and progress[-1].files_total == 10 and progress[-1].events_stored == 13


def test_pathological_records_refuse_only_their_file(tmp_path: Path, con: Any) -> None:
    deep: Any = "x"
    for _ in range(400):
        deep = {"k": deep}
    rec = kms_record()
    rec["requestParameters"]["nested"] = deep
    (tmp_path / "deep.json").write_text(json.dumps(rec))
    huge = kms_record(userAgent="A" * 200_000)
    huge["requestParameters"]["big"] = 18446744073709551615
    (tmp_path / "huge.json").write_text(json.dumps(huge))
    monster = kms_record()
    monster["requestParameters"]["blob"] = "B" * (17 << 20)
    (tmp_path / "monster.json").write_text(json.dumps(monster))
    s = ingest_paths(con, [tmp_path], workers=1)
    assert [name.rsplit("/", 1)[1] for name, _ in s.refused] == ["deep.json", "monster.json"]
    assert "cannot be stored as JSON" in s.refused[0][1]
    assert "larger than 16 MB" in s.refused[1][1]
    row = con.execute("SELECT length(user_agent), raw->'$.requestParameters.big' FROM events").fetchone()
    assert row is not None and row[0] == 200_000 and str(row[1]) == "18446744073709551615"


def test_copies_in_one_group_of_an_event_already_stored(tmp_path: Path, con: Any) -> None:
    """Both dedupe paths at once: two copies in one new group of an eventID an earlier run stored."""
    a, b, c = kms_record(), kms_record(), kms_record()
    write_trail(tmp_path / "first", [a, b], when=_when(0))
    first = ingest_paths(con, [tmp_path / "first"], workers=1)
    assert (first.events_stored, first.duplicates) == (2, 0)
    write_trail(tmp_path / "later", [a, c, a, c, b], when=_when(1))
    later = ingest_paths(con, [tmp_path / "later"], workers=1)
    assert (later.events_read, later.events_stored, later.duplicates) == (5, 1, 4)
    assert _count(con, "SELECT count(*) FROM events") == 3
    assert con.execute("SELECT sum(records_kept), sum(records_duplicate) FROM ingested_files").fetchone() == (3, 4)
