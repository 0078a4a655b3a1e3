"""Fixtures for the report tests: a database holding the guide's walk-through (tests/report/factory.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from diag.store import open_db
from tests.report.factory import NOW, Expected, build_walkthrough


@pytest.fixture(scope="session")
def _walkthrough_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Expected]:
    path = tmp_path_factory.mktemp("walkthrough") / "template.duckdb"
    con = open_db(path)
    expected = build_walkthrough(con, NOW)
    con.execute("CHECKPOINT")
    con.close()
    return path, expected


@pytest.fixture
def walkthrough_db(db_path: Path, _walkthrough_template: tuple[Path, Expected]) -> Iterator[tuple[Path, Expected]]:
    """A fresh copy of the walk-through database (built once per session)."""
    template, expected = _walkthrough_template
    shutil.copyfile(template, db_path)
    db_path.chmod(0o600)
    yield db_path, expected


@pytest.fixture
def walkthrough_con(walkthrough_db: tuple[Path, Expected]) -> Iterator[duckdb.DuckDBPyConnection]:
    con = open_db(walkthrough_db[0])
    yield con
    con.close()
