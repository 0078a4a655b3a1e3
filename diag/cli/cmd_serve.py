"""`kmsdiag serve`: keep one process warm so that `kmsdiag explain` answers without starting up again."""

# no `from __future__ import annotations`: typer reads these annotations at runtime

import signal
from typing import Annotated, Any

import typer

from diag.cli.common import command, state

DEFAULT_IDLE = 3600.0


def _print_status(info: dict[str, Any], headline: str) -> None:
    if state().json:
        from diag.render.console import print_json

        print_json(info, indent=False)  # one line: a script reads it to know the server is ready
        return
    from diag.render.console import err

    err().print(headline, soft_wrap=True)


def _control(stop: bool) -> None:
    from diag.cli.server import STATUS, STOP, control
    from diag.cli.server_paths import socket_path
    from diag.errors import NotFoundError

    info = control(STOP if stop else STATUS)
    if info is None:
        raise NotFoundError(f"no kmsdiag server answers at {socket_path()}", hint="start one with `kmsdiag serve`")
    verb = "stopping" if stop else "running"
    _print_status(
        info, f"kmsdiag serve: {verb}, pid {info['pid']}, {info['served']} explain(s) answered, at {info['socket']}"
    )


def serve(
    idle_timeout: Annotated[
        float,
        typer.Option(
            "--idle-timeout", help="Stop after this many seconds without a request (0: never).", show_default=True
        ),
    ] = DEFAULT_IDLE,
    verbose: Annotated[bool, typer.Option("--verbose", help="Log one line per request on stderr.")] = False,
    status: Annotated[bool, typer.Option("--status", help="Say whether a server runs, and stop there.")] = False,
    stop: Annotated[bool, typer.Option("--stop", help="Stop the running server.")] = False,
) -> None:
    """Keep a warm process that answers `kmsdiag explain`: the same output and exit code in about half the time.

    Every `kmsdiag explain` of this user and installation then hands its command line, working folder,
    environment and terminal to this process instead of starting Python and DuckDB again. Each request
    opens the database it names read-only and closes it before answering: nothing is cached, and ingest or
    collect can write between requests. With no server running, explain works as always. The server stops
    after --idle-timeout seconds without a request, at Ctrl-C, at `kmsdiag serve --stop`, or when kmsdiag's
    files change on disk (an upgrade). KMSDIAG_NO_SERVER=1 makes an explain ignore it.

    Example:  kmsdiag serve --idle-timeout 7200 &
    """
    from diag.errors import UsageError

    if status or stop:
        if status and stop:
            raise UsageError("give --status or --stop, not both")
        _control(stop)
        return
    if idle_timeout < 0:
        raise UsageError("--idle-timeout takes a number of seconds >= 0")
    from diag.cli.server import serve as run_server

    def ready(info: dict[str, Any]) -> None:
        _print_status(info, f"kmsdiag serve: answering explain at {info['socket']} (pid {info['pid']}); Ctrl-C stops")

    from diag.cli import interrupt
    from diag.render.console import err

    try:
        why = run_server(idle_timeout=idle_timeout, verbose=verbose, ready=ready)
    except KeyboardInterrupt:  # SIGINT or SIGTERM between requests: the usual way to stop a server
        why = "signal"
    signum = interrupt.expected_stop()  # the process then ends without the interpreter's shutdown
    if signum is None:
        err().print(f"kmsdiag serve: stopped: {why}", soft_wrap=True)
        return
    err().print(f"kmsdiag serve: stopped by {signal.Signals(signum).name}", soft_wrap=True)
    raise typer.Exit(interrupt.exit_code(signum))


def register(app: typer.Typer) -> None:
    command(app, "serve")(serve)
