"""The report model: counts, grouping, ordering, new vs resolved across recorded runs, data quality."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from diag.errors import UsageError
from diag.report.build import build_report, record_run
from diag.report.model import CAUSE_ID_SQL, cause_id
from diag.report.window import parse_window
from diag.store import open_db
from tests.report.factory import (
    APP_ROLE,
    BATCH_ROLE,
    KEY_A,
    KEY_B,
    NOW,
    ROLE,
    CauseSpec,
    Expected,
    add_failures,
    insert_event,
)

DAY = dt.timedelta(days=1)


def test_headline_counts_and_grouping(
    walkthrough_con: duckdb.DuckDBPyConnection, walkthrough_db: tuple[Path, Expected]
) -> None:
    exp = walkthrough_db[1]
    report = build_report(walkthrough_con, parse_window("24h", now=NOW), generated_at=NOW)
    h = report.headline
    assert (h.failures, h.causes, h.keys, h.accounts) == (exp.failures, exp.causes, exp.keys, exp.accounts)
    assert (h.not_diagnosed, h.unknown) == (exp.not_diagnosed, exp.unknown)
    assert h.callers == 3
    # no previous run: every diagnosed cause is new; the undiagnosed one is not counted as new
    assert h.new_causes == exp.causes - 1 and h.resolved_causes == 0
    top = report.causes[0]
    assert (top.verdict, top.failures, top.caller, top.key_ref, top.action) == (
        exp.top_verdict,
        exp.top_count,
        ROLE,
        KEY_A,
        "kms:Decrypt",
    )
    # most impactful first, and counts add up to the headline
    assert [c.failures for c in report.causes] == sorted((c.failures for c in report.causes), reverse=True)
    assert sum(c.failures for c in report.causes) == h.failures
    assert top.first_seen == NOW - dt.timedelta(hours=20)
    assert top.last_seen == NOW - dt.timedelta(hours=1)
    assert top.example_event_ids[0] == "xss-1" and len(top.example_event_ids) == 5
    assert top.findings and top.findings[0]["fix"]["commands"][0].startswith("aws kms put-key-policy")
    assert {k.key_ref: k.failures for k in report.top_keys} == {KEY_A: 55, KEY_B: 11}
    assert report.top_pairs[0].caller == ROLE and report.top_pairs[0].failures == 41
    accounts = {a.account: a for a in report.accounts}
    assert accounts["111111111111"].failures_on_its_keys == exp.failures
    assert accounts["222222222222"].failures_as_caller == 61
    assert accounts["333333333333"].failures_as_caller == 5
    assert sum(v["failures"] for v in report.by_verdict) == h.failures
    assert sum(p.failures for p in report.timeline.points) == h.failures and report.timeline.bucket == "hour"


def test_window_excludes_older_and_future_failures(walkthrough_con: duckdb.DuckDBPyConnection) -> None:
    report = build_report(walkthrough_con, parse_window("2h", now=NOW), generated_at=NOW)
    # in the last two hours: 4 UNKNOWN/NOT_DIAGNOSED... computed from the factory's schedule
    expected = walkthrough_con.execute(
        "SELECT count(*) FROM failures WHERE event_time >= ? AND event_time < ?", [NOW - dt.timedelta(hours=2), NOW]
    ).fetchone()
    assert expected is not None and report.headline.failures == expected[0] > 0
    assert report.headline.failures < 66


def test_policy_changes_and_data_quality(walkthrough_con: duckdb.DuckDBPyConnection) -> None:
    report = build_report(walkthrough_con, parse_window("24h", now=NOW), generated_at=NOW)
    kinds = {(p.change_kind, p.event_name) for p in report.policy_changes}
    assert kinds == {("key_policy", "PutKeyPolicy"), ("identity_policy", "PutRolePolicy")}
    dq = report.data_quality
    assert dq.refused_files == 1 and dq.refused_examples[0]["reason"].startswith("not gzip")
    assert dq.collection_gaps is None  # no collection tables in this database
    reasons = {r["status"]: r for r in dq.undiagnosed_reasons}
    assert reasons["not_diagnosed"]["failures"] == 3 and "kmsdiag diagnose" in reasons["not_diagnosed"]["reason"]
    assert reasons["unknown"]["failures"] == 2 and "collect" in reasons["unknown"]["reason"]
    assert dq.newest_event == NOW - dt.timedelta(minutes=50)


def test_collection_gaps_of_the_newest_snapshot(walkthrough_con: duckdb.DuckDBPyConnection) -> None:
    con = walkthrough_con
    for sid, when in ((1, NOW - DAY), (2, NOW)):
        con.execute(
            "INSERT INTO snapshots VALUES (?, ?, 'bundle', 'b/', ['111111111111'], ?, 'test')", [sid, when, when]
        )
        con.execute(
            "INSERT INTO snapshot_accounts VALUES (?, '111111111111', ?, ['us-east-1'], 'unknown', NULL)", [sid, when]
        )
    con.execute(
        "INSERT INTO collection_gaps VALUES (1, '111111111111', 'us-east-1', 'grants', 'kms list-grants', ?, 'AccessDeniedException', 'old', 'aws kms list-grants')",
        [KEY_A],
    )
    con.execute(
        "INSERT INTO collection_gaps VALUES (2, '111111111111', 'us-east-1', 'key_policy', 'kms get-key-policy', ?, 'AccessDeniedException', 'denied', 'aws kms get-key-policy --key-id x')",
        [KEY_B],
    )
    report = build_report(con, parse_window("24h", now=NOW), generated_at=NOW)
    dq = report.data_quality
    assert dq.collection_gaps == 1 and dq.policies_collected_at == NOW
    assert dq.gap_examples[0]["what"] == "key_policy" and dq.gap_examples[0]["resource"] == KEY_B
    from diag.report import render

    html = render(report, "html")
    assert "aws kms get-key-policy --key-id x" in html


def test_cause_id_is_the_same_in_sql_and_python(walkthrough_con: duckdb.DuckDBPyConnection) -> None:
    rows = walkthrough_con.execute(
        f"SELECT DISTINCT {CAUSE_ID_SQL}, verdict, caller_principal, key_ref, action FROM failures"
    ).fetchall()
    assert len(rows) == 6
    for cid, verdict, caller, key, action in rows:
        assert cid == cause_id(verdict, caller, key, action)
    view = {r[0] for r in walkthrough_con.execute("SELECT cause_id FROM causes").fetchall()}
    assert view == {r[0] for r in rows}


def test_new_and_resolved_across_two_runs(db_path: Path) -> None:
    con = open_db(db_path)
    day1, day2 = NOW - DAY, NOW
    # day 1: A and B fail
    add_failures(
        con,
        [
            CauseSpec("KEY_POLICY_PRINCIPAL_TYPO", ROLE, KEY_A, "Decrypt", 10, 20, 30),
            CauseSpec("IAM_RESOURCE_MISMATCH", APP_ROLE, KEY_A, "GenerateDataKey", 4, 10, 30),
        ],
        day1,
        prefix="d1-",
    )
    first = build_report(con, parse_window("24h", now=day1), generated_at=day1)
    assert first.previous_run is None
    assert first.headline.new_causes == 2 and first.headline.resolved_causes == 0
    run1 = record_run(con, first, fmt="html", out_path="r1.html")
    # day 2: A keeps failing, B was fixed, C appears
    add_failures(
        con,
        [
            CauseSpec("KEY_POLICY_PRINCIPAL_TYPO", ROLE, KEY_A, "Decrypt", 6, 20, 30),
            CauseSpec("EXPLICIT_DENY", BATCH_ROLE, KEY_B, "Encrypt", 3, 5, 30, "scp"),
        ],
        day2,
        prefix="d2-",
    )
    second = build_report(con, parse_window("24h", now=day2), generated_at=day2)
    assert second.previous_run is not None and second.previous_run.run_id == run1
    status = {c.verdict: c.status for c in second.causes}
    assert status == {"KEY_POLICY_PRINCIPAL_TYPO": "ongoing", "EXPLICIT_DENY": "new"}
    assert second.headline.new_causes == 1 and second.headline.resolved_causes == 1
    assert [(r.verdict, r.caller, r.failures_in_previous_report) for r in second.resolved_causes] == [
        ("IAM_RESOURCE_MISMATCH", APP_ROLE, 4)
    ]
    run2 = record_run(con, second, fmt="md", out_path="-")
    stored = con.execute(
        "SELECT previous_run_id, new_causes, resolved_causes FROM report_runs WHERE run_id = ?", [run2]
    ).fetchone()
    assert stored == (run1, 1, 1)
    assert con.execute("SELECT count(*) FROM report_run_causes WHERE run_id = ?", [run2]).fetchone() == (2,)
    # a third run with nothing new: nothing new, nothing resolved (C and A are quiet but failed after run 2? no)
    third = build_report(
        con, parse_window("1h", now=day2 + dt.timedelta(minutes=5)), generated_at=day2 + dt.timedelta(minutes=5)
    )
    assert third.headline.failures == 0 and third.headline.new_causes == 0
    con.close()


def test_empty_database_is_a_valid_report(db_path: Path) -> None:
    con = open_db(db_path)
    report = build_report(con, parse_window("24h", now=NOW), generated_at=NOW)
    assert report.headline.failures == 0 and report.causes == [] and report.timeline.points == []
    assert report.data_quality.newest_event is None
    con.close()


def test_cross_account_copies_count_once(db_path: Path) -> None:
    """The key owner's AWSAccount copy of a failed call (same sharedEventID) is not a second failure."""
    con = open_db(db_path)
    t = NOW - dt.timedelta(hours=1)
    insert_event(
        con,
        event_id="caller-copy",
        event_time=t,
        role=ROLE,
        key_arn=KEY_A,
        shared_event_id="s1",
        error_code="AccessDenied",
        event_name="Decrypt",
    )
    insert_event(
        con,
        event_id="owner-copy",
        event_time=t,
        caller_type="AWSAccount",
        caller_account="222222222222",
        recipient_account="111111111111",
        key_arn=KEY_A,
        shared_event_id="s1",
        error_code="InvalidCiphertextException",
        event_name="Decrypt",
    )
    report = build_report(con, parse_window("24h", now=NOW), generated_at=NOW)
    assert report.headline.failures == 1
    assert report.causes[0].example_event_ids == ["caller-copy"]
    con.close()


