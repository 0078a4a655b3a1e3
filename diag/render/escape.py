"""Make attacker-controlled strings inert for the terminal.

CloudTrail fields (user agents, session names, request parameters, error messages) are controlled by
whoever made the call. Before they reach a terminal we remove control characters (ANSI CSI/OSC
sequences, bells, backspaces, carriage returns that overwrite a line) and never let rich interpret them
as markup: untrusted text is wrapped in ``rich.text.Text`` (never parsed) or escaped with
``rich.markup.escape`` when it must sit inside a markup string.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from diag.textclean import strip_control

if TYPE_CHECKING:
    from rich.text import Text

__all__ = ["safe_markup", "safe_text", "strip_control"]


def safe_text(value: object, style: str = "") -> Text:
    """A rich Text holding ``value`` literally: no markup parsing, no control characters."""
    from rich.text import Text

    return Text(strip_control(value), style=style)


def safe_markup(value: object) -> str:
    """``value`` escaped for embedding inside a rich markup string."""
    from rich.markup import escape

    return escape(strip_control(value))
