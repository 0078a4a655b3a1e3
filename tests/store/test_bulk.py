"""diag.store.bulk.insert_columns: one statement per batch, values as parameters, types kept."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from diag.store.bulk import insert_columns


@pytest.fixture()
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.execute("CREATE TABLE t (id VARCHAR PRIMARY KEY, seen TIMESTAMP, codes VARCHAR[], doc JSON, n BIGINT)")
    return c


def test_rows_round_trip_with_types_and_nulls(con: duckdb.DuckDBPyConnection) -> None:
    rows = [
        ["a", dt.datetime(2026, 11, 1, 9, 6, 11), ["X", "Y"], '{"k": 1}', 3],
        ["b", None, [], None, None],
        ["c'); DROP TABLE t; --", None, None, None, 0],
    ]
    n = insert_columns(con, "t", ["id", "seen", "codes", "doc", "n"], rows, types={"codes": "VARCHAR[]"})
    assert n == 3
    got = con.execute("SELECT id, seen, codes, doc, n FROM t ORDER BY id").fetchall()
    assert got == [
        ("a", dt.datetime(2026, 11, 1, 9, 6, 11), ["X", "Y"], '{"k": 1}', 3),
        ("b", None, [], None, None),
        ("c'); DROP TABLE t; --", None, None, None, 0),
    ]


def test_all_null_column_and_conflict_tail(con: duckdb.DuckDBPyConnection) -> None:
    insert_columns(con, "t", ["id", "seen"], [["a", None], ["b", None]])
    added = insert_columns(con, "t", ["id", "n"], [["a", 1], ["z", 2]], tail="ON CONFLICT DO NOTHING")
    assert added == 2  # rows offered; the conflicting one is ignored by the database
    assert con.execute("SELECT id, n FROM t ORDER BY id").fetchall() == [("a", None), ("b", None), ("z", 2)]


def test_empty_and_ragged_rows(con: duckdb.DuckDBPyConnection) -> None:
    assert insert_columns(con, "t", ["id"], []) == 0
    with pytest.raises(ValueError, match="row of 1 values where 2 were expected"):
        insert_columns(con, "t", ["id", "n"], [["a", 1], ["b"]])
    assert con.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_many_rows_in_one_call(con: duckdb.DuckDBPyConnection) -> None:
    rows = [[f"id{i}", None, None, None, i] for i in range(20_000)]
    assert insert_columns(con, "t", ["id", "seen", "codes", "doc", "n"], rows) == 20_000
    assert con.execute("SELECT count(*), sum(n) FROM t").fetchone() == (20_000, sum(range(20_000)))


def test_columns_computed_in_sql(con: duckdb.DuckDBPyConnection) -> None:
    insert_columns(con, "t", ["id"], [["a"], ["b"]], exprs={"n": "40 + 2", "seen": "TIMESTAMP '2026-11-29 10:00:00'"})
    assert con.execute("SELECT id, n, seen FROM t ORDER BY id").fetchall() == [
        ("a", 42, dt.datetime(2026, 11, 29, 10)),
        ("b", 42, dt.datetime(2026, 11, 29, 10)),
    ]
