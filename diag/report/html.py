"""The HTML report: one self-contained file (inline CSS and SVG, no script, no external reference).

Jinja2 with autoescape on: every value from the database (CloudTrail user agents, session names, ARNs,
error messages, evidence) is escaped. The only markup passed through is the SVG that matplotlib drew.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from diag.report import fmt
from diag.report.model import Report
from diag.report.window import Window

if TYPE_CHECKING:
    import jinja2

TEMPLATES = Path(__file__).resolve().parent / "templates"
MAX_DETAILED_CAUSES = 100
MAX_AUDIT_ROWS = 25  # per (severity, code) group; the JSON report has every finding


def _inert(value: object) -> object:
    """Every printed value loses terminal control characters (ESC, C1, bidi overrides) before escaping:
    autoescape alone leaves them in attributes and text, live again when the file is `cat` in a terminal."""
    from markupsafe import Markup

    if isinstance(value, str) and not isinstance(value, Markup):
        return fmt.strip_control(value)
    return value


@cache
def environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_inert,
    )
    env.filters.update(
        ts=fmt.ts,
        num=fmt.num,
        count=fmt.count,
        short=fmt.short_arn,
        pretty_json=fmt.pretty_json,
        clean=fmt.strip_control,
        md=fmt.inline_md,
    )
    env.globals.update(
        first_fix=fmt.first_fix, commands=fmt.commands, audit_where=fmt.audit_where, audit_resource=fmt.audit_resource
    )
    return env


def render_html(
    report: Report, *, max_detailed: int = MAX_DETAILED_CAUSES, max_audit_rows: int = MAX_AUDIT_ROWS
) -> str:
    """The report as one HTML document."""
    from markupsafe import Markup

    from diag.report.chart import failures_chart_svg, legend

    window = Window(report.window_start, report.window_end, report.window_label)
    chart = failures_chart_svg(report.timeline, window)
    template = environment().get_template("report.html.j2")
    return template.render(
        r=report,
        h=report.headline,
        dq=report.data_quality,
        chart=Markup(chart),  # noqa: S704 - drawn by matplotlib from verdict codes; no database text
        legend=legend(report.timeline, window) if chart else [],
        detailed=report.causes[:max_detailed],
        rest=report.causes[max_detailed:],
        max_audit_rows=max_audit_rows,
        css=(TEMPLATES / "report.css").read_text(encoding="utf-8"),
    )
