"""SIGINT and SIGTERM: stop cleanly, say so, exit 130 / 143.

The first signal raises :class:`Interrupted` (a ``KeyboardInterrupt``) in the main thread, so the usual
``finally`` blocks run: ingest stops its committer thread and worker processes, and the database is
closed only when no statement runs on it (closing a busy DuckDB connection aborts the process). Further
signals during that clean-up are recorded and ignored, up to the third, which ends the process at once. Whatever exception the interrupted code ends
with (DuckDB reports an interrupted statement as its own error), the CLI reports the interruption.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, NoReturn

MESSAGE = "interrupted; run the same command again to finish"
_received: list[int] = []


class Interrupted(KeyboardInterrupt):
    """Raised once, in the main thread, at the first SIGINT or SIGTERM."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# The third signal ends the process at once (as kill -9 would: what was committed is kept), for a clean-up
# that waits on something slow, such as an S3 download in flight.
FORCE_AFTER = 3


def _handler(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    if len(_received) == 1:
        raise Interrupted(signum)
    if len(_received) >= FORCE_AFTER:
        try:
            os.write(2, f"\n{MESSAGE} (stopped at once)\n".encode())
        finally:
            os._exit(exit_code(_received[0]))


_Handler = Callable[[int, FrameType | None], Any] | int | None


def install() -> dict[int, _Handler]:
    """Handle SIGINT and SIGTERM in this process; return the previous handlers (for :func:`restore`).

    Outside the main thread (a test calling ``main()`` from a thread) signals cannot be handled: no-op.
    """
    previous: dict[int, _Handler] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    if signal.getsignal(signal.SIGTERM) is _handler:  # already installed (python -m diag, then main())
        return previous
    _received.clear()
    _expected.clear()
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, _handler)
    return previous


def restore(previous: dict[int, _Handler]) -> None:
    """Put back the handlers :func:`install` replaced (``main()`` called in-process, e.g. by tests)."""
    for sig, handler in previous.items():
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def ignore() -> None:
    """Ignore SIGINT and SIGTERM from now on (the process is about to exit with its code)."""
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)


def received() -> int | None:
    """The first signal received since :func:`install`, or None."""
    return _received[0] if _received else None


_expected: list[bool] = []


def expected_stop() -> int | None:
    """The signal received, taken as the command's usual way to stop (`kmsdiag serve`): no "interrupted"
    message follows, and the process still ends at once after it (:func:`end_now`). Further signals are
    ignored while it exits."""
    signum = received()
    if signum is not None:
        ignore()
        _expected.append(True)
    return signum


def end_now(code: int) -> NoReturn:
    """End an interrupted process without the interpreter's shutdown: flush stdout and stderr, then
    ``os._exit``. Every clean-up of kmsdiag's own has run by then (the committer is joined, workers are
    stopped, temporary files removed); what the interpreter's shutdown would add is destroying the objects
    left, and a DuckDB connection or result destroyed then can abort the process after an interrupted
    statement ("terminate called after throwing an instance of '' / FATAL: exception not rethrown", exit
    -6; DuckDB issue #13904 describes the same abort at shutdown). What was committed is kept, as after
    ``kill -9``."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def exit_code(signum: int) -> int:
    """The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + signum


def report(signum: int) -> int:
    """Print the one-line message on stderr (none after :func:`expected_stop`); return the exit code."""
    if _expected:
        return exit_code(signum)
    try:
        sys.stderr.write(f"\n{MESSAGE}\n")
        sys.stderr.flush()
    except OSError:
        pass
    return exit_code(signum)


def signal_behind(exc: BaseException) -> int | None:
    """The signal that ended the work with ``exc`` (SIGINT for a bare KeyboardInterrupt), or None.

    A SystemExit or GeneratorExit that no signal caused is re-raised: it is not an error to report."""
    signum = received()
    if signum is None and isinstance(exc, KeyboardInterrupt):
        signum = signal.SIGINT
    if signum is None and isinstance(exc, SystemExit | GeneratorExit):
        raise exc
    return signum


def report_kmsdiag_error(exc: BaseException) -> int | None:
    """Print a KmsdiagError as one message (and its hint) on stderr and return its exit code; None otherwise."""
    from diag.errors import KmsdiagError

    if not isinstance(exc, KmsdiagError):
        return None
    from diag.render.console import err
    from diag.render.escape import safe_text

    err().print(safe_text(f"kmsdiag: error: {exc.message}", style="bold red"))
    if exc.hint:
        err().print(safe_text(f"hint: {exc.hint}"))
    return exc.exit_code


def report_internal_error(exc: BaseException) -> int:
    """One line for an unexpected exception (the traceback is --debug's); exit code 70."""
    from diag.errors import EXIT_INTERNAL

    sys.stderr.write(f"kmsdiag: internal error: {type(exc).__name__}: {exc} (run with --debug for details)\n")
    return EXIT_INTERNAL


def reader_went_away() -> int:
    """stdout's reader closed the pipe (``kmsdiag explain ID | head``): not an error. Point stdout at
    /dev/null so that the interpreter's final flush does not fail again, and exit 0."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
    return 0
