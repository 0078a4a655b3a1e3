"""diag.cli.interrupt with real signals: the first raises, the second is ignored during clean-up, the third
ends the process at once with the first signal's exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PROGRAM = """
import os, signal, time
from diag.cli import interrupt
interrupt.install()
try:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(10)
except KeyboardInterrupt as exc:
    print("first", type(exc).__name__, interrupt.received(), flush=True)
    for _ in range({more}):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
    print("cleaned up", flush=True)
"""


def _run(more: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROGRAM.format(more=more)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_second_signal_is_ignored_during_clean_up() -> None:
    p = _run(1)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["first Interrupted 15", "cleaned up"]
    assert p.stderr == ""


def test_third_signal_ends_at_once_with_the_first_signals_code() -> None:
    p = _run(2)
    assert p.returncode == 143
    assert p.stdout.splitlines() == ["first Interrupted 15"]
    assert "interrupted; run the same command again to finish (stopped at once)" in p.stderr
    assert "Traceback" not in p.stderr
