"""SIGINT (to the process group, like Ctrl-C) and SIGTERM (to kmsdiag alone) at many moments of an ingest,
local and from S3 (a moto server over HTTP): exit 130 / 143 with one line, never a crash or traceback,
no worker process left behind, and the same command again gives the uninterrupted run's database."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.reliability.crashutil import REPO
from tests.reliability.dbstate import database_state
from tests.reliability.motoproc import upload_corpus
from tests.reliability.sigutil import assert_clean_end, run_and_interrupt

pytestmark = pytest.mark.slow

# Fractions of an uninterrupted run's wall time at which the signal is sent (start, middle, near the end).
MOMENTS = (0.1, 0.3, 0.55, 0.8, 0.95)
STARTUP = 0.3  # about the interpreter's start and kmsdiag's imports, before the database is opened
ENV = {"KMSDIAG_INGEST_COMMIT_ROWS": "400"}  # many transactions: signals land inside and between them


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sigcorpus")
    subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gen_corpus.py"), "--events", "16000", "--out", str(root)],
        check=True,
        capture_output=True,
    )
    return root


def _reference(
    tmp_path: Path, args: list[str], *, s3: bool = False, **env: str
) -> tuple[dict[str, list[tuple[object, ...]]], float]:
    ref = tmp_path / "ref.duckdb"
    started = time.monotonic()
    end = run_and_interrupt(["--db", str(ref), *args], 600, signal.SIGINT, group=True, **{**ENV, **env})
    assert end.code == 0, end.stderr
    return database_state(ref, any_arrival_order=s3), time.monotonic() - started - STARTUP


def _interrupt_and_rerun(
    tmp_path: Path, args: list[str], wall: float, expected: object, *, s3: bool = False, **env: str
) -> int:
    interrupted = 0
    for i, fraction in enumerate(MOMENTS):
        for sig, group in ((signal.SIGINT, True), (signal.SIGTERM, False)):
            db = tmp_path / f"run-{i}-{sig}.duckdb"
            end = run_and_interrupt(
                ["--db", str(db), *args], wall * fraction, sig, group=group, after=db, **{**ENV, **env}
            )
            interrupted += assert_clean_end(end, sig)
            again = run_and_interrupt(["--db", str(db), *args], 600, sig, group=group, **{**ENV, **env})
            assert again.code == 0, again.stderr
            got = database_state(db, any_arrival_order=s3)
            assert got == expected, f"signal {sig} at {fraction:.0%} of the run"
    return interrupted


def test_local_ingest_interrupted_at_any_moment(corpus: Path, tmp_path: Path) -> None:
    args = ["-q", "ingest", str(corpus), "--workers", "2"]
    expected, wall = _reference(tmp_path, args)
    assert expected["policy_changes"]
    interrupted = _interrupt_and_rerun(tmp_path, args, wall, expected)
    assert interrupted >= len(MOMENTS) - 1, f"only {interrupted} signals landed while the ingest ran"


def test_s3_ingest_interrupted_at_any_moment(corpus: Path, tmp_path: Path, moto_process: str) -> None:
    env = upload_corpus(moto_process, corpus, "trail", "logs/")
    args = ["-q", "ingest", "s3://trail/logs/", "--workers", "2", "--concurrency", "2"]
    expected, wall = _reference(tmp_path, args, s3=True, **env)
    assert expected["policy_changes"]
    interrupted = _interrupt_and_rerun(tmp_path, args, wall, expected, s3=True, **env)
    assert interrupted >= len(MOMENTS) // 2, f"only {interrupted} signals landed while the ingest ran"


def test_workers_of_a_sigkilled_ingest_end_silently(corpus: Path, tmp_path: Path) -> None:
    """kill -9 of kmsdiag alone (not its process group): its parser processes see their input close and
    exit without a word (no BrokenPipe traceback on the shared stderr), within seconds."""
    args = ["-q", "ingest", str(corpus), "--workers", "2"]
    _, wall = _reference(tmp_path, args)
    landed = 0
    for i, fraction in enumerate((0.2, 0.5, 0.8)):
        db = tmp_path / f"k-{i}.duckdb"
        end = run_and_interrupt(
            ["--db", str(db), *args], wall * fraction, signal.SIGKILL, group=False, after=db, **ENV
        )  # run_and_interrupt fails if a process of the session outlives it
        assert "Traceback" not in end.stderr and "BrokenPipe" not in end.stderr, end.stderr[-3000:]
        landed += end.code == -signal.SIGKILL
    assert landed >= 2
