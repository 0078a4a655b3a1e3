"""Wildcards of IAM policies: ``*``/``?`` globs for actions and strings, ARN patterns, policy variables.

Rules (IAM User Guide, policy elements):

- Actions: ``service:Name`` compared case-insensitively; ``*`` matches any run of characters, ``?`` one.
- Resources: ARNs compared segment by segment (``arn:partition:service:region:account:resource``); in
  the first five segments a wildcard does not cross a ``:`` unless the ``*`` is the last character of its
  segment (IAM User Guide: such a ``*`` "can expand to match beyond colon boundaries", so
  ``arn:aws:kms:*`` matches every KMS ARN); in the resource part ``*`` matches anything (including ``/``
  and ``:``). Matching is case-sensitive. Policy variables (``${aws:username}``)
  are substituted first, and their values are literal (a ``*`` in a user name is not a wildcard);
  ``${*}``, ``${?}``, ``${$}`` are the literal characters. An unresolvable variable makes the pattern
  match nothing.

Compiled regular expressions are cached per pattern (``functools.lru_cache``): no pattern is compiled twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

_VAR_RE = re.compile(r"\$\{([^}]*)\}")


@lru_cache(maxsize=8192)
def glob_regex(pattern: str, case_insensitive: bool, stop_at_colon: bool = False) -> re.Pattern[str]:
    star = "[^:]*" if stop_at_colon else ".*"
    one = "[^:]" if stop_at_colon else "."
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(one)
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL if case_insensitive else re.DOTALL)


def glob_match(pattern: str, value: str, *, case_insensitive: bool = False) -> bool:
    """``*``/``?`` glob match of the whole ``value``."""
    if pattern == "*":
        return True
    if "*" not in pattern and "?" not in pattern:
        return pattern.lower() == value.lower() if case_insensitive else pattern == value
    return glob_regex(pattern, case_insensitive).fullmatch(value) is not None


def action_matches(pattern: str, action: str) -> bool:
    """IAM action match: case-insensitive, with ``*`` and ``?``."""
    return glob_match(pattern, action, case_insensitive=True)


@lru_cache(maxsize=8192)
def arn_regex(tokens: tuple[tuple[bool, str], ...]) -> re.Pattern[str]:
    """Compile an ARN pattern given as (is_literal, text) tokens.

    IAM's rule: wildcards work within a colon-separated segment; a ``*`` that is the last character of a
    segment (followed by ``:`` or the end) may expand across colons; in the resource part (after the
    fifth colon) ``*`` matches anything.
    """
    chars: list[tuple[bool, str]] = [(literal, ch) for literal, text in tokens for ch in text]
    out: list[str] = []
    colons = 0
    for i, (literal, ch) in enumerate(chars):
        if literal or ch not in "*?":
            if ch == ":":
                colons += 1
            out.append(re.escape(ch))
            continue
        in_resource = colons >= 5
        if ch == "?":
            out.append("." if in_resource else "[^:]")
            continue
        last_of_segment = i + 1 == len(chars) or chars[i + 1] == (False, ":") or chars[i + 1] == (True, ":")
        out.append(".*" if in_resource or last_of_segment else "[^:]*")
    return re.compile("".join(out), re.DOTALL)


def substitute(pattern: str, context: Mapping[str, Sequence[str]] | None) -> tuple[tuple[bool, str], ...] | None:
    """Split ``pattern`` into (is_literal, text) tokens with policy variables resolved from ``context``.

    ``context`` maps lower-cased keys to value tuples. Returns None when a variable cannot be resolved
    (absent or multi-valued key without a default): the element then matches nothing.
    """
    if "${" not in pattern:
        return ((False, pattern),)
    tokens: list[tuple[bool, str]] = []
    pos = 0
    for m in _VAR_RE.finditer(pattern):
        if m.start() > pos:
            tokens.append((False, pattern[pos : m.start()]))
        body = m.group(1).strip()
        pos = m.end()
        if body in ("*", "?", "$"):
            tokens.append((True, body))
            continue
        key, default = body, None
        if "," in body:
            key, _, rest = body.partition(",")
            key = key.strip()
            rest = rest.strip()
            if len(rest) >= 2 and rest[0] == rest[-1] == "'":
                default = rest[1:-1]
        values = context.get(key.lower()) if context is not None else None
        if values is not None and len(values) == 1:
            tokens.append((True, values[0]))
        elif default is not None:
            tokens.append((True, default))
        else:
            return None
    if pos < len(pattern):
        tokens.append((False, pattern[pos:]))
    return tuple(tokens)


def resource_matches(pattern: str, resource: str, context: Mapping[str, Sequence[str]] | None = None) -> bool:
    """IAM Resource match of ``resource`` against ``pattern`` (see module docstring)."""
    if pattern == "*":
        return True
    tokens = substitute(pattern, context)
    if tokens is None:
        return False
    if len(tokens) == 1 and not tokens[0][0]:
        text = tokens[0][1]
        if "*" not in text and "?" not in text:
            return text == resource
    return arn_regex(tokens).fullmatch(resource) is not None


def arn_like(pattern: str, value: str) -> bool:
    """ArnLike/ArnEquals: segment-wise, wildcards allowed in each segment (condition operators).

    Each of the six colon-separated components is compared on its own, so a pattern with fewer
    components only matches a value with as many (``"*"`` matches anything).
    """
    if pattern == "*":
        return True
    if pattern.count(":") < 5:
        return value.count(":") == pattern.count(":") and glob_match(pattern, value)
    return arn_regex(((False, pattern),)).fullmatch(value) is not None
