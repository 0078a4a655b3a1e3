"""Global options shared by every command, and the decorator that adds them.

``--db``, ``--json``, ``--quiet``, ``--debug``, ``--wait`` work on every command, before or after
its name (``kmsdiag --json explain X`` and ``kmsdiag explain X --json``). ``@command`` appends them to
each command's signature, so command modules only declare their own options and read ``state()``.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class GlobalState:
    db: Path | None = None
    json: bool = False
    quiet: bool = False
    debug: bool = False
    wait: float = 0.0


_STATE = GlobalState()


def state() -> GlobalState:
    """The global options in force for this invocation."""
    return _STATE


def reset_state() -> None:
    """Forget options of a previous invocation (the test runner calls main() repeatedly)."""
    global _STATE
    _STATE = GlobalState()


DbOpt = Annotated[
    Path | None,
    typer.Option("--db", help="DuckDB file (default: $KMSDIAG_DB, else ./kmsdiag.duckdb).", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout, nothing else there.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only results and errors; no progress.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")]
WaitOpt = Annotated[
    float,
    typer.Option(
        "--wait", help="Seconds to wait for another process's database lock (default: fail fast).", show_default=False
    ),
]

_GLOBAL_PARAMS = {
    "db": (DbOpt, None),
    "json_output": (JsonOpt, False),
    "quiet": (QuietOpt, False),
    "debug": (DebugOpt, False),
    "wait": (WaitOpt, 0.0),
}


def merge_globals(**values: Any) -> None:
    """Record global options; a value given after the command adds to one given before it."""
    st = _STATE
    if values.get("db") is not None:
        st.db = values["db"]
    st.json = st.json or bool(values.get("json_output"))
    st.quiet = st.quiet or bool(values.get("quiet"))
    st.debug = st.debug or bool(values.get("debug"))
    if values.get("wait"):
        st.wait = float(values["wait"])


def reflow_help(doc: str | None) -> str | None:
    """Join the wrapped lines of each docstring paragraph so that rich re-wraps help to the terminal.

    Lines that start an example (``Example:``/``Examples:``), list items and indented lines keep their breaks.
    """
    if not doc:
        return doc
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    out = []
    for para in paragraphs:
        lines = para.splitlines()
        keep = any(
            ln.startswith((" ", "-", "*", "Example", "kmsdiag ")) or ln.lstrip().startswith("$") for ln in lines[1:]
        )
        out.append(para if keep else " ".join(ln.strip() for ln in lines))
    return "\n\n".join(out)


def command(app: typer.Typer, name: str | None = None, **kwargs: Any) -> Callable[[F], F]:
    """Register ``fn`` as a command of ``app`` with the global options appended to its signature."""

    def deco(fn: F) -> F:
        sig = inspect.signature(fn)
        try:  # resolve string annotations (modules using `from __future__ import annotations`)
            hints = typing.get_type_hints(fn, include_extras=True)
        except Exception:
            hints = {}
        sig = sig.replace(
            parameters=[p.replace(annotation=hints.get(p.name, p.annotation)) for p in sig.parameters.values()]
        )
        extra = [
            inspect.Parameter(pname, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=ann)
            for pname, (ann, default) in _GLOBAL_PARAMS.items()
        ]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kw: Any) -> Any:
            merge_globals(**{k: kw.pop(k) for k in list(kw) if k in _GLOBAL_PARAMS})
            return fn(*args, **kw)

        params = list(sig.parameters.values()) + extra
        wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        wrapper.__doc__ = reflow_help(fn.__doc__)
        app.command(name, **kwargs)(wrapper)
        return fn

    return deco


def open_writer(*, must_exist: bool = False) -> Any:
    """Open the database for writing with the global --db and --wait.

    ``must_exist``: for commands that only add to what ingest stored (diagnose, a recorded report): a
    missing file is a NotFoundError (exit 1) naming the command that fills it, never a new empty database.
    """
    from diag.store import open_db

    st = state()
    if must_exist:
        require_database(st.db)
    return open_db(st.db, read_only=False, wait=st.wait)


def require_database(path: Path | None) -> None:
    """NotFoundError (exit 1) when there is no database file at ``path`` (or the default)."""
    from diag.store.connection import require_db

    require_db(path)


def open_reader() -> Any:
    """Open the database read-only (many readers may share it)."""
    from diag.store import open_db

    st = state()
    return open_db(st.db, read_only=True, wait=st.wait)
