"""`kmsdiag status` on a database killed while its schema was being created: a clear report (exit 0), and
the next command that writes completes the migrations. Real SIGKILLs, sent from outside moments after the
database file appears (the migrations run inside ``open_db``, before any statement killer.py counts)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from diag.store.migrations import discover
from tests.reliability.crashutil import REPO, child_env
from tests.reliability.sigutil import run_and_interrupt

pytestmark = pytest.mark.slow

TRAILS = REPO / "sample_trails" / "12-key-policy-overwritten" / "trails"
DELAYS = (0.0, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.15)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "diag", *args], env=child_env(), cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_status_after_a_kill_during_schema_creation(tmp_path: Path) -> None:
    migrations = discover()
    cut = 0  # kills that left the schema unfinished
    for i, delay in enumerate(DELAYS):
        db = tmp_path / f"db-{i}.duckdb"
        args = ["--db", str(db), "-q", "ingest", str(TRAILS), "--workers", "1"]
        end = run_and_interrupt(args, delay, signal.SIGKILL, group=True, after=db)
        assert end.code in (0, -signal.SIGKILL), end.stderr
        status = _cli("--db", str(db), "status")
        assert "Traceback" not in status.stderr and "internal error" not in status.stderr
        if status.returncode == 1:  # killed before DuckDB wrote the file's headers: nothing to show
            assert "never completely created" in status.stderr
            cut += 1
        else:
            assert status.returncode == 0, status.stderr
            info = json.loads(_cli("--db", str(db), "status", "--json").stdout)
            assert len(info["migrations"]) + len(info["migrations_pending"]) == len(migrations)
            if info["migrations_pending"]:
                cut += 1
                assert "not applied yet" in status.stdout
        again = _cli(*args)
        assert again.returncode == 0, again.stderr
        info = json.loads(_cli("--db", str(db), "status", "--json").stdout)
        assert info["migrations_pending"] == [] and len(info["migrations"]) == len(migrations)
        assert info["tables"]["events"] > 0
    assert cut >= 2, f"only {cut} kills landed while the schema was being created"
