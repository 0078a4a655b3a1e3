"""`--debug` adds a traceback and changes nothing else (same exit code); every file kmsdiag creates is
owner-only, whatever the caller's umask, also after a SIGKILL (real processes, real kill)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "sample_trails" / "01-guide-walkthrough" / "bundle"
TRAILS = REPO / "sample_trails" / "01-guide-walkthrough" / "trails"


def _env(tmp: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KMSDIAG_")}
    env.update({"PYTHONPATH": str(REPO), "NO_COLOR": "1"})
    if tmp is not None:
        env["TMPDIR"] = str(tmp)
    return env


def _run(*args: str, tmp: Path | None = None, umask: int = 0o022) -> subprocess.CompletedProcess[str]:
    """`python -m diag ARGS` started with a permissive umask (as a user's shell would)."""
    cmd = f"umask {umask:03o}; exec {sys.executable} -m diag " + " ".join(map(_q, args))
    return subprocess.run(["sh", "-c", cmd], env=_env(tmp), cwd=REPO, capture_output=True, text=True, timeout=300)


def _q(s: str) -> str:
    import shlex

    return shlex.quote(s)


@pytest.mark.parametrize("debug", [False, True])
def test_debug_keeps_the_exit_code_of_a_refused_config(tmp_path: Path, debug: bool) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("bogus = 1\n")
    flags = ["--debug"] if debug else []
    p = _run(*flags, "--db", str(tmp_path / "db.duckdb"), "collect", "--config", str(cfg))
    assert p.returncode == 3, p.stderr
    assert "unknown key(s): bogus" in p.stderr
    assert ("Traceback" in p.stderr) is debug


@pytest.mark.parametrize("debug", [False, True])
def test_debug_keeps_the_exit_code_of_a_held_lock(tmp_path: Path, debug: bool) -> None:
    db = tmp_path / "db.duckdb"
    holder = duckdb.connect(str(db))  # this process holds the write lock
    try:
        flags = ["--debug"] if debug else []
        p = _run(*flags, "--db", str(db), "ingest", str(TRAILS))
    finally:
        holder.close()
    assert p.returncode == 4, p.stderr
    assert f"PID {os.getpid()}" in p.stderr or f"process {os.getpid()}" in p.stderr
    assert ("Traceback" in p.stderr) is debug


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.lstat().st_mode) for p in [root, *root.rglob("*")]}


def _assert_private(modes: dict[str, int]) -> None:
    wide = {name: oct(m) for name, m in modes.items() if m & 0o077}
    assert not wide, f"not owner-only: {wide}"


def test_files_created_are_owner_only(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir(mode=0o700)
    db = work / "db.duckdb"
    assert _run("--db", str(db), "-q", "ingest", str(TRAILS)).returncode == 0
    assert Path(str(db) + ".wal").exists() or db.exists()
    assert _run("--db", str(db), "-q", "collect", "--from-dir", str(BUNDLE)).returncode == 0
    for fmt in ("md", "json", "table"):
        p = _run("--db", str(db), "audit", "--format", fmt, "--out", str(work / f"audit.{fmt}"))
        assert p.returncode == 0, p.stderr
    # an existing world-readable output file is made owner-only when overwritten
    (work / "old.md").write_text("x")
    (work / "old.md").chmod(0o644)
    assert _run("--db", str(db), "audit", "--format", "md", "--out", str(work / "old.md")).returncode == 0
    p = _run("--db", str(db), "report", "--out", str(work / "report.html"))
    assert p.returncode in (0, 5), p.stderr
    _assert_private({k: v for k, v in _modes(work).items() if k != "."})


@pytest.mark.slow  # a SIGKILL loop: `python3 -m pytest -m slow`
def test_files_left_by_a_killed_ingest_are_owner_only(tmp_path: Path) -> None:
    work = tmp_path / "work"
    tmp = tmp_path / "tmp"
    work.mkdir(mode=0o700)
    tmp.mkdir(mode=0o755)
    corpus = tmp_path / "corpus"
    subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gen_corpus.py"), "--events", "20000", "--out", str(corpus)],
        check=True,
        capture_output=True,
    )
    db = work / "db.duckdb"
    cmd = f"umask 022; exec {sys.executable} -m diag --db {_q(str(db))} -q ingest {_q(str(corpus))} --workers 2"
    env = {**_env(tmp), "KMSDIAG_INGEST_COMMIT_ROWS": "500"}
    proc = subprocess.Popen(["sh", "-c", cmd], env=env, cwd=REPO, start_new_session=True)
    deadline = time.monotonic() + 60
    while not Path(str(db) + ".wal").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    modes = {k: v for k, v in _modes(work).items() if k != "."}
    modes.update({f"tmp/{k}": v for k, v in _modes(tmp).items() if k != "."})
    assert any(name.endswith(".wal") for name in modes), "the kill landed after the run finished"
    _assert_private(modes)
