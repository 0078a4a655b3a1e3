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
        from diag.render.console import to_json

        return to_json(report.to_dict()) + "\n"
    raise ValueError(f"unknown report format {fmt!r}")


def generate(
    con: duckdb.DuckDBPyConnection, *, since: str = "24h", until: str | None = None, fmt: str = "html"
) -> tuple[Report, str]:
    """Build the report over ``since``..``until`` (compared with the last recorded run) and render it."""
    from diag.report.model import build_report
    from diag.report.window import parse_window

    report = build_report(con, parse_window(since, until))
    return report, render(report, fmt)
