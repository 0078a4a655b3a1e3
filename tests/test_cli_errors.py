"""Usage errors map to exit code 2 with click's message (typer may vendor its own click), and the
connection handed out by open_db has no unfinished result (DuckDB 2 refuses con.sql() otherwise)."""

from __future__ import annotations

from pathlib import Path

from diag.store import open_db


def test_unknown_option_is_a_usage_error(run_cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli("status", "--no-such-option")
    assert code == 2
    assert "No such option" in err
    assert "internal error" not in err


def test_unknown_command_is_a_usage_error(run_cli) -> None:  # type: ignore[no-untyped-def]
    code, _out, err = run_cli("no-such-command")
    assert code == 2
    assert "No such command" in err


def test_help_exits_zero(run_cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _err = run_cli("--help")
    assert code == 0
    assert "explain" in out


def test_open_db_leaves_nothing_pending_for_con_sql(db_path: Path) -> None:
    open_db(db_path).close()
    for read_only in (False, True):
        con = open_db(db_path, read_only=read_only)
        assert con.sql("SELECT count(*) FROM events").fetchall() == [(0,)]
        con.close()
