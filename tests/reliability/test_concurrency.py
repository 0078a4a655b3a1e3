"""Concurrency: a notebook holding the database while ingest, diagnose or report runs; two nightly runs.

The writer fails fast with the documented message and exit code 4, or waits with ``--wait SECONDS``;
the file is never corrupted. Two `kmsdiag nightly` runs at once: one runs, the other exits 4 naming it.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.reliability.crashutil import REPO, child_env

pytestmark = pytest.mark.slow  # kill loops, moto servers or fuzzing budgets: `python3 -m pytest -m slow`

SAMPLE = REPO / "sample_trails" / "01-guide-walkthrough"

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
con.execute("SELECT count(*) FROM events").fetchall()
print("ready", flush=True)
time.sleep(float(sys.argv[3]))
con.close()
"""


def _hold(db: Path, mode: str, seconds: float) -> subprocess.Popen[str]:
    """A 'notebook' process holding the database (read-write or read-only) for ``seconds``."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db), mode, str(seconds)], stdout=subprocess.PIPE, text=True, env=child_env()
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


@pytest.fixture(scope="module")
def base_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from diag.cli.app import main

    db = tmp_path_factory.mktemp("conc") / "base.duckdb"
    assert main(["--db", str(db), "-q", "ingest", str(SAMPLE / "trails"), "--workers", "1"]) == 0
    assert main(["--db", str(db), "-q", "collect", "--from-dir", str(SAMPLE / "bundle")]) == 0
    return db


@pytest.fixture
def db(base_db: Path, tmp_path: Path) -> Iterator[Path]:
    import shutil

    path = tmp_path / "k.duckdb"
    shutil.copy(base_db, path)
    yield path
    con = duckdb.connect(str(path), read_only=True)  # never a corrupt file
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] > 0
    con.close()


COMMANDS = {
    "ingest": ["ingest", str(SAMPLE / "trails"), "--workers", "1"],
    "diagnose": ["diagnose"],
    "report": ["report", "--since", "3650d", "--format", "json", "--out", "-"],
}


@pytest.mark.parametrize("mode", ["rw", "ro"])
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_writer_fails_fast_while_a_notebook_holds_the_db(db: Path, run_cli: Any, name: str, mode: str) -> None:
    holder = _hold(db, mode, 60)
    try:
        started = time.monotonic()
        code, _out, err = run_cli("--db", db, *COMMANDS[name])
        elapsed = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert code == 4, err
    flat = " ".join(err.split())
    assert f"is locked by process {holder.pid}" in flat
    assert "--wait SECONDS" in flat
    if mode == "ro":  # advice that fits a read-only holder: close it, not "open it read-only"
        assert "open read-only" in flat and "con.close()" in flat and "read_only=True" not in flat
    else:
        assert "read_only=True" in flat and "con.close()" in flat
    assert "import duckdb" not in flat, "the holder's python -c source must not be pasted"
    assert "Traceback" not in err
    assert elapsed < 20  # fails fast (generous: shared CI machines)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_writer_waits_with_wait(db: Path, run_cli: Any, name: str) -> None:
    holder = _hold(db, "rw", 1.5)
    try:
        code, _out, err = run_cli("--db", db, "--wait", "120", *COMMANDS[name])
    finally:
        holder.wait(timeout=60)
    assert code == 0, err


def test_read_only_report_runs_beside_a_read_only_notebook(db: Path, run_cli: Any) -> None:
    holder = _hold(db, "ro", 60)
    try:
        code, out, err = run_cli(
            "--db", db, "report", "--no-record", "--since", "3650d", "--format", "json", "--out", "-"
        )
    finally:
        holder.kill()
        holder.wait()
    assert code == 0, err
    assert '"headline"' in out


# --------------------------------------------------------------------------------------------- nightly

LOCK_HOLDER = """
import sys, time
from pathlib import Path
from diag.nightly import run_lock
with run_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _lock_holder(db: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(db), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=REPO,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_run_lock_is_owner_only_names_the_holder_and_dies_with_it(tmp_path: Path) -> None:
    from diag.errors import RefusedError
    from diag.nightly import lock_path, run_lock

    db = tmp_path / "n.duckdb"
    holder = _lock_holder(db, 60)
    try:
        assert stat.S_IMODE(lock_path(db).stat().st_mode) == 0o600
        with pytest.raises(RefusedError) as info, run_lock(db):
            pass
        assert f"PID {holder.pid}" in info.value.message and info.value.exit_code == 4
    finally:
        holder.send_signal(signal.SIGKILL)  # a crashed run: the kernel releases the flock
        holder.wait()
    with run_lock(db, wait=10) as path:
        assert path.read_text().strip() == str(os.getpid())


def test_two_nightly_runs_at_once_one_runs_the_other_says_so(tmp_path: Path, run_cli: Any) -> None:
    db = tmp_path / "n.duckdb"
    out = tmp_path / "report.html"
    first = subprocess.Popen(
        [sys.executable, "-m", "diag", "--db", str(db), "--json", "nightly", str(SAMPLE / "trails"),
         "--from-dir", str(SAMPLE / "bundle"), "--since", "3650d", "--out", str(out), "--workers", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(), cwd=REPO,
    )  # fmt: skip
    lock = Path(str(db) + ".lock")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (lock.exists() and lock.read_text().strip() == str(first.pid)):
        assert first.poll() is None, first.communicate()
        time.sleep(0.05)
    code, _o, err = run_cli("--db", db, "nightly", "--no-collect")
    stdout, stderr = first.communicate(timeout=600)
    assert code == 4, err
    assert f"another kmsdiag nightly run (PID {first.pid})" in " ".join(err.split())
    assert first.returncode == 0, stderr
    import json

    summary = json.loads(stdout)
    assert summary["pid"] == first.pid and summary["diagnose"]["failures"] >= 1
    assert out.is_file() and summary["report"]["out"] == str(out)
    # a second run after the first: nothing new to ingest, waits for nobody
    code, out2, err = run_cli("--db", db, "--json", "nightly", str(SAMPLE / "trails"), "--no-collect", "--workers", "1")
    assert code == 0, err
    assert json.loads(out2)["ingest"]["local"]["files_ingested"] == 0


def test_nightly_waits_with_wait(tmp_path: Path, run_cli: Any) -> None:
    db = tmp_path / "n.duckdb"
    holder = _lock_holder(db, 1.5)
    try:
        code, _o, err = run_cli("--db", db, "--wait", "120", "-q", "nightly", "--no-collect")
    finally:
        holder.wait(timeout=60)
    assert code == 0, err
