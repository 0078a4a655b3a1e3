"""Make attacker-controlled strings inert for the terminal.

CloudTrail fields (user agents, session names, request parameters, error messages) are controlled by
whoever made the call. Before they reach a terminal we remove control characters (ANSI CSI/OSC
sequences, bells, backspaces, carriage returns that overwrite a line) and never let rich interpret them
as markup: untrusted text is wrapped in ``rich.text.Text`` (never parsed) or escaped with
``rich.markup.escape`` when it must sit inside a markup string.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

# ESC-started sequences (CSI, OSC up to BEL or ST, other two-byte escapes), then any remaining C0/C1
# control character except tab and newline, plus Unicode bidi overrides that can reorder a line.
_ANSI_RE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI ... final byte
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC ... BEL or ST (hyperlinks, window titles)
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS/SOS/PM/APC strings
    r"|\x1b[@-Z\\-_]?"  # other escapes, or a lone ESC
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def strip_control(value: object) -> str:
    """Return ``value`` as text with terminal control sequences replaced by a visible placeholder."""
    text = "" if value is None else str(value)
    text = _ANSI_RE.sub("\N{REPLACEMENT CHARACTER}", text)
    return _CONTROL_RE.sub("\N{REPLACEMENT CHARACTER}", text)


def safe_text(value: object, style: str = "") -> Text:
    """A rich Text holding ``value`` literally: no markup parsing, no control characters."""
    from rich.text import Text

    return Text(strip_control(value), style=style)


def safe_markup(value: object) -> str:
    """``value`` escaped for embedding inside a rich markup string."""
    from rich.markup import escape

    return escape(strip_control(value))
