"""The DuckDB store: creation, permissions, migrations, lock errors."""

from __future__ import annotations

import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from diag.errors import DatabaseLockedError, NotFoundError
from diag.store import open_db, resolve_db_path
from diag.store.migrations import discover, split_statements


def test_new_database_is_owner_only_and_migrated(db_path: Path) -> None:
    con = open_db(db_path)
    names = [r[0] for r in con.execute("SELECT name FROM schema_migrations ORDER BY number").fetchall()]
    con.close()
    assert names == [m.name for m in discover()]
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600


def test_migrations_are_applied_once(db_path: Path) -> None:
    open_db(db_path).close()
    con = open_db(db_path)
    count = con.execute("SELECT count(*) FROM schema_migrations").fetchone()
    con.close()
    assert count == (len(discover()),)


def test_events_table_has_the_documented_columns(db_path: Path) -> None:
    con = open_db(db_path)
    cols = {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name='events'").fetchall()}
    con.close()
    documented = {
        "event_id",
        "event_time",
        "event_source",
        "event_name",
        "aws_region",
        "error_code",
        "error_message",
        "caller_arn",
        "caller_type",
        "caller_account",
        "recipient_account",
        "shared_event_id",
        "request_id",
        "key_arn",
        "invoked_by",
        "raw",
    }
    assert documented <= cols


def test_db_path_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert resolve_db_path(None) == Path("kmsdiag.duckdb")
    monkeypatch.setenv("KMSDIAG_DB", str(tmp_path / "env.duckdb"))
    assert resolve_db_path(None) == tmp_path / "env.duckdb"
    assert resolve_db_path(tmp_path / "x.duckdb") == tmp_path / "x.duckdb"


def test_read_only_open_of_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        open_db(tmp_path / "missing.duckdb", read_only=True)


def test_split_statements_drops_comments() -> None:
    assert split_statements("-- c\nCREATE TABLE a (x INT);\n\n-- d\nCREATE TABLE b (y INT);\n") == [
        "CREATE TABLE a (x INT)",
        "CREATE TABLE b (y INT)",
    ]


def test_lock_held_by_another_process_fails_fast_with_a_clear_message(db_path: Path) -> None:
    open_db(db_path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(db_path)!r})
            print("locked", flush=True)
            time.sleep(30)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(DatabaseLockedError) as info:
            open_db(db_path)
        message = str(info.value)
        assert f"process {holder.pid}" in message
        assert "read_only=True" in message
    finally:
        holder.kill()
        holder.wait()


def test_cli_reports_lock_as_exit_4_without_traceback(db_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    open_db(db_path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,time; c=duckdb.connect({str(db_path)!r}); print('x', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        holder.stdout.readline()
        code, out, err = run_cli("status", "--db", db_path)
        # status is a reader: readers are refused too while a writer holds the file
        assert code == 4
        assert "Traceback" not in err
        assert "locked by process" in err
    finally:
        holder.kill()
        holder.wait()


def test_status_json(db_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    open_db(db_path).close()
    code, out, err = run_cli("status", "--db", db_path, "--json")
    assert code == 0, err
    import json

    data = json.loads(out)
    assert "events" in data["tables"]
    assert data["migrations"][0] == "001_core"


def test_status_points_at_partly_stored_inputs(db_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    con = open_db(db_path)
    con.execute(
        "INSERT INTO ingested_files (path, source, status, records_total) VALUES ('a', 'file', 'ok', 1),"
        " ('b', 'file', 'partial', 9), ('c', 'file', 'refused', 0)"
    )
    con.close()
    code, out, err = run_cli("status", "--db", db_path, "--json")
    assert code == 0, err
    import json

    assert json.loads(out)["inputs"] == {"ok": 1, "partial": 1, "refused": 1}
    code, out, err = run_cli("status", "--db", db_path)
    assert code == 0 and "1 input(s) only partly stored" in " ".join(out.split())
