"""Failures over time by verdict, drawn by matplotlib (Agg, no display) as an inline SVG string.

The SVG carries no external reference: no DOCTYPE, no XML declaration, no metadata block, text kept as
text (``svg.fonttype = none``: small, searchable, rendered with the page's font). Labels are verdict codes,
reduced to ``[A-Z0-9_]`` so that no mathtext or markup can sneak in; matplotlib escapes text anyway.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import defaultdict

from diag.report.model import Timeline, Window

# verdict families → colours (colour-blind-friendly palette, Okabe-Ito)
_PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#332288"]
_FIXED_COLOURS = {"NOT_DIAGNOSED": "#999999", "UNKNOWN": "#BBBBBB", "RESOLVED_SINCE": "#8FD694", "OTHER": "#5A5A5A"}
_SAFE_LABEL = re.compile(r"[^A-Z0-9_]")
MAX_SERIES = 7


def _label(verdict: str) -> str:
    return _SAFE_LABEL.sub("_", verdict.upper())[:40] or "UNNAMED"


def buckets(window: Window, bucket: str) -> list[dt.datetime]:
    """Every bucket start in the window (hours or days), so quiet periods show as zero."""
    step = dt.timedelta(hours=1) if bucket == "hour" else dt.timedelta(days=1)
    start = window.start.replace(minute=0, second=0, microsecond=0)
    if bucket == "day":
        start = start.replace(hour=0)
    out = []
    t = start
    while t < window.end:
        out.append(t)
        t += step
    return out


OTHERS = "OTHER"  # the series key of the verdicts beyond the top MAX_SERIES (labelled "N other verdicts")


def _ranked(timeline: Timeline) -> tuple[list[str], dict[str, int], set[str]]:
    totals: dict[str, int] = defaultdict(int)
    for p in timeline.points:
        totals[p.verdict] += p.failures
    ranked = sorted(totals, key=lambda v: (-totals[v], v))
    keep = set(ranked[:MAX_SERIES]) if len(ranked) > MAX_SERIES + 1 else set(ranked)
    return ranked, totals, keep


def series(timeline: Timeline, window: Window) -> tuple[list[dt.datetime], dict[str, list[int]]]:
    """Counts per verdict per bucket; verdicts beyond the top MAX_SERIES are summed into OTHERS."""
    xs = buckets(window, timeline.bucket)
    index = {x: i for i, x in enumerate(xs)}
    ranked, _totals, keep = _ranked(timeline)
    data: dict[str, list[int]] = {}
    for v in ranked:
        name = v if v in keep else OTHERS
        data.setdefault(name, [0] * len(xs))
    for p in timeline.points:
        i = index.get(p.bucket_start)
        if i is not None:
            data[p.verdict if p.verdict in keep else OTHERS][i] += p.failures
    return xs, data


def _colour(i: int, verdict: str) -> str:
    return _FIXED_COLOURS.get(verdict, _PALETTE[i % len(_PALETTE)])


def legend(timeline: Timeline, window: Window) -> list[dict[str, object]]:
    """The chart's legend, for the page (readable at any width): each named verdict with its colour and
    failures, then one entry "N other verdicts" that names every verdict it groups."""
    _xs, data = series(timeline, window)
    ranked, totals, keep = _ranked(timeline)
    out: list[dict[str, object]] = []
    for i, name in enumerate(data):
        if name == OTHERS:
            members = [v for v in ranked if v not in keep]
            label = f"{len(members)} other verdicts"
            failures = sum(totals[v] for v in members)
        else:
            members, label, failures = [], name, totals[name]
        out.append({"label": label, "colour": _colour(i, name), "failures": failures, "members": members})
    return out


def failures_chart_svg(timeline: Timeline, window: Window, *, title: str = "Failures over time by verdict") -> str:
    """A stacked bar chart as an ``<svg>`` element string (empty string when there is nothing to draw)."""
    if not timeline.points:
        return ""
    import matplotlib
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure  # not pyplot: no global state, no GUI backend, faster import
    from matplotlib.ticker import MaxNLocator

    xs, data = series(timeline, window)
    width = (1 / 24 if timeline.bucket == "hour" else 1.0) * 0.85
    with matplotlib.rc_context(
        {"svg.fonttype": "none", "svg.hashsalt": "kmsdiag", "font.size": 9, "text.usetex": False}
    ):
        fig = Figure(figsize=(8, 3.0), dpi=100)
        ax = fig.subplots()
        bottom = [0] * len(xs)
        for i, (verdict, counts) in enumerate(data.items()):
            colour = _colour(i, verdict)
            ax.bar(
                mdates.date2num(xs),
                counts,
                width=width,
                bottom=bottom,
                label=_label(verdict) if verdict != OTHERS else "OTHER_VERDICTS",
                color=colour,
                align="edge",
            )
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
        ax.set_title(title, loc="left")
        ax.set_ylabel("failures")
        ax.spines[["top", "right"]].set_visible(False)
        locator = mdates.AutoDateLocator(maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        # no legend inside the SVG: it would shrink to unreadable text on a phone; the page draws it (legend())
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return clean_svg(buf.getvalue(), title=title)


def clean_svg(svg: str, *, title: str) -> str:
    """Strip the prolog and metadata; label the element for screen readers."""
    start = svg.find("<svg")
    svg = svg[start:] if start >= 0 else svg
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.DOTALL)
    # namespaces are implied for SVG inside HTML; dropping them leaves no URL at all in the element
    svg = re.sub(r'\s+xmlns(?::\w+)?="[^"]*"', "", svg)
    from html import escape

    return svg.replace("<svg ", f'<svg role="img" aria-label="{escape(title)}" class="chart" ', 1)
