"""The `kmsdiag` entry point: `kmsdiag explain …` runs without importing typer, everything else goes to
the typer app (``diag.cli.app``).

`explain` is what an engineer runs during an incident, and it must answer in well under a second. The typer
app imports every command module and typer itself (which pulls in pydantic and more): several hundred
milliseconds before any work. This module recognizes exactly the documented forms of `explain` (an ID,
``--event-file``, ``--error``, ``--key``, ``--region`` and the global options ``--db``, ``--json``,
``--quiet``, ``--debug``, ``--wait``), and runs the same library calls and renderer as
``diag.cli.cmd_explain``; anything else (``--help``, a typo'd option, other commands) goes to typer, which
gives the usual help and errors.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

_VALUE_OPTS = {"--db", "--wait", "--event-file", "--error", "--key", "--region"}
_FLAG_OPTS = {"--json", "--quiet", "-q", "--debug"}


def parse_explain(args: list[str]) -> dict[str, Any] | None:
    """The options of an `explain` command line, or None when typer should handle it."""
    if "explain" not in args:
        return None
    opts: dict[str, Any] = {"ident": None}
    seen_command = False
    i = 0
    while i < len(args):
        a = args[i]
        name, eq, inline = a.partition("=")
        if a == "explain" and not seen_command:
            seen_command = True
        elif name in _VALUE_OPTS and (eq or i + 1 < len(args)):
            value = inline if eq else args[i + 1]
            if name in opts:  # repeated option: let typer decide
                return None
            opts[name] = value
            i += 0 if eq else 1
        elif a in _FLAG_OPTS and not eq:
            opts[a] = True
        elif seen_command and not a.startswith("-") and opts["ident"] is None:
            opts["ident"] = a
        else:
            return None  # --help, an unknown option, a second argument, options before an unknown command
        i += 1
    return opts if seen_command else None


def _explain(opts: dict[str, Any]) -> int:
    from diag.errors import UsageError

    ident, event_file, error = opts["ident"], opts.get("--event-file"), opts.get("--error")
    given = [x for x in (ident, event_file, error) if x]
    if len(given) != 1:
        raise UsageError("give exactly one of: an ID, --event-file FILE, --error TEXT")
    if (opts.get("--key") or opts.get("--region")) and not error:
        raise UsageError("--key and --region go with --error")
    try:
        wait = float(opts.get("--wait") or 0)
    except ValueError as exc:
        raise UsageError(f"--wait takes a number of seconds, not {opts['--wait']!r}") from exc
    from diag.store import open_db

    if error or event_file:
        from diag.store.connection import open_db_or_empty

        con = open_db_or_empty(opts.get("--db"), wait=wait)
    else:
        con = open_db(opts.get("--db"), read_only=True, wait=wait)
    try:
        from diag.cli.explain_input import explain_input

        path = Path(event_file) if event_file else None
        diag = explain_input(
            con, ident=ident, event_file=path, error=error, key=opts.get("--key"), region=opts.get("--region")
        )
    finally:
        con.close()
    if opts.get("--json"):
        from diag.render.console import print_json

        print_json(diag.to_dict())
    else:
        from diag.cli.explain_input import verdict_title
        from diag.render.console import out
        from diag.render.explain_view import render_diagnosis

        render_diagnosis(out(), diag, title=verdict_title(diag))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run kmsdiag; return (and, as a console script, exit with) the documented exit code.

    SIGINT and SIGTERM are handled from here on (:mod:`diag.cli.interrupt`): exit 130 / 143, one line.
    """
    from diag.cli import interrupt

    handlers = interrupt.install()
    explained: list[bool] = []
    try:
        code = _main(sys.argv[1:] if argv is None else argv, explained if argv is None else None)
    except BaseException:
        signum = interrupt.received()
        if signum is None:
            raise
        code = interrupt.report(signum)  # arrived while importing, before the command's own handling
    finally:
        if argv is not None:  # called in-process (tests): leave the caller's signal handling as it was
            interrupt.restore(handlers)
    if argv is None:
        interrupt.ignore()  # the work is done: a late signal must not kill the interpreter's shutdown
        if interrupt.received() is not None:
            interrupt.end_now(code)  # no interpreter shutdown after an interrupt (see end_now)
        if explained:
            _exit_now(code)
        sys.exit(code)
    return code


def _exit_now(code: int) -> None:
    """End an `explain` process without the interpreter's shutdown (tearing down ~130 modules and every
    object: ~40 ms of an explain). Nothing is left to do: the output is written and flushed here, the
    database was closed by ``_explain`` (read-only, or in memory), kmsdiag registers no exit handler."""
    for stream in (sys.stdout, sys.stderr):  # ``_main`` flushed stdout already (a closed pipe is handled there)
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _main(args: list[str], explained: list[bool] | None = None) -> int:
    """Run the command line ``args``; ``explained`` gets an entry when the `explain` fast path ran it.

    ``explained`` is given only by the console process (:func:`main` without ``argv``): only then may a
    resident server (`kmsdiag serve`, :mod:`diag.cli.server_client`) answer instead. Tests calling ``main``
    in-process, and the server itself, always explain here."""
    fast = not os.environ.get("KMSDIAG_NO_FAST_PATH")
    opts = parse_explain(args) if fast else None
    run = _explain
    if opts is not None and explained is not None:
        explained.append(True)
        from diag.cli.server_client import explain_via_server

        served = explain_via_server(args)  # a running `kmsdiag serve` answers in our place
        if served is not None:
            return served
    if opts is None and fast:  # `simulate --batch` is a whole process too: no typer either
        from diag.cli.simulate_batch import parse_batch, run_batch

        opts, run = parse_batch(args), run_batch
    if opts is None:
        from diag.cli.app import main as full_main

        return full_main(args)
    from diag.cli import interrupt
    from diag.files import private_umask

    old_umask = private_umask()
    try:
        code = run(opts)
        sys.stdout.flush()
    except BrokenPipeError:
        code = interrupt.reader_went_away()
    except BaseException as exc:
        signum = interrupt.signal_behind(exc)
        if opts.get("--debug"):
            import traceback

            traceback.print_exc(file=sys.stderr)
        if signum is not None:
            code = interrupt.report(signum)
        else:
            reported = interrupt.report_kmsdiag_error(exc)
            code = reported if reported is not None else interrupt.report_internal_error(exc)
    os.umask(old_umask)
    return code
