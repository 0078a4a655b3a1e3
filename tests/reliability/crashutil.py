"""Run kmsdiag in a child process (optionally killed at a chosen point) and read a database's state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
KILLER = Path(__file__).with_name("killer.py")
SIGKILLED = -signal.SIGKILL


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KMSDIAG_")}
    env.update({"PYTHONPATH": str(REPO), "NO_COLOR": "1", **extra})
    return env


def run_killer(args: list[str], *, kill_at: int = 0, when: str = "before", timeout: float = 300, **env: str) -> int:
    """Run the CLI through killer.py; return its exit code (SIGKILLED when the kill point was reached)."""
    extra = {"KMSDIAG_KILL_AT_CALL": str(kill_at), "KMSDIAG_KILL_WHEN": when, **env}
    proc = subprocess.run(
        [sys.executable, str(KILLER), *args],
        env=child_env(**extra),
        cwd=REPO,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode not in (0, SIGKILLED):
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr.decode(errors='replace')[-2000:]}")
    return proc.returncode


def run_and_signal(args: list[str], delay: float, *, timeout: float = 300) -> int:
    """Run `python -m diag ARGS` and SIGKILL it after ``delay`` seconds (if it still runs)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "diag", *args],
        env=child_env(),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=timeout)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode not in (0, SIGKILLED):
        raise AssertionError(f"exit {proc.returncode}: {err[-2000:]}")
    return proc.returncode


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    t = time.monotonic()
    out = fn(*args, **kwargs)
    return out, time.monotonic() - t


def ingest_state(db: Path) -> tuple[list[str], dict[str, int], int]:
    """(sorted event IDs, ingested_files status counts, events row count)."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        ids = [r[0] for r in con.execute("SELECT event_id FROM events ORDER BY event_id").fetchall()]
        status = dict(con.execute("SELECT status, count(*) FROM ingested_files GROUP BY 1").fetchall())
        n = con.execute("SELECT count(*) FROM events").fetchone()[0]
    finally:
        con.close()
    return ids, status, n
