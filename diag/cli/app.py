"""Entry point: builds the typer app from the ``cmd_*`` modules and maps errors to exit codes."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from pathlib import Path
from typing import Any

import typer

from diag.cli.common import DbOpt, DebugOpt, JsonOpt, QuietOpt, WaitOpt, merge_globals, reset_state, state
from diag.errors import EXIT_USAGE

HELP = """Explain AWS KMS AccessDenied across accounts.

kmsdiag ingests CloudTrail from every account involved, keeps the policies that were in force, evaluates AWS's authorization logic itself and names the broken layer, with evidence and the exact fix.

Examples: `kmsdiag demo` (no AWS account needed), then `kmsdiag ingest ./trails/`, `kmsdiag collect --from-dir ./bundle`, `kmsdiag explain <event-id>`.
"""

app = typer.Typer(
    name="kmsdiag",
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _globals(
    db: DbOpt = None,
    json_output: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    wait: WaitOpt = 0.0,
) -> None:
    merge_globals(db=db, json_output=json_output, quiet=quiet, debug=debug, wait=wait)


def _register_commands() -> None:
    package_dir = Path(__file__).resolve().parent
    for mod in sorted(pkgutil.iter_modules([str(package_dir)]), key=lambda m: m.name):
        if mod.name.startswith("cmd_"):
            module = importlib.import_module(f"diag.cli.{mod.name}")
            module.register(app)


_register_commands()


def _click_kind(exc: BaseException) -> str | None:
    """Classify click's exceptions by class name: typer >= 0.29 vendors click as ``typer._click``, older
    typer uses ``click`` itself, and both must map to the documented exit codes."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    for kind in ("Abort", "Exit", "ClickException"):
        if kind in names:
            return kind
    return None


def _traceback() -> None:
    """``--debug``: the traceback of the exception being handled, on stderr (the exit code is unchanged)."""
    import traceback

    traceback.print_exc(file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return (and, as a console script, exit with) the documented exit code.

    ``--debug`` adds the traceback of an error on stderr and changes nothing else (same exit code).
    """
    from diag.cli import interrupt
    from diag.files import private_umask

    reset_state()
    old_umask = private_umask()
    handlers = interrupt.install()
    args = sys.argv[1:] if argv is None else argv
    try:
        code = _run(args)
    finally:
        os.umask(old_umask)
        if argv is not None:  # called in-process (tests): leave the caller's signal handling as it was
            interrupt.restore(handlers)
    if argv is None:
        interrupt.ignore()  # the work is done: a late signal must not kill the interpreter's shutdown
        if interrupt.received() is not None:
            interrupt.end_now(code)
        sys.exit(code)
    return code


def build_command() -> Any:
    """The click command of the kmsdiag app, with conventional metavars."""
    from diag.cli.helpfmt import conventional_metavars

    return conventional_metavars(typer.main.get_command(app))


def _run(args: list[str]) -> int:
    """The command's exit code; errors and interruptions reported on stderr."""
    from diag.cli import interrupt

    debug = "--debug" in args
    try:
        command = build_command()
        result = command.main(args=args, prog_name="kmsdiag", standalone_mode=False)
        code = result if isinstance(result, int) else 0
        signum = interrupt.received()
        if signum is not None:  # typer turns KeyboardInterrupt into a plain exit code 130
            code = interrupt.report(signum)
        sys.stdout.flush()
    except BrokenPipeError:
        code = interrupt.reader_went_away()
    except BaseException as exc:
        signum = interrupt.signal_behind(exc)
        if debug or state().debug:
            _traceback()
        code = interrupt.report(signum) if signum is not None else _error_code(exc)
    return code


def _error_code(exc: BaseException) -> int:
    """Print one message for ``exc`` on stderr; return its documented exit code."""
    from diag.cli import interrupt

    code = interrupt.report_kmsdiag_error(exc)
    if code is not None:
        return code
    kind = _click_kind(exc)
    if kind == "Abort":
        sys.stderr.write("aborted\n")
        return 130
    if kind == "Exit":
        return int(getattr(exc, "exit_code", 0) or 0)
    if kind == "ClickException":
        exc.show()  # type: ignore[attr-defined]
        return int(getattr(exc, "exit_code", 0) or 0) or EXIT_USAGE
    return interrupt.report_internal_error(exc)
