"""Renderers: HTML escaping and self-containment, Markdown escaping and size, JSON round trip."""

from __future__ import annotations

import datetime as dt
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from diag.report import render
from diag.report.build import build_report
from diag.report.markdown import code_name, md_code, md_text
from diag.report.model import Report
from diag.report.window import parse_window
from diag.store import open_db
from tests.report.factory import NOW, XSS

EXTERNAL = [
    re.compile(r"""\b(?:src|href|xlink:href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE),
    re.compile(r"@import", re.IGNORECASE),
    re.compile(r"url\(\s*['\"]?\s*(?:https?:)?//", re.IGNORECASE),
    re.compile(r"<link\b", re.IGNORECASE),
    re.compile(r"<script\b", re.IGNORECASE),
    re.compile(r"<iframe\b|<object\b|<embed\b|<img\b", re.IGNORECASE),
]


@pytest.fixture
def report(walkthrough_con: duckdb.DuckDBPyConnection) -> Report:
    return build_report(walkthrough_con, parse_window("24h", now=NOW), generated_at=NOW, database="test.duckdb")


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_escapes_cloudtrail_text(report: Report) -> None:
    html = render(report, "html")
    parsed = _Collector()
    parsed.feed(html)
    assert "script" not in parsed.tags  # the user agent / session name did not become an element
    assert XSS in "".join(parsed.text)  # ...but shows as text
    assert "&lt;script&gt;alert(&#39;kmsdiag&#39;)&lt;/script&gt;" in html
    assert XSS not in html


def test_html_has_no_external_references(report: Report) -> None:
    html = render(report, "html")
    for pattern in EXTERNAL:
        assert not pattern.search(html), pattern.pattern
    assert "<svg" in html and "<style>" in html
    # the only anchors are in-page
    for href in re.findall(r'href="([^"]*)"', html):
        assert href.startswith("#"), href


def test_html_is_responsive_and_printable(report: Report) -> None:
    html = render(report, "html")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "@media print" in html and "@media (max-width" in html


def test_html_headline_figures(report: Report) -> None:
    html = render(report, "html")
    figures = dict(re.findall(r'data-figure="(\w+)"><span class="value">([\d,]+)</span>', html))
    h = report.headline
    assert figures == {
        "failures": str(h.failures),
        "causes": str(h.causes),
        "accounts": str(h.accounts),
        "keys": str(h.keys),
        "new_causes": str(h.new_causes),
        "resolved_causes": str(h.resolved_causes),
    }
    # one collapsed section per cause (its summary line names verdict, caller, key), with fix and evidence
    assert html.count('<details class="cause"') == h.causes
    assert '<details class="cause" open' not in html
    assert "aws kms put-key-policy" in html and 'class="evidence"' in html


def test_markdown_fits_a_message_and_is_inert(report: Report) -> None:
    md = render(report, "md")
    assert len(md) < 4000
    assert "**66 failures**" in md
    assert "<script" not in md
    assert md.count("\n| ") == 1 + len(report.causes)  # header + one row per cause (6 <= 10)


def test_markdown_escaping_helpers() -> None:
    assert md_text("a|b *c* <x>\n`d`") == "a\\|b \\*c\\* &lt;x&gt; \\`d\\`"
    assert md_code("a`b|c\x1b[31m") == "`a'b¦c\N{REPLACEMENT CHARACTER}`"
    assert md_code("") == "—"
    assert code_name("KEY_POLICY_NO_ACTION") == "KEY_POLICY_NO_ACTION"
    assert code_name("X|<b>`y`") == "X__b__y_"


def test_json_is_the_full_model(report: Report) -> None:
    data = json.loads(render(report, "json"))
    assert data["schema"] == "kmsdiag.report/1"
    assert data["headline"]["failures"] == report.headline.failures
    assert len(data["causes"]) == len(report.causes)
    assert data["causes"][0]["findings"][0]["fix"]["commands"]
    assert data["window_start"] == "2026-11-28T06:00:00Z"
    assert set(data) >= {
        "generated_at",
        "window_end",
        "previous_run",
        "timeline",
        "by_verdict",
        "top_keys",
        "top_pairs",
        "accounts",
        "resolved_causes",
        "policy_changes",
        "data_quality",
    }


def test_empty_report_is_friendly_in_every_format(db_path: Path) -> None:
    con = open_db(db_path)
    report = build_report(con, parse_window("24h", now=NOW), generated_at=NOW)
    con.close()
    html = render(report, "html")
    assert "No KMS access failures in this window" in html and "is <code>kmsdiag ingest</code> running?" in html
    assert "<svg" not in html
    md = render(report, "md")
    assert "No KMS access failures in this window" in md
    assert json.loads(render(report, "json"))["causes"] == []


def test_stale_data_is_flagged(db_path: Path) -> None:
    from tests.report.factory import ROLE, insert_event

    con = open_db(db_path)
    insert_event(con, event_id="old", event_time=NOW - dt.timedelta(days=3), role=ROLE)
    report = build_report(con, parse_window("24h", now=NOW), generated_at=NOW)
    con.close()
    assert "before this window: check that ingestion is still running" in render(report, "html")


def test_html_renders_markdown_code_spans_and_escapes_the_rest() -> None:
    from diag.report.fmt import inline_md

    out = str(inline_md("replace `arn:aws:iam::1:role/A` with `<script>x</script>` & go"))
    assert out == "replace <code>arn:aws:iam::1:role/A</code> with <code>&lt;script&gt;x&lt;/script&gt;</code> &amp; go"
    assert str(inline_md("no code [link](http://evil) ![i](x)")) == "no code [link](http://evil) ![i](x)"


def test_chart_legend_names_the_top_verdicts_and_counts_the_rest_honestly() -> None:
    import datetime as dt

    from diag.report.chart import MAX_SERIES, legend
    from diag.report.model import Timeline, TimelinePoint
    from diag.report.window import Window

    start = dt.datetime(2026, 11, 28)
    verdicts = [f"CODE_{i:02d}" for i in range(12)]
    points = [TimelinePoint(bucket_start=start, verdict=v, failures=20 - i) for i, v in enumerate(verdicts)]
    entries = legend(Timeline(bucket="hour", points=points), Window(start, start + dt.timedelta(hours=2), "2h"))
    named = [e["label"] for e in entries[:-1]]
    assert named == verdicts[:MAX_SERIES]
    rest = entries[-1]
    assert rest["label"] == f"{12 - MAX_SERIES} other verdicts"
    assert rest["members"] == verdicts[MAX_SERIES:]
    assert rest["failures"] == sum(20 - i for i in range(MAX_SERIES, 12))
    assert sum(int(e["failures"]) for e in entries) == sum(p.failures for p in points)
