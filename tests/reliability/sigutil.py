"""Run the CLI in its own session, send it a real signal, and check how it ended (exit code, stderr, no
process of its session left behind)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.reliability.crashutil import REPO, child_env

MESSAGE = "interrupted; run the same command again to finish"
CRASH_MARKS = ("Traceback", "FATAL", "terminate called", "core dumped", "connection is busy", "BrokenPipe")


@dataclass
class Ended:
    code: int
    stderr: str
    signalled: bool  # the signal was sent while it still ran


def _session_members(sid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # fields[3] is the session id
            found.append(int(entry.name))
    return found


def run_and_interrupt(
    args: list[str], delay: float, sig: int, *, group: bool, after: Path | None = None, timeout: float = 120, **env: str
) -> Ended:
    """Run `python -m diag ARGS`; ``delay`` s after the file ``after`` appears (the database: kmsdiag's own
    code runs; not the interpreter's start), send ``sig`` to it (``group``: to its process group, as a
    terminal's Ctrl-C does). Waits for stderr to close (so orphaned children that print are caught) and
    checks that no process of its session outlives it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "diag", *args],
        env=child_env(**env),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    signalled = False
    while after is not None and not after.exists() and proc.poll() is None:
        time.sleep(0.005)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        signalled = True
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    _, err = proc.communicate(timeout=timeout)
    deadline = time.monotonic() + 10
    while _session_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _session_members(proc.pid)
    if left:
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        raise AssertionError(f"processes {left} outlived kmsdiag after {signal.Signals(sig).name}")
    return Ended(proc.returncode, err.decode(errors="replace"), signalled)


def assert_clean_end(end: Ended, sig: int) -> bool:
    """Exit 0 (finished first) or 128+sig with the message; never a crash. Returns True if interrupted."""
    for mark in CRASH_MARKS:
        assert mark not in end.stderr, f"{mark!r} after {signal.Signals(sig).name}: {end.stderr[-3000:]}"
    if end.code == 0:
        return False
    assert end.code == 128 + sig, f"exit {end.code} after {signal.Signals(sig).name}: {end.stderr[-3000:]}"
    assert MESSAGE in end.stderr, f"{signal.Signals(sig).name}: {end.stderr[-3000:]!r}"
    return True
