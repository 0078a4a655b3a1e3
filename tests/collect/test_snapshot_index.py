"""``SnapshotIndex.nearest`` (one query per account, searched in memory) answers as ``nearest_snapshot`` does."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from diag.collect.inforce import SnapshotIndex, nearest_snapshot
from diag.store import open_db

T0 = dt.datetime(2026, 3, 1, 12, 0, 0)


def test_index_matches_the_query(db_path: Path) -> None:
    con = open_db(db_path)
    rows = [
        (1, "111111111111", T0, ["us-east-1"]),
        (2, "111111111111", T0 + dt.timedelta(days=2), ["us-east-1", "eu-west-1"]),
        (3, "111111111111", T0 + dt.timedelta(days=2), []),  # same time as snapshot 2: the higher ID wins
        (4, "111111111111", T0 + dt.timedelta(days=5), None),
        (5, "222222222222", T0 + dt.timedelta(days=1), ["us-east-1"]),
    ]
    for sid, account, at, regions in rows:
        con.execute(
            "INSERT INTO snapshot_accounts (snapshot_id, account, collected_at, regions, org_state) VALUES (?, ?, ?, ?, ?)",
            [sid, account, at, regions, "in_org"],
        )
    index = SnapshotIndex(con)
    preloaded = SnapshotIndex(con)
    preloaded.preload(["111111111111", "222222222222", "333333333333", None])  # one query for all three
    times: list[dt.datetime | None] = [None]
    times += [T0 + dt.timedelta(hours=h) for h in range(-30, 24 * 7, 6)]
    times += [at for _, _, at, _ in rows]
    for account in ("111111111111", "222222222222", "333333333333", None):
        for at in times:
            assert index.nearest(account, at) == nearest_snapshot(con, account, at), (account, at)
            assert nearest_snapshot(con, account, at, index) == nearest_snapshot(con, account, at)
            assert preloaded.nearest(account, at) == nearest_snapshot(con, account, at), (account, at)
    assert index.nearest("111111111111", T0 + dt.timedelta(days=3)).snapshot_id == 3  # type: ignore[union-attr]
    assert index.nearest("222222222222", T0).before is False  # type: ignore[union-attr]
    con.close()
