"""The documented views (queries/*.sql): one statement each, a header comment, usable read-only."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pytest

import diag
from diag.store import open_db
from diag.store.migrations import split_statements
from diag.store.views import header_comment, view_files
from tests.report.factory import KEY_A, NOW, ROLE, Expected, insert_event

MINE = [
    "causes",
    "cross_account_calls",
    "diagnoses_latest",
    "failures",
    "failures_by_verdict",
    "failures_daily",
    "failures_undiagnosed",
    "ingest_refused",
    "key_access_matrix",
    "policy_timeline",
]


@pytest.mark.parametrize("name", MINE)
def test_view_file_is_one_documented_statement(name: str) -> None:
    path = next(p for p in view_files() if p.stem == name)
    text = path.read_text()
    assert len(header_comment(path)) > 30
    assert len(re.findall(r"CREATE\s+OR\s+REPLACE\s+VIEW", text)) == 1
    assert re.search(rf"CREATE\s+OR\s+REPLACE\s+VIEW\s+{name}\s+AS", text)
    assert len(split_statements(text)) == 1


def test_views_work_from_a_plain_read_only_connection(walkthrough_db: tuple[Path, Expected]) -> None:
    db, exp = walkthrough_db
    con = duckdb.connect(str(db), read_only=True)
    try:
        for name in MINE:
            con.execute(f"SELECT * FROM {name} LIMIT 1").fetchall()
        assert con.execute("SELECT count(*) FROM failures").fetchone() == (exp.failures,)
        by_verdict = dict(con.execute("SELECT verdict, failures FROM failures_by_verdict").fetchall())
        assert by_verdict["KEY_POLICY_PRINCIPAL_TYPO"] == 41 and by_verdict["NOT_DIAGNOSED"] == 3
        assert con.execute("SELECT sum(failures) FROM failures_daily").fetchone() == (exp.failures,)
        assert con.execute("SELECT count(*) FROM failures_undiagnosed").fetchone() == (exp.not_diagnosed + exp.unknown,)
        assert con.execute("SELECT count(*) FROM ingest_refused").fetchone() == (1,)
        # 30 successful cross-account calls, each logged by both accounts, count once; plus every failure
        assert con.execute(
            "SELECT count(*) FILTER (WHERE outcome = 'success') FROM cross_account_calls"
        ).fetchone() == (30,)
        row = con.execute(
            "SELECT successes, failures, latest_verdict FROM key_access_matrix WHERE caller_principal = ? AND key_ref = ? AND action = 'kms:Decrypt'",
            [ROLE, KEY_A],
        ).fetchone()
        assert row == (30, 41, "KEY_POLICY_PRINCIPAL_TYPO")
        kinds = con.execute("SELECT change_kind, target FROM policy_timeline ORDER BY change_time").fetchall()
        assert kinds == [("key_policy", KEY_A), ("identity_policy", "AppRole")]
    finally:
        con.close()


def test_diagnoses_latest_keeps_the_newest(db_path: Path) -> None:
    from tests.report.factory import insert_diagnosis

    con = open_db(db_path)
    insert_event(con, event_id="e1", event_time=NOW, role=ROLE, key_arn=KEY_A, error_code="AccessDenied")
    insert_diagnosis(con, "e1", "UNKNOWN", [], diagnosed_at=NOW)
    insert_diagnosis(con, "e1", "KEY_POLICY_NO_PRINCIPAL", [], diagnosed_at=NOW + dt.timedelta(hours=1))
    assert con.execute("SELECT verdict FROM diagnoses_latest").fetchall() == [("KEY_POLICY_NO_PRINCIPAL",)]
    assert con.execute("SELECT verdict FROM failures").fetchall() == [("KEY_POLICY_NO_PRINCIPAL",)]
    con.close()


def test_diag_open_read_only_adds_missing_views_without_writing(walkthrough_db: tuple[Path, Expected]) -> None:
    db, exp = walkthrough_db
    con = duckdb.connect(str(db))
    for name in MINE:
        con.execute(f"DROP VIEW IF EXISTS {name}")
    con.execute("DELETE FROM meta WHERE key = 'views_digest'")
    con.close()
    before = db.stat().st_mtime_ns
    ro = diag.open(str(db), read_only=True)
    try:
        assert ro.execute("SELECT count(*) FROM failures").fetchone() == (exp.failures,)
        assert ro.execute("SELECT count(*) FROM causes").fetchone() == (exp.causes,)
    finally:
        ro.close()
    assert db.stat().st_mtime_ns == before
