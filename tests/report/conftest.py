"""Fixtures for the report tests: a database holding the guide's walk-through (tests/report/factory.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from diag.store import open_db
from tests.report.factory import Expected, build_walkthrough

NOW = dt.datetime(2026, 11, 29, 6, 0, 0)


@pytest.fixture
def walkthrough_db(db_path: Path) -> Iterator[tuple[Path, Expected]]:
    con = open_db(db_path)
    expected = build_walkthrough(con, NOW)
    con.close()
    yield db_path, expected


@pytest.fixture
def walkthrough_con(walkthrough_db: tuple[Path, Expected]) -> Iterator[duckdb.DuckDBPyConnection]:
    con = open_db(walkthrough_db[0])
    yield con
    con.close()
