"""SIGKILL during `python -m diag ingest` leaves a consistent database; a re-run gives the same result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from benchmarks.gen_corpus import generate
from diag.store import open_db

pytestmark = pytest.mark.slow  # kill loops, moto servers or fuzzing budgets: `python3 -m pytest -m slow`

REPO = Path(__file__).resolve().parents[2]
EVENTS = 24_000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    generate(root, EVENTS, seed=11)
    return root


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["KMSDIAG_INGEST_COMMIT_ROWS"] = "1500"  # many small transactions, so kills land between and inside them
    env["PYTHONPATH"] = str(REPO)
    return env


def _ingest(db: Path, corpus: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "diag", "ingest", "--json", "--db", str(db), str(corpus)],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _files(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return con.execute(
        "SELECT path, status, records_total, records_kept, records_duplicate, records_skipped"
        " FROM ingested_files ORDER BY path"
    ).fetchall()


def _check_consistent(con: duckdb.DuckDBPyConnection) -> None:
    """Every input has exactly its stored rows (an input cut by the kill is `partial`); no row lacks its input."""
    kept = con.execute("SELECT coalesce(sum(records_kept), 0) FROM ingested_files").fetchone()
    events = con.execute("SELECT count(*) FROM events").fetchone()
    assert kept == events
    orphans = con.execute(
        "SELECT count(*) FROM events e WHERE NOT EXISTS"
        " (SELECT 1 FROM ingested_files f WHERE f.path = e.source_file AND f.status IN ('ok', 'partial'))"
    ).fetchone()
    assert orphans == (0,)
    mismatched = con.execute(
        "SELECT count(*) FROM ingested_files f WHERE records_kept <>"
        " (SELECT count(*) FROM events e WHERE e.source_file = f.path)"
    ).fetchone()
    assert mismatched == (0,)


def test_sigkill_then_rerun_gives_the_same_database(corpus: Path, tmp_path: Path) -> None:
    ref_db = tmp_path / "reference.duckdb"
    started = time.monotonic()
    proc = _ingest(ref_db, corpus)
    out, err = proc.communicate(timeout=300)
    full = time.monotonic() - started
    assert proc.returncode == 0, err.decode()
    ref_summary = json.loads(out)
    assert ref_summary["events_read"] == EVENTS and ref_summary["duplicates"] > 0
    con = duckdb.connect(str(ref_db), read_only=True)
    ref_files, ref_events = _files(con), con.execute("SELECT count(*) FROM events").fetchone()
    con.close()

    for i, fraction in enumerate((0.35, 0.7)):
        db = tmp_path / f"killed-{i}.duckdb"
        proc = _ingest(db, corpus)
        time.sleep(max(0.3, full * fraction))
        proc.kill()
        proc.wait(timeout=60)
        if proc.returncode == 0:  # finished before the kill: the rest of the test still holds
            pass
        con = open_db(db)  # replays the WAL, as the next run will
        _check_consistent(con)
        # inputs recorded whole are skipped by the re-run; one cut by the kill (`partial`) is read again
        partial = con.execute("SELECT count(*) FILTER (WHERE status <> 'partial') FROM ingested_files").fetchone()
        con.close()

        rerun = _ingest(db, corpus)
        out, err = rerun.communicate(timeout=300)
        assert rerun.returncode == 0, err.decode()
        summary = json.loads(out)
        assert partial is not None
        assert summary["files_unchanged"] == partial[0]
        con = duckdb.connect(str(db), read_only=True)
        _check_consistent(con)
        assert _files(con) == ref_files
        assert con.execute("SELECT count(*) FROM events").fetchone() == ref_events
        con.close()
