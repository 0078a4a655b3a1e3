"""Attacker-controlled text made inert: terminal control sequences (ANSI CSI/OSC, bells, backspaces, carriage
returns, bidi overrides) replaced by a visible placeholder. Used by every output (terminal, Markdown, HTML,
reports); the terminal's rich wrapping is in ``diag.render.escape``."""

from __future__ import annotations

import re

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
