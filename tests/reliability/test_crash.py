"""Crash safety: SIGKILL `ingest`, `diagnose` and `collect --from-dir` at random points (fixed seed) and
re-run them; the final database equals one made without interruption.

Kill points are of two kinds: ``killer.py`` makes the child SIGKILL itself just before or after its N-th
database statement (N drawn at random over a full run's statement count: lands mid-transaction,
between transactions, right after a COMMIT), and a plain `python -m diag ingest` is SIGKILLed from outside
after a random delay (lands anywhere, including inside DuckDB's own commit). ``KMSDIAG_KILL_POINTS``
changes the number of ingest kill points (default 20).
"""

from __future__ import annotations

import gzip
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.reliability.crashutil import REPO, SIGKILLED, ingest_state, run_and_signal, run_killer, timed

pytestmark = pytest.mark.slow

SEED = 20261129
KILL_POINTS = int(os.environ.get("KMSDIAG_KILL_POINTS", "20"))
FILES_PER_COMMIT = "4"  # many small transactions in one run: more places for a kill to land


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gen_corpus.py"), "--events", "4000", "--out", str(root)],
        check=True,
        capture_output=True,
    )
    bad = root / "bad"
    bad.mkdir()
    good = sorted(root.rglob("*_CloudTrail_*.json.gz"))[0].read_bytes()
    (bad / "truncated.json.gz").write_bytes(good[: len(good) // 2])
    (bad / "invalid.json").write_bytes(b'{"Records": [{"eventID": "x",')
    (bad / "plain.json").write_bytes(gzip.decompress(good))  # same records again: all duplicates
    return root


def test_ingest_survives_sigkill(corpus: Path, tmp_path: Path) -> None:
    args = ["-q", "ingest", str(corpus), "--workers", "1"]
    count = tmp_path / "calls"
    ref = tmp_path / "ref.duckdb"
    _, wall = timed(
        run_killer, ["--db", str(ref), *args], KMSDIAG_COUNT_FILE=str(count), KMSDIAG_FILES_PER_COMMIT=FILES_PER_COMMIT
    )
    calls = int(count.read_text())
    expected = ingest_state(ref)
    assert expected[0] and expected[1].get("refused") == 2 and expected[2] == len(expected[0])

    total_files = sum(expected[1].values())
    rng = random.Random(SEED)
    db = tmp_path / "work.duckdb"
    kills = completed = 0
    for attempt in range(KILL_POINTS * 3):
        if kills >= KILL_POINTS:
            break
        left = _left(db, total_files)  # draw kill points over what this run still has to do
        if attempt % 4 == 3:  # every 4th: a real external SIGKILL after a random delay
            rc = run_and_signal(["--db", str(db), *args], delay=rng.uniform(0.3, max(0.6, wall * left)))
        else:
            rc = run_killer(
                ["--db", str(db), *args],
                kill_at=rng.randint(1, max(3, int(calls * left))),
                when=rng.choice(("before", "after")),
                KMSDIAG_FILES_PER_COMMIT=FILES_PER_COMMIT,
            )
        if rc == SIGKILLED:
            kills += 1
            ids, _status, n = ingest_state(db)  # the killed run's database opens and holds whole rows
            assert n == len(set(ids)) and set(ids) <= set(expected[0])
        else:  # this run finished before its kill point: it must already be complete; start over
            completed += 1
            assert ingest_state(db) == expected
            db.unlink()
            Path(str(db) + ".wal").unlink(missing_ok=True)
    assert kills == KILL_POINTS, f"only {kills} kill points landed"
    run_killer(["--db", str(db), *args], KMSDIAG_FILES_PER_COMMIT=FILES_PER_COMMIT)
    assert ingest_state(db) == expected
    print(f"ingest: {kills} kill points survived, {completed} runs finished first, {calls} statements per run")


def _left(db: Path, total_files: int) -> float:
    """The share of input files not yet recorded in ingested_files (1.0 for a new database)."""
    if not db.exists():
        return 1.0
    return max(0.05, 1.0 - sum(ingest_state(db)[1].values()) / total_files)


SCENARIOS = ("01-guide-walkthrough", "12-key-policy-overwritten", "16-explicit-deny")


@pytest.fixture(scope="module")
def loaded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sample scenarios ingested and collected (not yet diagnosed)."""
    db = tmp_path_factory.mktemp("dx") / "base.duckdb"
    trails = [str(REPO / "sample_trails" / s / "trails") for s in SCENARIOS]
    run_killer(["--db", str(db), "-q", "ingest", *trails, "--workers", "1"])
    for s in SCENARIOS:
        run_killer(["--db", str(db), "-q", "collect", "--from-dir", str(REPO / "sample_trails" / s / "bundle")])
    return db


def _diagnoses(db: Path) -> tuple[list[tuple[str, str]], int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT event_id, verdict FROM diagnoses ORDER BY 1, 2").fetchall()
        return [(r[0], r[1]) for r in rows], len(rows)
    finally:
        con.close()


def test_diagnose_survives_sigkill(loaded_db: Path, tmp_path: Path) -> None:
    ref = tmp_path / "ref.duckdb"
    shutil.copy(loaded_db, ref)
    count = tmp_path / "calls"
    run_killer(["--db", str(ref), "-q", "diagnose"], KMSDIAG_COUNT_FILE=str(count))
    calls = int(count.read_text())
    expected = _diagnoses(ref)
    assert expected[1] > 0
    db = tmp_path / "work.duckdb"
    shutil.copy(loaded_db, db)
    rng = random.Random(SEED + 1)
    kills = 0
    points = max(3, KILL_POINTS // 4)
    for _ in range(points * 3):
        if kills >= points:
            break
        rc = run_killer(
            ["--db", str(db), "-q", "diagnose"], kill_at=rng.randint(1, calls), when=rng.choice(("before", "after"))
        )
        got = _diagnoses(db)
        if rc == SIGKILLED:
            kills += 1
            assert got[1] in (0, expected[1]), "a killed diagnose left part of its results"
        if got[1]:  # complete (killed after its COMMIT, or finished): start from the undiagnosed copy again
            assert got == expected
            shutil.copy(loaded_db, db)
            Path(str(db) + ".wal").unlink(missing_ok=True)
    assert kills == points
    run_killer(["--db", str(db), "-q", "diagnose"])
    assert _diagnoses(db) == expected
    print(f"diagnose: {kills} kill points survived, {calls} statements per run")


def _snapshot_counts(db: Path) -> list[dict[str, int]]:
    from diag.collect.rows import SNAPSHOT_TABLES

    con = duckdb.connect(str(db), read_only=True)
    try:
        ids = [r[0] for r in con.execute("SELECT snapshot_id FROM snapshots ORDER BY 1").fetchall()]
        return [
            {
                t: con.execute(f"SELECT count(*) FROM {t} WHERE snapshot_id = ?", [i]).fetchone()[0]
                for t in SNAPSHOT_TABLES
            }
            for i in ids
        ]
    finally:
        con.close()


def test_collect_from_dir_survives_sigkill(tmp_path: Path) -> None:
    bundle = str(REPO / "sample_trails" / "01-guide-walkthrough" / "bundle")
    ref = tmp_path / "ref.duckdb"
    count = tmp_path / "calls"
    run_killer(["--db", str(ref), "-q", "collect", "--from-dir", bundle], KMSDIAG_COUNT_FILE=str(count))
    calls = int(count.read_text())
    (expected,) = _snapshot_counts(ref)
    db = tmp_path / "work.duckdb"
    rng = random.Random(SEED + 2)
    kills = 0
    points = max(3, KILL_POINTS // 4)
    for _ in range(points * 3):
        if kills >= points:
            break
        rc = run_killer(
            ["--db", str(db), "-q", "collect", "--from-dir", bundle],
            kill_at=rng.randint(1, calls),
            when=rng.choice(("before", "after")),
        )
        kills += rc == SIGKILLED
        if db.exists():
            assert all(c == expected for c in _snapshot_counts(db)), "a half-written snapshot"
    assert kills == points
    run_killer(["--db", str(db), "-q", "collect", "--from-dir", bundle])
    snaps = _snapshot_counts(db)
    assert snaps and all(c == expected for c in snaps)
    print(f"collect: {kills} kill points survived, {calls} statements per run")
