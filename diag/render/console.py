"""The two consoles (stdout for results, stderr for messages and progress) and JSON output."""

from __future__ import annotations

import sys
from functools import cache
from typing import TYPE_CHECKING, Any

from diag.jsonout import json_default, to_json

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


_default = json_default  # the name diag.report imports


def print_json(obj: Any, *, indent: bool = True) -> None:
    """Write JSON to stdout, unstyled (JSON escaping already neutralizes control characters)."""
    sys.stdout.write(to_json(obj, indent=indent) + "\n")
    sys.stdout.flush()