@pytest.mark.parametrize(
    ("since", "until", "start", "end"),
    [
        ("24h", None, NOW - DAY, NOW),
        ("7d", None, NOW - 7 * DAY, NOW),
        ("90m", None, NOW - dt.timedelta(minutes=90), NOW),
        ("2026-11-28", None, dt.datetime(2026, 11, 28), NOW),
        ("2026-11-28T01:00:00+01:00", "2026-11-29T00:00:00Z", dt.datetime(2026, 11, 28), dt.datetime(2026, 11, 29)),
    ],
)
def test_window_parsing(since: str, until: str | None, start: dt.datetime, end: dt.datetime) -> None:
    w = parse_window(since, until, now=NOW)
    assert (w.start, w.end) == (start, end)


@pytest.mark.parametrize(("since", "until"), [("yesterday", None), ("24h", "48h"), ("2026-11-30", None)])
def test_bad_windows_are_usage_errors(since: str, until: str | None) -> None:
    with pytest.raises(UsageError):
        parse_window(since, until, now=NOW)


def test_runs_minutes_apart_resolve_nothing_that_still_fails(db_path: Path) -> None:
    """A second report minutes after the first, over the same failures: every cause is ongoing, none resolved
    (the reported bug: 0 new, every cause 'resolved'). A cause is resolved only once it has stopped failing."""
    con = open_db(db_path)
    add_failures(
        con,
        [
            CauseSpec("KEY_POLICY_PRINCIPAL_TYPO", ROLE, KEY_A, "Decrypt", 10, 20, 30),
            CauseSpec("IAM_RESOURCE_MISMATCH", APP_ROLE, KEY_A, "GenerateDataKey", 4, 10, 30),
        ],
        NOW,
        prefix="m-",
    )
    first = build_report(con, parse_window("24h", now=NOW), generated_at=NOW)
    assert first.headline.new_causes == 2
    run1 = record_run(con, first, fmt="html", out_path="r1.html")
    later = NOW + dt.timedelta(minutes=7)
    second = build_report(con, parse_window("24h", now=later), generated_at=later)
    assert second.previous_run is not None and second.previous_run.run_id == run1
    assert {c.status for c in second.causes} == {"ongoing"}
    assert second.headline.new_causes == 0 and second.headline.resolved_causes == 0 and second.resolved_causes == []
    run2 = record_run(con, second, fmt="html", out_path="r2.html")
    # a day later only the typo still fails: the IAM cause is resolved, the typo ongoing
    day2 = NOW + DAY
    add_failures(con, [CauseSpec("KEY_POLICY_PRINCIPAL_TYPO", ROLE, KEY_A, "Decrypt", 3, 20, 30)], day2, prefix="m2-")
    third = build_report(con, parse_window("24h", now=day2), generated_at=day2)
    assert third.previous_run is not None and third.previous_run.run_id == run2
    assert {c.verdict: c.status for c in third.causes} == {"KEY_POLICY_PRINCIPAL_TYPO": "ongoing"}
    assert [r.verdict for r in third.resolved_causes] == ["IAM_RESOURCE_MISMATCH"]
    con.close()
