"""Machine text is never cut or wrapped: the fix printed by `kmsdiag explain` parses as JSON and equals the
`--json` fix at 60, 80 and 120 columns and when piped; commands and identifiers print whole."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from diag.explain import explain_id
from diag.render.explain_view import render_diagnosis
from diag.store import open_db

WIDTHS = (60, 80, 120)


def _policies_in_text(text: str) -> list[Any]:
    """Every JSON document printed in ``text``: a line that is exactly an indented "{" up to the line that
    closes it at the same indent."""
    lines = text.splitlines()
    found = []
    i = 0
    while i < len(lines):
        stripped = lines[i].lstrip(" ")
        if stripped == "{":
            indent = len(lines[i]) - len(stripped)
            j = next(k for k in range(i + 1, len(lines)) if lines[k] == " " * indent + "}")
            found.append(json.loads("\n".join(lines[i : j + 1])))
            i = j
        i += 1
    return found


def _render(diag: Any, width: int) -> str:
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=True, color_system=None, highlight=False)
    render_diagnosis(console, diag)
    return buf.getvalue()


def _failures_with_fixes(db: Path) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT event_id FROM failures WHERE verdict IS NOT NULL ORDER BY event_id").fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def test_fix_policies_parse_and_equal_the_json_at_every_width(demo_db: Path) -> None:
    con = open_db(demo_db, read_only=True)
    checked = 0
    layers_with_paths = 0
    try:
        for event_id in _failures_with_fixes(demo_db):
            diag = explain_id(con, event_id)
            expected = [f.fix.policy for f in diag.findings if f.fix is not None and f.fix.policy]
            commands = [c for f in diag.findings if f.fix is not None for c in f.fix.commands]
            for width in WIDTHS:
                text = _render(diag, width)
                assert _policies_in_text(text) == expected, (event_id, width)
                text_lines = {line.strip() for line in text.splitlines()}
                for cmd in commands:
                    assert cmd.strip() in text_lines, (event_id, width, cmd)
                assert f"event {event_id} at" in text
                for layer in diag.layers:
                    if layer.get("org_identifier"):
                        assert f"{layer['layer']} {layer['org_identifier']}" in text, (width, layer)
                        layers_with_paths += 1
                assert "…" not in "".join(line for line in text.splitlines() if "arn:aws:" in line)
            checked += len(expected)
    finally:
        con.close()
    assert checked >= 20, "the demo should hold at least 20 fixes with a policy document"
    assert layers_with_paths > 0, "no SCP/RCP layer with an organization path was rendered"


def test_piped_explain_is_not_wrapped_and_its_fix_parses(demo_db: Path) -> None:
    event_ids = _failures_with_fixes(demo_db)[:6]
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    for event_id in event_ids:
        args = [sys.executable, "-m", "diag", "--db", str(demo_db), "explain", event_id]
        text = subprocess.run(args, capture_output=True, text=True, env=env, check=True).stdout
        doc = json.loads(subprocess.run([*args, "--json"], capture_output=True, text=True, env=env, check=True).stdout)
        expected = [f["fix"]["policy"] for f in doc["findings"] if f.get("fix") and f["fix"].get("policy")]
        assert _policies_in_text(text) == expected
        for f in doc["findings"]:
            for cmd in (f.get("fix") or {}).get("commands") or []:
                assert cmd in text.splitlines() or f"    {cmd}" in text.splitlines()
        caller = doc["event"].get("caller_arn")
        if caller:
            assert any(line.startswith(f"caller {caller} ") for line in text.splitlines())


@pytest.mark.parametrize("width", WIDTHS)
def test_demo_table_prints_event_ids_whole(demo_db: Path, width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    import diag.render.console as consoles
    from diag.cli.cmd_demo import MAX_FAILURES_SHOWN, DemoResult, render_demo
    from diag.ingest.summary import IngestSummary

    con = duckdb.connect(str(demo_db), read_only=True)
    rows = con.execute("SELECT event_id, event_time, event_name, error_code, verdict FROM failures").fetchall()
    con.close()
    failures = [
        dict(zip(("event_id", "event_time", "event_name", "error_code", "verdict"), r, strict=True)) for r in rows
    ]
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=True, color_system=None)
    monkeypatch.setattr(consoles, "out", lambda: console)
    result = DemoResult(db=demo_db, scenarios=[], ingest=IngestSummary(), failures=failures)
    render_demo(result, explain_count=0)
    out = buf.getvalue()
    assert len(failures) >= 30
    for f in failures[:MAX_FAILURES_SHOWN]:
        assert f["event_id"] in out
        if f["verdict"]:
            assert f["verdict"] in out
    assert not [line for line in out.splitlines() if "│" in line and "…" in line], "a table cell was cut"
