"""The audit on the sample scenarios whose story is an audit finding too (real-shaped bundles and trails)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from diag.audit import run_audit
from diag.collect.bundle import read_bundle
from diag.collect.history import build_policy_changes
from diag.collect.snapshot import load_bundle
from diag.ingest import ingest_paths
from diag.store import open_db

SAMPLES = Path(__file__).resolve().parents[2] / "sample_trails"


@pytest.mark.parametrize(
    ("scenario", "code"),
    [
        ("06-key-policy-principal-orphaned", "key-policy-orphaned-principal"),
        ("12-key-policy-overwritten", "key-policy-iac-overwrite"),
        ("23-aws-managed-key-cross-account", "aws-managed-key-cross-account"),
        ("25-key-pending-deletion", "key-pending-deletion-in-use"),
    ],
)
def test_scenario_audit(tmp_path: Path, scenario: str, code: str) -> None:
    folder = SAMPLES / scenario
    if not folder.is_dir():
        pytest.skip(f"{scenario} is absent")
    con = open_db(tmp_path / "s.duckdb")
    try:
        ingest_paths(con, [folder / "trails"], workers=1)
        load_bundle(con, read_bundle(folder / "bundle"))
        build_policy_changes(con)
        last = con.execute("SELECT max(event_time) FROM events").fetchone()
        now = (last[0] if last and last[0] else dt.datetime(2026, 11, 29)) + dt.timedelta(days=1)
        findings = run_audit(con, now=now)
    finally:
        con.close()
    codes = [f.code for f in findings]
    assert code in codes, codes
    assert "audit-error" not in codes
