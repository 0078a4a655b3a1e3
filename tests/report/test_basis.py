"""Every cause of `kmsdiag report` and every row of `kmsdiag diagnose` says what its answer rests on, with
explain's `based_on` (the record, the layers seen and not seen), and claims no decision and no "fixed"
without the evidence. Real pipeline: sample_trails stories through ingest, collect, diagnose."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent / "sample_trails"
STORIES = ("02-key-policy-no-principal", "20-session-policy", "28-resolved-since", "29-unknown")
RunCli = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def story_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from diag.cli.app import main

    db = tmp_path_factory.mktemp("basis") / "stories.duckdb"
    assert main(["ingest", "--db", str(db), "--quiet", *[str(ROOT / s / "trails") for s in STORIES]]) == 0
    for s in STORIES:
        assert main(["collect", "--db", str(db), "--quiet", "--from-dir", str(ROOT / s / "bundle")]) == 0
    assert main(["diagnose", "--db", str(db), "--quiet"]) == 0
    yield db


def _check_basis(basis: dict[str, Any], decision: str | None, where: str) -> None:
    assert basis["record"], where
    assert set(basis) >= {"record", "layers_seen", "layers_not_seen", "key_metadata_seen", "policies_as_of"}, where
    if decision == "Allowed":
        assert not basis["layers_not_seen"], f"{where}: Allowed with layers not seen"


def test_diagnose_rows_say_what_they_rest_on(run_cli: RunCli, story_db: Path) -> None:
    code, out, err = run_cli("diagnose", "--all", "--db", story_db, "--json")
    assert code == 0, err
    summary = json.loads(out)
    results = summary["results"]
    assert results and sum(r["events"] for r in results) == sum(summary["by_verdict"].values())
    for r in results:
        assert r["verdict"] and r["events"] >= 1 and r["decision_keys"] >= 1
        _check_basis(r["based_on"], r["decision"], r["verdict"])
    by_verdict: dict[str, int] = {}
    for r in results:
        by_verdict[r["verdict"]] = by_verdict.get(r["verdict"], 0) + r["events"]
    assert by_verdict == summary["by_verdict"]
    code, text, err = run_cli("diagnose", "--all", "--db", story_db)
    assert code == 0, err
    assert "based on" in text and "the CloudTrail record" in text and "None" not in text


def test_stored_diagnoses_keep_decision_and_basis(story_db: Path) -> None:
    import duckdb

    con = duckdb.connect(str(story_db), read_only=True)
    try:
        rows = con.execute("SELECT verdict, decision, based_on FROM diagnoses_latest").fetchall()
    finally:
        con.close()
    assert rows
    for verdict, decision, basis in rows:
        _check_basis(json.loads(basis), decision, verdict)


def test_every_report_cause_says_what_it_rests_on(run_cli: RunCli, story_db: Path, tmp_path: Path) -> None:
    code, out, err = run_cli("report", "--since", "all", "--db", story_db, "--json", "--no-record", "--no-audit")
    assert code == 0, err
    report = json.loads(out)
    causes = report["causes"]
    assert causes
    for c in causes:
        where = f"{c['verdict']} {c['caller']}"
        assert c["based_on_text"].startswith("based on: "), where
        if c["verdict"] == "NOT_DIAGNOSED":
            assert c["based_on"] is None and c["decision"] is None and "not diagnosed" in c["based_on_text"]
            continue
        _check_basis(c["based_on"], c["decision"], where)
        assert "the CloudTrail record" in c["based_on_text"], where
        if c["already_fixed"]:
            fixed = next(f for f in c["findings"] if f["code"] == "RESOLVED_SINCE")
            assert fixed["evidence"]["now_decision"] == "Allowed", where
    assert report["headline"]["already_fixed"] == sum(c["failures"] for c in causes if c["already_fixed"])
    out_html = tmp_path / "r.html"
    code, _, err = run_cli("report", "--since", "all", "--db", story_db, "--out", out_html, "--no-record", "--no-audit")
    assert code == 0, err
    html = out_html.read_text(encoding="utf-8")
    assert html.count("based on: the CloudTrail record") >= len([c for c in causes if c["based_on"]])
    md = run_cli("report", "--since", "all", "--db", story_db, "--format", "md", "--no-record", "--no-audit")[1]
    assert "What each answer rests on" in md and "None" not in md


def test_a_diagnosis_without_a_recorded_basis_claims_nothing(run_cli: RunCli, story_db: Path, tmp_path: Path) -> None:
    """A RESOLVED_SINCE stored by an older kmsdiag (no decision, no basis): not called fixed; the report says
    to re-diagnose."""
    import shutil

    import duckdb

    db = tmp_path / "old.duckdb"
    shutil.copyfile(story_db, db)
    con = duckdb.connect(str(db))
    try:
        con.execute(
            "UPDATE diagnoses SET decision = NULL, based_on = NULL,"
            " findings = json_array(json_object('code', 'RESOLVED_SINCE', 'layer', 'history', 'summary', 'fixed',"
            " 'evidence', json_object())), verdict = 'RESOLVED_SINCE', codes = ['RESOLVED_SINCE']"
        )
    finally:
        con.close()
    code, out, err = run_cli("report", "--since", "all", "--db", db, "--json", "--no-record", "--no-audit")
    assert code == 0, err
    report = json.loads(out)
    assert report["causes"] and report["headline"]["already_fixed"] == 0
    for c in report["causes"]:
        assert not c["already_fixed"] and c["based_on"] is None
        assert "kmsdiag diagnose --all" in c["based_on_text"]
