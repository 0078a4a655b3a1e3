"""Each account's snapshots: the one nearest a time (``nearest_snapshot``, ``SnapshotIndex``), the
collection gaps recorded in it, and the nearest row per key among several snapshots (``pick_nearest``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from diag.collect.model import Gap

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class Snap:
    snapshot_id: int
    collected_at: dt.datetime
    before: bool  # taken at or before the time asked about
    regions: tuple[str, ...] = ()
    org_state: str | None = None
    management_account: str | None = None


_Row = TypeVar("_Row", bound=Sequence[Any])
_SNAP_COLS = "snapshot_id, collected_at, regions, org_state, management_account"


class SnapshotIndex:
    """Each account's snapshots, read once per account (one indexed query) and searched in memory.

    One diagnosis asks for the nearest snapshot of the same two accounts at several times (the event, now,
    before each key-policy change); with an index that is one query per account instead of one or two per
    call. Hold one only while the snapshots do not change (one explain, one ``diagnose`` run).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self._rows: dict[str, list[Any]] = {}

    def preload(self, accounts: list[str | None]) -> None:
        """Read the snapshots of every account not read yet, in one query (the key's and the caller's)."""
        todo = sorted({a for a in accounts if a and a not in self._rows})
        if len(todo) < 2:
            return  # one account: ``rows`` reads it with the indexed equality lookup
        marks = ", ".join("?" * len(todo))
        found: dict[str, list[Any]] = {a: [] for a in todo}
        for r in self.con.execute(
            f"SELECT account, {_SNAP_COLS} FROM snapshot_accounts WHERE account IN ({marks})"
            " ORDER BY account, collected_at, snapshot_id",
            todo,
        ).fetchall():
            found[r[0]].append(r[1:])
        self._rows.update(found)

    def rows(self, account: str) -> list[Any]:
        """The account's snapshot rows, oldest first (by ``collected_at``, then ``snapshot_id``)."""
        if account not in self._rows:
            self._rows[account] = self.con.execute(
                f"SELECT {_SNAP_COLS} FROM snapshot_accounts WHERE account = ? ORDER BY collected_at, snapshot_id",
                [account],
            ).fetchall()
        return self._rows[account]

    def nearest(self, account: str | None, at: dt.datetime | None) -> Snap | None:
        """Same answer as ``nearest_snapshot`` (``at`` naive UTC, as ``policies_in_force`` passes it)."""
        if not account:
            return None
        found = nearest_row(self.rows(account), at, 1)
        if found is None:
            return None
        row, before = found
        return Snap(int(row[0]), row[1], before, tuple(row[2] or ()), row[3], row[4])


def nearest_row(rows: Sequence[_Row], at: dt.datetime | None, time_index: int) -> tuple[_Row, bool] | None:
    """Among ``rows`` sorted oldest first by column ``time_index``: (the last at or before ``at``, True), the
    newest when ``at`` is None; else (the earliest, False), every row being after ``at``; None without rows."""
    if not rows:
        return None
    if at is None:
        return rows[-1], True
    earlier = [r for r in rows if r[time_index] <= at]
    if earlier:
        return earlier[-1], True
    return rows[0], False


def nearest_snapshot(
    con: duckdb.DuckDBPyConnection,
    account: str | None,
    at: dt.datetime | None,
    snapshots: SnapshotIndex | None = None,
) -> Snap | None:
    """The account's snapshot nearest at or before ``at`` (latest when ``at`` is None), else the earliest after.
    ``snapshots``: an index of the accounts' snapshots to search instead of querying."""
    if not account:
        return None
    if snapshots is not None:
        return snapshots.nearest(account, at)
    cols = _SNAP_COLS
    if at is None:
        row = con.execute(
            f"SELECT {cols} FROM snapshot_accounts WHERE account = ? ORDER BY collected_at DESC, snapshot_id DESC LIMIT 1",
            [account],
        ).fetchone()
        before = True
    else:
        row = con.execute(
            f"SELECT {cols} FROM snapshot_accounts WHERE account = ? AND collected_at <= ?"
            " ORDER BY collected_at DESC, snapshot_id DESC LIMIT 1",
            [account, at],
        ).fetchone()
        before = row is not None
        if row is None:
            row = con.execute(
                f"SELECT {cols} FROM snapshot_accounts WHERE account = ? AND collected_at > ?"
                " ORDER BY collected_at, snapshot_id LIMIT 1",
                [account, at],
            ).fetchone()
    if row is None:
        return None
    return Snap(int(row[0]), row[1], before, tuple(row[2] or ()), row[3], row[4])


def gaps_for(con: duckdb.DuckDBPyConnection, snap: Snap | None, resource: str, whats: tuple[str, ...]) -> list[Gap]:
    """Recorded collection gaps (refused calls, missing files) for one resource in one snapshot."""
    if snap is None:
        return []
    marks = ", ".join("?" * len(whats))
    rows = con.execute(
        f"SELECT what, account, resource, error, message, how_to_collect FROM collection_gaps"
        f" WHERE snapshot_id = ? AND resource = ? AND what IN ({marks})",
        [snap.snapshot_id, resource, *whats],
    ).fetchall()
    return [
        Gap(
            what=r[0],
            account=r[1],
            resource=r[2],
            reason=f"{r[3]}: {r[4]}" if r[4] else str(r[3]),
            how_to_collect=r[5] or "",
        )
        for r in rows
    ]


def pick_nearest(rows: list[Any], at: dt.datetime | None, time_index: int) -> list[Any]:
    """Per key ARN (column 0), the row of the snapshot nearest at or before ``at``, else the earliest after."""
    best: dict[str, Any] = {}
    for r in rows:
        t = r[time_index]
        cur = best.get(r[0])
        if cur is None:
            best[r[0]] = r
            continue
        ct = cur[time_index]
        if at is None:
            better = t > ct
        else:
            b_new, b_cur = t <= at, ct <= at
            better = (b_new and not b_cur) or (b_new and b_cur and t > ct) or (not b_new and not b_cur and t < ct)
        if better:
            best[r[0]] = r
    return list(best.values())
