"""The nightly report: a model computed in DuckDB (``model``) and three renderers (HTML, Markdown, JSON).

Public entry points::

    from diag.report import generate
    report, text = generate(con, since="24h", fmt="html")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

    from diag.report.model import Report

FORMATS = ("html", "md", "json")


def render(report: Report, fmt: str) -> str:
    """The report as ``html``, ``md`` or ``json`` text."""
    if fmt == "html":
        from diag.report.html import render_html

        return render_html(report)
    if fmt == "md":
        from diag.report.markdown import render_markdown

        return render_markdown(report)
    if fmt == "json":
        return report_json(report)
    raise ValueError(f"unknown report format {fmt!r}")


def report_json(report: Report) -> str:
    """The full model as JSON; times are ISO 8601 UTC with a ``Z`` (the model's times are naive UTC)."""
    import orjson

    from diag.jsonout import json_default as _default

    opts = orjson.OPT_INDENT_2 | orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
    return orjson.dumps(report.to_dict(), default=_default, option=opts).decode() + "\n"


def generate(
    con: duckdb.DuckDBPyConnection, *, since: str = "24h", until: str | None = None, fmt: str = "html"
) -> tuple[Report, str]:
    """Build the report over ``since``..``until`` (compared with the last recorded run) and render it."""
    from diag.report.build import build_report
    from diag.report.window import parse_window

    report = build_report(con, parse_window(since, until))
    return report, render(report, fmt)
