"""The HTML report in a real headless Chromium (Debian's `chromium`, installed by .ci/run).

Loads the file, checks that the console stays clean (a control page proves the check catches errors),
that the headline figures and the chart are in the rendered DOM, that nothing overflows a phone-sized
window, and saves screenshots (wide and narrow) in the test's temporary folder.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from diag.report import render
from diag.report.build import build_report
from diag.report.model import Report
from diag.report.window import parse_window
from tests.report.factory import NOW

pytestmark = pytest.mark.browser

CHROMIUM = (
    shutil.which("chromium")
    or shutil.which("chromium-browser")
    or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
]
PHONE = 420
CONSOLE = re.compile(r":CONSOLE(?::|\()\d*\)?\]\s*(.*)")


def chromium(tmp: Path, url: str, *extra: str, timeout: float = 90) -> tuple[str, list[str]]:
    """Run headless Chromium on ``url``; return (stdout, console messages)."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium); .ci/run installs it")
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    proc = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, url],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    console = [m.group(1) for line in proc.stderr.splitlines() if (m := CONSOLE.search(line))]
    return proc.stdout, console


@pytest.fixture
def report_file(walkthrough_con: duckdb.DuckDBPyConnection, tmp_path: Path) -> tuple[Path, Report]:
    report = build_report(walkthrough_con, parse_window("24h", now=NOW), generated_at=NOW, database="demo.duckdb")
    path = tmp_path / "report.html"
    path.write_text(render(report, "html"), encoding="utf-8")
    return path, report


