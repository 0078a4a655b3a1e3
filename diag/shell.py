"""Building the shell commands kmsdiag prints: every value quoted, every comment kept on its line.

Values in printed commands (key IDs, aliases, ARNs, bucket names, session names, regions, account IDs,
policy JSON, bundle paths) come from CloudTrail records and collected documents, which whoever makes an API
call can shape. A pasted command must run ``aws`` (or ``kmsdiag``) with exactly those values as arguments
and nothing else: :func:`q` quotes a value for a POSIX shell (``shlex.quote``), :func:`comment` writes a
``#`` line that a newline in a value cannot end early.
"""

from __future__ import annotations

import re
import shlex

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def q(value: object) -> str:
    """``value`` as one shell word."""
    return shlex.quote(str(value))


def one_line(value: object) -> str:
    """``value`` with control characters (newlines included) shown as ``\\xNN`` escapes."""
    return _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def comment(text: object) -> str:
    """A shell comment line: ``# text``, on one line whatever ``text`` holds."""
    return "# " + one_line(text)


def comments_on_one_line(commands: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``commands`` with every comment line (``# ...``) made a single line: a value interpolated into a
    comment cannot start a new command. Command lines are left as they are (their values are quoted where
    they are built)."""
    return tuple(comment(c.lstrip()[1:].lstrip()) if c.lstrip().startswith("#") else c for c in commands)
