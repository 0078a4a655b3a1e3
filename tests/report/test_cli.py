"""`kmsdiag report`: outputs, formats, recorded runs, --fail-on exit codes, errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from diag.cli.cmd_report import choose_output
from diag.errors import UsageError
from tests.report.factory import Expected

RunCli = Callable[..., tuple[int, str, str]]
# the factory's failures are in the 24 hours before 2026-11-29 06:00 UTC
WINDOW = ["--since", "2026-11-28T06:00:00Z", "--until", "2026-11-29T06:00:00Z"]


def _runs(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute("SELECT count(*) FROM report_runs").fetchone()
    finally:
        con.close()
    return int(row[0]) if row else 0


def test_default_writes_dated_html_and_records_the_run(
    run_cli: RunCli, walkthrough_db: tuple[Path, Expected], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, exp = walkthrough_db
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("--db", db, "report", *WINDOW)
    assert code == 0, err
    assert out == ""  # stdout is not a terminal: nothing printed there
    html = (tmp_path / "kmsdiag-report-2026-11-29.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and f'<span class="value">{exp.failures}</span>' in html
    assert "wrote kmsdiag-report-2026-11-29.html" in err and f"{exp.failures} failures" in err
    assert _runs(db) == 1


def test_formats_and_destinations(run_cli: RunCli, walkthrough_db: tuple[Path, Expected], tmp_path: Path) -> None:
    db, exp = walkthrough_db
    code, out, _ = run_cli("--db", db, "report", *WINDOW, "--format", "md", "--no-record")
    assert code == 0 and out.startswith("## KMS access failures") and f"**{exp.failures} failures**" in out
    code, out, _ = run_cli("--db", db, "report", *WINDOW, "--json", "--no-record")
    assert code == 0 and json.loads(out)["headline"]["failures"] == exp.failures
    code, _, _ = run_cli("--db", db, "report", *WINDOW, "--out", tmp_path / "r.json", "--no-record")
    assert code == 0 and json.loads((tmp_path / "r.json").read_text())["headline"]["causes"] == exp.causes
    code, _, _ = run_cli("--db", db, "report", *WINDOW, "-o", tmp_path / "sub" / "r.md", "--no-record")
    assert code == 0 and (tmp_path / "sub" / "r.md").read_text().startswith("## KMS")
    assert _runs(db) == 0  # --no-record leaves the database untouched


def test_fail_on_new_is_idempotent_then_nothing_new(
    run_cli: RunCli, walkthrough_db: tuple[Path, Expected], tmp_path: Path
) -> None:
    db, _ = walkthrough_db
    args = ["--db", db, "report", *WINDOW, "--out", tmp_path / "r.html", "--fail-on", "new"]
    code, _, _ = run_cli(*args)
    assert code == 5  # first recorded run: the causes are new
    code, _, _ = run_cli(*args)
    assert code == 5  # the same window again gives the same answer (compared with the run before it)
    nxt = ["--since", "2026-11-29T06:00:00Z", "--until", "2026-11-30T06:00:00Z"]
    code, _, _ = run_cli("--db", db, "report", *nxt, "-o", tmp_path / "n.html", "--fail-on", "new")
    assert code == 0  # the next day: no failure, nothing new
    assert "causes resolved since" in (tmp_path / "n.html").read_text()
    data = json.loads(run_cli("--db", db, "report", *nxt, "--json", "--no-record")[1])
    assert data["headline"]["resolved_causes"] == 5  # every diagnosed cause of the day before stopped
    code, _, _ = run_cli("--db", db, "report", *WINDOW, "--out", tmp_path / "r.html", "--fail-on", "any")
    assert code == 5
    code, _, _ = run_cli(
        "--db",
        db,
        "report",
        "--since",
        "2020-01-01",
        "--until",
        "2020-01-02",
        "-o",
        tmp_path / "e.html",
        "--fail-on",
        "any",
    )
    assert code == 0  # an empty window passes
    assert _runs(db) == 5


def test_errors(run_cli: RunCli, tmp_path: Path, walkthrough_db: tuple[Path, Expected]) -> None:
    code, _, err = run_cli("--db", tmp_path / "missing.duckdb", "report")
    assert code == 1 and "no database" in err
    db, _ = walkthrough_db
    code, _, err = run_cli("--db", db, "report", "--since", "last tuesday")
    assert code == 2 and "neither a duration" in err
    code, _, err = run_cli("--db", db, "report", "--format", "pdf")
    assert code == 2


def test_concurrent_writer_is_refused_with_a_clear_message(
    run_cli: RunCli, walkthrough_db: tuple[Path, Expected], tmp_path: Path
) -> None:
    db, _ = walkthrough_db
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(db)!r})
            print("ready", flush=True)
            sys.stdin.readline()
        """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        code, _, err = run_cli("--db", db, "report", "-o", tmp_path / "r.html")
        assert code == 4
        assert "locked by process" in " ".join(err.split()) and "--wait" in err
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize(
    ("fmt", "out", "json_flag", "expected"),
    [
        (None, None, False, ("html", "kmsdiag-report-2026-11-29.html")),
        ("html", None, False, ("html", "kmsdiag-report-2026-11-29.html")),
        ("md", None, False, ("md", "-")),
        ("json", None, False, ("json", "-")),
        (None, "-", False, ("md", "-")),
        ("html", "-", False, ("html", "-")),
        (None, "x.json", False, ("json", "x.json")),
        (None, "x.MD", False, ("md", "x.MD")),
        ("md", "x.html", False, ("md", "x.html")),
        (None, None, True, ("json", "-")),
        (None, "r.json", True, ("json", "r.json")),
    ],
)
def test_choose_output(fmt: str | None, out: str | None, json_flag: bool, expected: tuple[str, str]) -> None:
    assert choose_output(fmt, out, json_flag=json_flag, day="2026-11-29") == expected


def test_json_flag_conflicts_with_another_format() -> None:
    with pytest.raises(UsageError):
        choose_output("md", None, json_flag=True, day="2026-11-29")


def test_terminal_gets_the_markdown_summary_too(
    run_cli: RunCli, walkthrough_db: tuple[Path, Expected], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, exp = walkthrough_db
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    code, out, _ = run_cli("--db", db, "report", *WINDOW, "--no-record")
    assert code == 0
    assert (tmp_path / "kmsdiag-report-2026-11-29.html").exists()
    assert out.startswith("## KMS access failures") and f"**{exp.failures} failures**" in out


def test_since_all_starts_at_the_oldest_event(run_cli: RunCli, walkthrough_db: tuple[Path, Expected]) -> None:
    db, exp = walkthrough_db
    code, out, _ = run_cli("--db", db, "report", "--since", "all", "--json", "--no-record")
    assert code == 0
    data = json.loads(out)
    assert (
        data["window_label"] == "all" and data["window_start"] == "2026-11-28T07:00:00Z"
    )  # the oldest event (a success)
    assert data["headline"]["failures"] == exp.failures


def test_report_files_are_owner_only(run_cli: RunCli, walkthrough_db: tuple[Path, Expected], tmp_path: Path) -> None:
    """A report quotes key and IAM policies: written 0600, like the database and bundles."""
    import stat

    db, _exp = walkthrough_db
    code, _, err = run_cli("--db", db, "report", *WINDOW, "--out", tmp_path / "r.html", "--no-record")
    assert code == 0, err
    assert stat.S_IMODE((tmp_path / "r.html").stat().st_mode) == 0o600
