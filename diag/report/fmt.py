"""Small formatting helpers shared by the HTML and Markdown renderers (pure functions, no escaping here)."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from diag import arn as arns
from diag.textclean import strip_control

if TYPE_CHECKING:
    from markupsafe import Markup


def ts(value: dt.datetime | None) -> str:
    """``2026-11-29 06:00 UTC`` (all kmsdiag times are naive UTC)."""
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M UTC")


def num(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def count(value: int | None, noun: str, plural: str | None = None) -> str:
    """``1 failure``, ``2 failures``, ``1,204 causes`` (``plural`` when adding an s is wrong)."""
    word = noun if value == 1 else (plural or noun + "s")
    return f"{num(value)} {word}"


def short_arn(value: str | None) -> str:
    """A readable short form: ``222222222222:role/DataProcessingRole``, ``111111111111:key/1234abcd…``.

    The full ARN stays available next to it (title attribute in HTML, JSON everywhere).
    """
    if not value:
        return "—"
    text = strip_control(value)
    parts = arns.parse(text)
    if parts is not None:
        account, resource = parts.account, parts.resource
        if resource.startswith("key/") and len(resource) > 16:
            resource = resource[:12] + "…"
        return f"{account}:{resource}" if account else resource
    return text


def pretty_json(value: Any) -> str:
    """Indented JSON for evidence and policies (orjson; strings keep their content, escaping is the renderer's)."""
    import orjson

    from diag.jsonout import json_default as _default

    return orjson.dumps(value, default=_default, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()


def first_fix(findings: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The fix of the primary finding (the first one that has a fix)."""
    for f in findings:
        fix = f.get("fix")
        if isinstance(fix, dict) and (fix.get("summary") or fix.get("commands") or fix.get("policy")):
            return fix
    return None


def commands(fix: dict[str, Any] | None) -> list[str]:
    if not fix:
        return []
    cmds = fix.get("commands") or []
    if isinstance(cmds, str):
        cmds = [cmds]
    return [strip_control(c) for c in cmds if c]


def audit_where(finding: dict[str, Any]) -> str:
    """Where an audit finding sits: ``key policy · statement #1 · Sid "AllowData"`` (unescaped text)."""
    parts = []
    if finding.get("policy"):
        parts.append(strip_control(finding["policy"]))
    if finding.get("statement_index") is not None:
        parts.append(f"statement #{finding['statement_index']}")
    if finding.get("sid"):
        parts.append(f'Sid "{strip_control(finding["sid"])}"')
    return " · ".join(parts) or "—"


def audit_resource(finding: dict[str, Any]) -> str:
    """The finding's resource, short, with its account in front when the short form does not show it."""
    account = strip_control(finding.get("account") or "")
    resource = short_arn(finding.get("resource")) if finding.get("resource") else ""
    if account and not resource.startswith(account + ":"):
        return f"{account} · {resource}" if resource else account
    return resource or "—"


_CODE_SPAN = re.compile(r"`([^`]+)`")


def inline_md(value: Any) -> Markup:
    """Prose that uses Markdown code spans (``the `arn:…` principal``) as safe HTML: escaped first, then each
    `code span` becomes ``<code>``. No other Markdown is interpreted (no links, no images)."""
    from markupsafe import Markup, escape

    text = str(escape(strip_control("" if value is None else str(value))))
    return Markup(_CODE_SPAN.sub(lambda m: f"<code>{m.group(1)}</code>", text))  # noqa: S704 - escaped above
