"""The per-key usage summary (diag.store.key_usage): key_users reads it when it is up to date and gives
what aggregating the events gives; stale or missing, the events are aggregated as before."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from diag.collect.history import build_policy_changes
from diag.diagnosis.intent import key_users
from diag.store import open_db
from diag.store.key_usage import key_usage_rows, refresh_key_usage

KEY = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER = "arn:aws:kms:us-east-1:111111111111:key/22222222-2222-2222-2222-222222222222"
ROLE = "arn:aws:iam::222222222222:role/app"
SESSION = "arn:aws:sts::222222222222:assumed-role/app/i-1"
USER = "arn:aws:iam::222222222222:user/alice"
T0 = dt.datetime(2026, 11, 28, 9, 0)


def _events(con, rows) -> None:  # type: ignore[no-untyped-def]
    con.executemany(
        "INSERT INTO events (event_id, event_time, event_source, event_name, error_code, caller_arn, caller_role_arn,"
        " key_arn) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def _corpus() -> list[tuple[object, ...]]:
    kms = "kms.amazonaws.com"
    rows: list[tuple[object, ...]] = []
    for i in range(5):
        rows.append((f"r{i}", T0 + dt.timedelta(minutes=i), kms, "Decrypt", None, SESSION, ROLE, KEY))
    for i in range(3):
        rows.append((f"u{i}", T0 + dt.timedelta(hours=i), kms, "Decrypt", None, USER, None, KEY))
    rows += [
        ("d1", T0, kms, "Decrypt", "AccessDenied", USER, None, KEY),  # failed: not a use
        ("e1", T0, kms, "Encrypt", None, USER, None, KEY),  # another operation
        ("o1", T0, kms, "Decrypt", None, USER, None, OTHER),  # another key
        ("s1", T0, "s3.amazonaws.com", "Decrypt", None, USER, None, KEY),  # not KMS
        ("n1", T0, kms, "Decrypt", None, None, None, KEY),  # no caller
    ]
    return rows


def _scan(con, key: str, op: str) -> tuple[tuple[str, int, dt.datetime], ...]:  # type: ignore[no-untyped-def]
    con.execute("DELETE FROM key_usage_state")  # stale: key_users aggregates the events
    return key_users(con, key, op)


def test_summary_answers_like_the_events_and_is_rebuilt_when_events_are_added(tmp_path: Path) -> None:
    con = open_db(tmp_path / "k.duckdb")
    try:
        _events(con, _corpus())
        assert key_usage_rows(con, KEY, "Decrypt", 50) is None  # never built: not used
        build_policy_changes(con)  # what ingest runs after loading events: refreshes the summary
        summary = key_users(con, KEY, "Decrypt")
        assert key_usage_rows(con, KEY, "Decrypt", 50) is not None
        assert summary == ((ROLE, 5, T0 + dt.timedelta(minutes=4)), (USER, 3, T0 + dt.timedelta(hours=2)))
        assert key_users(con, KEY, "Encrypt") == ((USER, 1, T0),)
        assert refresh_key_usage(con) is False  # up to date: nothing to do
        _events(con, [("u9", T0 + dt.timedelta(days=1), "kms.amazonaws.com", "Decrypt", None, USER, None, KEY)])
        assert key_usage_rows(con, KEY, "Decrypt", 50) is None  # out of date: the events answer
        assert key_users(con, KEY, "Decrypt")[1] == (USER, 4, T0 + dt.timedelta(days=1))
        assert refresh_key_usage(con) is True
        fresh = key_users(con, KEY, "Decrypt")
        assert fresh == ((ROLE, 5, T0 + dt.timedelta(minutes=4)), (USER, 4, T0 + dt.timedelta(days=1)))
        for key, op in ((KEY, "Decrypt"), (KEY, "Encrypt"), (OTHER, "Decrypt"), (KEY, "Sign")):
            assert key_users(con, key, op) == _scan(con, key, op), (key, op)
            refresh_key_usage(con)
    finally:
        con.close()


def test_rebuild_is_idempotent_and_follows_the_callers_transaction(tmp_path: Path) -> None:
    con = open_db(tmp_path / "k.duckdb")
    try:
        _events(con, _corpus())
        assert refresh_key_usage(con) is True
        rows = con.execute("SELECT * FROM key_usage ORDER BY ALL").fetchall()
        con.execute("DELETE FROM key_usage_state")
        assert refresh_key_usage(con) is True  # rebuilt whole: the same rows, no duplicates
        assert con.execute("SELECT * FROM key_usage ORDER BY ALL").fetchall() == rows
        assert con.execute("SELECT count(*) FROM key_usage_state").fetchone() == (1,)
        con.execute("BEGIN TRANSACTION")  # inside a caller's transaction: rolled back with it
        con.execute("DELETE FROM key_usage_state")
        refresh_key_usage(con)
        con.execute("ROLLBACK")
        assert con.execute("SELECT * FROM key_usage ORDER BY ALL").fetchall() == rows
        assert key_usage_rows(con, KEY, "Decrypt", 50) is not None
        con.execute("DELETE FROM key_usage")  # a rebuild killed after emptying the table: no state row
        con.execute("DELETE FROM key_usage_state")
        assert key_usage_rows(con, KEY, "Decrypt", 50) is None
        assert key_users(con, KEY, "Decrypt")[0] == (ROLE, 5, T0 + dt.timedelta(minutes=4))
    finally:
        con.close()
