"""The two consoles (stdout for results, stderr for messages and progress) and JSON output."""

from __future__ import annotations

import sys
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


@cache
def out() -> Console:
    """Results. rich turns colour off when stdout is not a terminal or NO_COLOR is set.

    On a terminal prose wraps at its width; piped to a file or another program nothing is hard-wrapped
    (lines stay whole, as a terminal would show them unwrapped). Machine text (JSON, ARNs, IDs, commands)
    is printed with ``soft_wrap=True`` everywhere, and tables fold prose but never identifiers
    (``diag.render.tables``). A reader that closes the pipe (``| head``) raises BrokenPipeError to the
    entry point, which exits 0 (rich's own handling would exit 1).
    """
    from rich.console import Console

    class _Out(Console):
        def on_broken_pipe(self) -> None:
            raise BrokenPipeError

    console = _Out(highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console.soft_wrap = True
    return console


@cache
def err() -> Console:
    """Messages, warnings and progress bars: never on stdout, so `--json` output stays clean."""
    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    if not console.is_terminal:  # a log file: messages stay whole lines
        console.soft_wrap = True
    return console


def _default(obj: Any) -> Any:
    import datetime as dt
    from pathlib import Path

    if isinstance(obj, dt.datetime):
        return obj.strftime("%Y-%m-%dT%H:%M:%SZ") if obj.tzinfo is None else obj.isoformat()
    if isinstance(obj, dt.date):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def to_json(obj: Any, *, indent: bool = True) -> str:
    """Serialize for `--json` output (orjson; datetimes as ISO 8601 UTC)."""
    import orjson

    opts = orjson.OPT_INDENT_2 if indent else 0
    return orjson.dumps(obj, default=_default, option=opts | orjson.OPT_NON_STR_KEYS).decode()


def print_json(obj: Any, *, indent: bool = True) -> None:
    """Write JSON to stdout, unstyled (JSON escaping already neutralizes control characters)."""
    sys.stdout.write(to_json(obj, indent=indent) + "\n")
    sys.stdout.flush()
