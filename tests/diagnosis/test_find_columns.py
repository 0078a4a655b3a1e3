"""``find_event`` reads only the event columns ``facts_from_row`` reads (fewer column segments for DuckDB to
load in a cold `explain`): the facts are the very same as from the whole row, for every copy and lookup."""

from __future__ import annotations

from pathlib import Path

from diag.diagnosis.facts import ROW_COLUMNS_READ, facts_from_row
from diag.diagnosis.find import COLUMNS, find_event, find_rows
from diag.store import open_db

from .dbutil import decrypt_record, insert_record


def _whole_row(con: object, event_id: str) -> dict[str, object]:
    row = con.execute("SELECT " + ", ".join(COLUMNS) + " FROM events WHERE event_id = ?", [event_id]).fetchone()  # type: ignore[attr-defined]
    return dict(zip(COLUMNS, row, strict=True))


def test_facts_from_the_columns_read_equal_the_facts_from_the_whole_row(db_path: Path) -> None:
    con = open_db(db_path)
    records = [
        decrypt_record("ev-1", request_id="req-1", shared="sh-1"),
        decrypt_record("ev-2", request_id="req-1", shared="sh-1", error=False, session="other"),
        decrypt_record("ev-3", role="OtherRole", user_agent="Boto3/1.34"),
    ]
    for rec in records:
        insert_record(con, rec)
    con.execute("UPDATE events SET key_alias = 'alias/x', read_only = true, management_event = false")
    for event_id in ("ev-1", "ev-2", "ev-3"):
        assert find_event(con, event_id) == facts_from_row(_whole_row(con, event_id))
    rows = find_rows(con, "req-1")  # two copies: the failed one first, as with the whole rows
    assert [r["event_id"] for r in rows] == ["ev-1", "ev-2"]
    assert set(rows[0]) <= set(COLUMNS) and set(rows[0]) >= ROW_COLUMNS_READ
    assert find_event(con, "sh-1") == facts_from_row(_whole_row(con, "ev-1"))
    con.close()
