"""``diag.store.connection.Opening``: the database opened in a thread (while `explain` imports its modules)
hands back the connection, or raises in the caller's thread exactly what opening raised."""

from __future__ import annotations

from pathlib import Path

import pytest

from diag.errors import NotFoundError
from diag.store import open_db
from diag.store.connection import Opening


def test_the_connection_opened_in_the_thread_is_usable_here(db_path: Path) -> None:
    open_db(db_path).close()
    con = Opening(lambda: open_db(db_path, read_only=True)).result()
    try:
        assert con.execute("SELECT count(*) FROM events").fetchone() == (0,)
    finally:
        con.close()


def test_an_error_while_opening_is_raised_by_result_with_its_message(tmp_path: Path) -> None:
    missing = tmp_path / "none.duckdb"
    with pytest.raises(NotFoundError) as direct:
        open_db(missing, read_only=True)
    opening = Opening(lambda: open_db(missing, read_only=True))
    with pytest.raises(NotFoundError) as threaded:
        opening.result()
    assert str(threaded.value) == str(direct.value)
    assert not missing.exists()  # a reader never creates the file
