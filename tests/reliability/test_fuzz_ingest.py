"""Fuzz the ingester: random bytes and mutated real records never crash it, never store a half-record,
and every refused input is reported (summary and ingested_files) with a reason."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from diag.ingest import Blob, ingest_blobs
from diag.ingest.normalize import normalize_record
from diag.ingest.parse import parse_blob
from diag.ingest.worker import process_input
from tests.reliability.corpus import MUTATIONS, mutate, real_fragments, seed_records

pytestmark = pytest.mark.slow  # kill loops, moto servers or fuzzing budgets: `python3 -m pytest -m slow`

_names = itertools.count()


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from diag.store import open_db

    c = open_db(tmp_path_factory.mktemp("fuzz") / "fuzz.duckdb")
    yield c
    c.close()


def _check_result_shape(data: bytes) -> None:
    out: list[bytes] = []
    ids: list[str] = []
    res = process_input("fuzz", data, out, ids)
    assert res.status in ("ok", "digest", "refused")
    if res.status != "ok":
        assert out == [] and ids == []
    if res.status == "refused":
        assert res.reason
    assert len(out) == len(ids)
    for line, eid in zip(out, ids, strict=True):
        assert orjson.loads(line)["event_id"] == eid


@given(st.binary(max_size=4096))
def test_parse_random_bytes(data: bytes) -> None:
    parse_blob(data)
    _check_result_shape(data)


@given(st.binary(max_size=512).map(lambda b: b"\x1f\x8b" + b))
def test_parse_random_gzip_like(data: bytes) -> None:
    _check_result_shape(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)
FIELDS = (
    "eventID",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "userIdentity",
    "requestParameters",
    "responseElements",
    "resources",
    "errorCode",
    "errorMessage",
    "userAgent",
    "sharedEventID",
    "readOnly",
    "managementEvent",
    "recipientAccountId",
)


@given(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=len(FIELDS)))
def test_normalize_any_field_types(record: dict[str, Any]) -> None:
    """Wrong types in every field: normalize never raises and returns text or NULL per column."""
    record.setdefault("eventSource", "kms.amazonaws.com")
    row = normalize_record(record)
    assert isinstance(row["raw"], str)
    assert all(row[c] is None or isinstance(row[c], str) for c in ("event_id", "caller_arn", "key_arn", "bucket"))
    _check_result_shape(json.dumps({"Records": [record]}).encode())


def _stored_rows_are_whole(con: Any, names: list[str]) -> None:
    """Every stored row equals the normalization of its raw record: nothing half-written."""
    cols = ("event_id", "event_source", "event_name", "error_code", "caller_arn", "key_arn", "user_agent")
    rows = con.execute(
        f"SELECT {', '.join(cols)}, raw FROM events WHERE source_file IN (SELECT unnest(?::VARCHAR[]))", [names]
    ).fetchall()
    for row in rows:
        rec = orjson.loads(row[-1])
        expected = normalize_record(rec)
        assert tuple(expected[c] for c in cols) == row[:-1]


def _ingest_and_check(con: Any, blobs: list[Blob]) -> None:
    names = [b.name for b in blobs]
    summary = ingest_blobs(con, blobs, workers=1)
    refused = dict(summary.refused)
    assert summary.files_seen == len(blobs)
    status = dict(
        con.execute(
            "SELECT path, status FROM ingested_files WHERE path IN (SELECT unnest(?::VARCHAR[]))", [names]
        ).fetchall()
    )
    for name in names:
        assert name in status, f"{name}: no ingested_files row"
        if status[name] == "refused":
            assert refused.get(name), f"{name}: refused but not reported"
            n = con.execute("SELECT count(*) FROM events WHERE source_file = ?", [name]).fetchone()[0]
            assert n == 0, f"{name}: refused file stored {n} rows"
        else:
            assert name not in refused
    kept = con.execute(
        "SELECT path, records_kept FROM ingested_files WHERE path IN (SELECT unnest(?::VARCHAR[]))", [names]
    ).fetchall()
    for name, n in kept:
        stored = con.execute("SELECT count(*) FROM events WHERE source_file = ?", [name]).fetchone()[0]
        assert stored == (n or 0)
    _stored_rows_are_whole(con, names)


@given(
    st.lists(
        st.tuples(st.integers(0, 10**6), st.sampled_from(MUTATIONS), st.integers(0, 2**32)), min_size=1, max_size=6
    )
)
def test_ingest_mutated_real_records(con: Any, picks: list[tuple[int, str, int]]) -> None:
    seeds = seed_records()
    blobs = []
    for idx, kind, seed in picks:
        rng = random.Random(seed)
        rec = dict(seeds[idx % len(seeds)])
        rec["eventID"] = f"fuzz-{next(_names)}"  # fresh IDs: each example's rows are its own
        blobs.append(Blob(name=f"mem://fuzz/{next(_names)}-{kind}", source="fuzz", data=mutate(rec, kind, rng)))
    _ingest_and_check(con, blobs)


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=5))
def test_ingest_random_bytes(con: Any, datas: list[bytes]) -> None:
    blobs = [Blob(name=f"mem://rand/{next(_names)}", source="fuzz", data=d) for d in datas]
    _ingest_and_check(con, blobs)


def test_ingest_every_mutation_of_every_seed_once(con: Any) -> None:
    """Deterministic sweep: each mutation kind applied to a spread of real seeds."""
    seeds = seed_records()
    rng = random.Random(9)
    blobs = []
    for kind in MUTATIONS:
        for idx in range(0, len(seeds), max(1, len(seeds) // 12)):
            rec = dict(seeds[idx])
            rec["eventID"] = f"sweep-{next(_names)}"
            blobs.append(Blob(name=f"mem://sweep/{kind}/{idx}", source="fuzz", data=mutate(rec, kind, rng)))
    for name, data in real_fragments():
        blobs.append(Blob(name=f"mem://real/{name}", source="fuzz", data=data))
    _ingest_and_check(con, blobs)
    reasons = dict(ingest_blobs(con, [Blob(name="mem://again", source="fuzz", data=b"\x1f\x8b\x08\x00")]).refused)
    assert "gzip" in reasons["mem://again"]


def test_cli_ingest_folder_of_hostile_files(tmp_path: Path, run_cli: Any) -> None:
    """The CLI on a folder of mutated files: exit 0 or 3, refused files listed, no traceback."""
    seeds = seed_records()
    rng = random.Random(4)
    folder = tmp_path / "trails"
    folder.mkdir()
    for i, kind in enumerate(MUTATIONS):
        rec = dict(seeds[(i * 37) % len(seeds)])
        (folder / f"f{i}-{kind}.json.gz").write_bytes(mutate(rec, kind, rng))
    (folder / "empty.json").write_bytes(b"")
    (folder / "nul.json").write_bytes(b"\x00" * 64)
    code, out, err = run_cli("--db", tmp_path / "db.duckdb", "--json", "ingest", folder, "--workers", "1")
    assert code in (0, 3), err
    assert "Traceback" not in err + out
    summary = orjson.loads(out)
    assert summary["files_seen"] == len(MUTATIONS) + 2
    assert {r["file"].rsplit("/", 1)[-1] for r in summary["refused"]} >= {"empty.json", "nul.json"}
    assert all(r["reason"] for r in summary["refused"])
