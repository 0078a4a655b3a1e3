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
from diag.report.model import Report, build_report
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
    assert "KEY_POLICY_PRINCIPAL_TYPO" in chart.group(0) and chart.group(0).count("<path") > 20
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