def test_console_check_catches_errors(tmp_path: Path) -> None:
    """Control: a page that throws shows up in the console scan, so a clean scan means something."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><p>x</p><script>throw new Error('kmsdiag-control')</script>")
    _, console = chromium(tmp_path, page.as_uri(), "--dump-dom")
    assert any("Uncaught Error: kmsdiag-control" in m for m in console), console


def test_report_renders_cleanly_with_figures_and_chart(report_file: tuple[Path, Report], tmp_path: Path) -> None:
    path, report = report_file
    dom, console = chromium(tmp_path, path.as_uri(), "--dump-dom", "--window-size=1280,2000")
    assert console == [], console
    figures = dict(re.findall(r'data-figure="(\w+)"><span class="value">([\d,]+)</span>', dom))
    h = report.headline
    assert figures["failures"] == f"{h.failures:,}" and figures["causes"] == str(h.causes)
    assert figures["new_causes"] == str(h.new_causes) and figures["resolved_causes"] == str(h.resolved_causes)
    chart = re.search(r'<svg[^>]*class="chart".*?</svg>', dom, re.DOTALL)
    assert chart, "the chart is not in the rendered DOM"
    assert chart.group(0).count("<path") > 20
    legend = re.search(r'<ul class="legend".*?</ul>', dom, re.DOTALL)
    assert legend and "KEY_POLICY_PRINCIPAL_TYPO" in legend.group(0), "the legend names the top verdict"
    # each cause's detail is collapsed; its summary line still names verdict, caller and key
    assert dom.count('<details class="cause"') == min(report.headline.causes, 100)
    assert '<details class="cause" id="cause-' in dom and " open" not in dom.split('<details class="cause"')[1][:80]
    # Markdown code spans are rendered, not shown raw
    assert "`arn:" not in dom and "<code>arn:aws:" in dom
    assert "<script" not in dom  # the hostile user agent stayed text


def test_screenshots_show_the_chart(report_file: tuple[Path, Report], tmp_path: Path) -> None:
    import numpy as np
    from matplotlib.image import imread

    path, _ = report_file
    shots = {}
    for name, size in (("wide", "1280,1800"), ("narrow", "390,1800")):
        shot = tmp_path / f"report-{name}.png"
        _, console = chromium(tmp_path, path.as_uri(), f"--screenshot={shot}", f"--window-size={size}")
        assert console == [], console
        assert shot.exists() and shot.stat().st_size > 20_000
        shots[name] = imread(str(shot))
    wide = shots["wide"]
    assert wide.shape[1] == 1280
    rgb = (wide[..., :3] * 255).round().astype(int)
    # the chart's first series colour (#0072B2) is painted, and the page is not blank
    blue = np.all(np.abs(rgb - np.array([0, 114, 178])) <= 6, axis=-1)
    assert blue.sum() > 500, "no chart bars visible in the screenshot"
    assert (rgb.sum(axis=-1) < 600).mean() > 0.02, "the page looks blank"


def _phone_frame(tmp: Path, page: Path, width: int = PHONE) -> Path:
    """A page that shows ``page`` in an iframe exactly ``width`` px wide: headless Chromium lays a window out
    at 500 px at least (a narrower --window-size only crops the screenshot), an iframe really is ``width``."""
    top = tmp / f"phone-{page.stem}.html"
    top.write_text(
        f'<!DOCTYPE html><html><body style="margin:0"><iframe id="f" src="{page.name}" width="{width}" height="2400"'
        ' style="border:0;display:block"></iframe><script>window.onload=function(){var b=document.getElementById("f")'
        '.contentDocument.body;document.body.setAttribute("data-probe",b.getAttribute("data-probe")||"none")}</script>'
        "</body></html>"
    )
    return top


def test_screenshot_at_420px_shows_the_chart_and_legend(report_file: tuple[Path, Report], tmp_path: Path) -> None:
    import numpy as np
    from matplotlib.image import imread

    path, _ = report_file
    top = _phone_frame(tmp_path, path)
    shot = tmp_path / "report-420.png"
    _, console = chromium(
        tmp_path, top.as_uri(), "--allow-file-access-from-files", f"--screenshot={shot}", "--window-size=600,2400"
    )
    assert console == [], console
    rgb = (imread(str(shot))[..., :3] * 255).round().astype(int)
    phone, outside = rgb[:, :PHONE], rgb[:, PHONE + 2 :]
    blue = np.all(np.abs(phone - np.array([0, 114, 178])) <= 6, axis=-1)
    assert blue.sum() > 300, "no chart bars (or legend swatch) visible at 420 px"
    assert (outside.sum(axis=-1) < 700).mean() < 0.001, "something was drawn outside the 420 px frame"


def test_phone_width_keeps_causes_readable(report_file: tuple[Path, Report], tmp_path: Path) -> None:
    """At 420 px the causes table turns into cards: caller, status and last-seen stay inside the screen, and
    the legend's text is at least 11 px."""
    path, report = report_file
    probe = tmp_path / "probe420.html"
    probe.write_text(
        path.read_text().replace(
            "</body>",
            "<script>(function(){var w=window.innerWidth,bad=[];"
            "document.querySelectorAll('table.causes td').forEach(function(td){var r=td.getBoundingClientRect();"
            "if(r.width>0&&(r.right>w+1||r.left<-1))bad.push(td.getAttribute('data-label'));});"
            "var li=document.querySelector('ul.legend li');var fs=parseFloat(getComputedStyle(li).fontSize);"
            'var shown=0;document.querySelectorAll(\'table.causes td[data-label="status"],table.causes td[data-label="last seen"],'
            'table.causes td[data-label="caller → key"]\').forEach(function(td){if(td.getBoundingClientRect().width>0)shown++;});'
            "document.body.setAttribute('data-probe',bad.length+'|'+fs+'|'+shown+'|'+document.documentElement.scrollWidth+'|'+w);})()</script></body>",
        )
    )
    top = _phone_frame(tmp_path, probe)
    dom, console = chromium(
        tmp_path, top.as_uri(), "--allow-file-access-from-files", "--dump-dom", "--window-size=600,1600"
    )
    assert console == [], console
    m = re.search(r'data-probe="(\d+)\|([\d.]+)\|(\d+)\|(\d+)\|(\d+)"', dom)
    assert m, "probe did not run"
    bad, font, shown, scroll, inner = (
        int(m.group(1)),
        float(m.group(2)),
        int(m.group(3)),
        int(m.group(4)),
        int(m.group(5)),
    )
    assert inner == PHONE
    assert bad == 0, "a causes-table cell sticks out of the screen at 420 px"
    assert shown == 3 * report.headline.causes, "caller, status and last seen are shown for every cause"
    assert font >= 11
    assert scroll <= inner


def test_narrow_window_does_not_overflow(report_file: tuple[Path, Report], tmp_path: Path) -> None:
    """At phone width the page itself must not scroll sideways (tables scroll inside their boxes)."""
    path, _ = report_file
    probe = tmp_path / "probe.html"
    probe.write_text(
        path.read_text().replace(
            "</body>",
            "<script>document.body.setAttribute('data-probe', document.documentElement.scrollWidth + 'x' + "
            "window.innerWidth + 'x' + document.querySelector('svg.chart').getBoundingClientRect().width)</script></body>",
        )
    )
    dom, console = chromium(tmp_path, probe.as_uri(), "--dump-dom", "--window-size=390,1200")
    assert console == [], console
    m = re.search(r'data-probe="(\d+)x(\d+)x([\d.]+)"', dom)
    assert m, "probe did not run"
    scroll, inner, chart = int(m.group(1)), int(m.group(2)), float(m.group(3))
    assert scroll <= inner, f"page scrolls sideways at {inner}px: content is {scroll}px wide"
    assert 0 < chart <= inner


def test_report_prints_to_pdf(report_file: tuple[Path, Report], tmp_path: Path) -> None:
    """The print stylesheet yields a multi-page PDF (headless Chromium's print path)."""
    path, _ = report_file
    pdf = tmp_path / "report.pdf"
    _, console = chromium(tmp_path, path.as_uri(), f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    assert console == [], console
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 20_000
    assert len(re.findall(rb"/Type\s*/Page\b", data)) >= 2
