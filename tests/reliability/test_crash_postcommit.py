"""A kill after an ingest's last commit (while it derives policy history, or just before it exits) loses
nothing: the same command again rebuilds what is derived from the stored events, and the database equals
an uninterrupted run's in every table. Real SIGKILLs, at each of the last statements of a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.crashutil import REPO, SIGKILLED, run_killer
from tests.reliability.dbstate import database_state
from tests.reliability.motoproc import upload_corpus

pytestmark = pytest.mark.slow

TRAILS = REPO / "sample_trails" / "12-key-policy-overwritten" / "trails"
TAIL = 6  # the last statements of a run: the policy-history refresh and what follows the last COMMIT


def _kill_at_the_end(tmp_path: Path, args: list[str], **env: str) -> None:
    ref = tmp_path / "ref.duckdb"
    count = tmp_path / "calls"
    run_killer(["--db", str(ref), *args], KMSDIAG_COUNT_FILE=str(count), **env)
    calls = int(count.read_text())
    expected = database_state(ref)
    assert expected["policy_changes"]  # the scenario overwrites a key policy (PutKeyPolicy)

    landed = 0
    for at in range(max(1, calls - TAIL + 1), calls + 1):
        for when in ("before", "after"):
            db = tmp_path / f"killed-{at}-{when}.duckdb"
            rc = run_killer(["--db", str(db), *args], kill_at=at, when=when, **env)
            landed += rc == SIGKILLED
            run_killer(["--db", str(db), *args], **env)  # the same command again
            assert database_state(db) == expected, f"killed {when} statement {at} of {calls}"
    assert landed == 2 * TAIL


def test_kill_after_the_last_commit_loses_no_derived_state(tmp_path: Path) -> None:
    _kill_at_the_end(tmp_path, ["-q", "ingest", str(TRAILS), "--workers", "1"])


def test_kill_after_the_last_commit_of_an_s3_ingest(tmp_path: Path, moto_process: str) -> None:
    env = upload_corpus(moto_process, TRAILS, "trail", "")
    _kill_at_the_end(tmp_path, ["-q", "ingest", "s3://trail/", "--workers", "1", "--concurrency", "1"], **env)
