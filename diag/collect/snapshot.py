"""Snapshots: create one, load an evidence bundle into it, and read a snapshot's contents back.

Every collection (live or from a bundle) gets a new ``snapshot_id`` and its ``collected_at``; nothing of an
earlier snapshot is changed. A bundle is loaded in one transaction: either the whole snapshot appears or
nothing does.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from diag.collect import iam, kms, organizations, s3
from diag.collect.bundle import Bundle
from diag.collect.rows import SNAPSHOT_TABLES, gap_row, insert_rows, service_of

if TYPE_CHECKING:
    import duckdb

MODULES = (kms, iam, s3, organizations)


def create_snapshot(
    con: duckdb.DuckDBPyConnection, collected_at: dt.datetime, source: str, source_path: str | None = None
) -> int:
    """Insert a ``snapshots`` row and return its new ID (``collected_at`` is stored as naive UTC)."""
    from diag.version import __version__

    if collected_at.tzinfo is not None:
        collected_at = collected_at.astimezone(dt.UTC).replace(tzinfo=None)
    row = con.execute("SELECT nextval('snapshot_id_seq')").fetchone()
    assert row is not None
    snapshot_id = int(row[0])
    con.execute(
        "INSERT INTO snapshots (snapshot_id, collected_at, source, source_path, accounts, loaded_at, tool_version)"
        " VALUES (?, ?, ?, ?, ?, now()::TIMESTAMP, ?)",
        [snapshot_id, collected_at, source, source_path, [], __version__],
    )
    return snapshot_id


def finish_snapshot(con: duckdb.DuckDBPyConnection, snapshot_id: int, bundle: Bundle) -> None:
    """Record which accounts (and KMS regions) the snapshot covers."""
    accounts = bundle.accounts()
    row = con.execute("SELECT collected_at FROM snapshots WHERE snapshot_id = ?", [snapshot_id]).fetchone()
    assert row is not None
    for account in accounts:
        regions = sorted({rel.split("/")[2] for rel in bundle.under(f"{account}/kms")})
        con.execute(
            "INSERT INTO snapshot_accounts (snapshot_id, account, collected_at, regions, org_state, management_account)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                snapshot_id,
                account,
                row[0],
                regions,
                organizations.org_state(bundle, account),
                organizations.management_account(bundle, account),
            ],
        )
    con.execute("UPDATE snapshots SET accounts = ? WHERE snapshot_id = ?", [accounts, snapshot_id])


def load_other_gaps(con: duckdb.DuckDBPyConnection, snapshot_id: int, bundle: Bundle, account: str) -> int:
    """errors.json entries of no collected service (refused credentials, an unknown call): account gaps."""
    rows = [
        gap_row(
            account=account,
            region=e.get("region") or None,
            what="account",
            call=str(e.get("call") or ""),
            resource=str(e.get("resource") or "") or None,
            error=str(e.get("error") or "Error"),
            message=e.get("message"),
            how_to_collect="check the profile / role_arn of this account in kmsdiag.toml, then run `kmsdiag collect`",
        )
        for e in bundle.errors.get(account, [])
        if not service_of(e.get("call"))
    ]
    return insert_rows(con, "collection_gaps", snapshot_id, rows)


def load_account(con: duckdb.DuckDBPyConnection, snapshot_id: int, bundle: Bundle, account: str) -> dict[str, int]:
    """Load every service's rows of one account of ``bundle`` (what live collection loads, in the same order)."""
    counts: dict[str, int] = {}
    for module in MODULES:
        for table, n in module.load_account(con, snapshot_id, bundle, account).items():
            counts[table] = counts.get(table, 0) + n
    counts["gaps"] = counts.get("gaps", 0) + load_other_gaps(con, snapshot_id, bundle, account)
    return counts


def load_bundle(
    con: duckdb.DuckDBPyConnection, bundle: Bundle, *, source: str = "bundle", source_path: str | None = None
) -> int:
    """Load ``bundle`` as a new snapshot (one transaction); return its snapshot_id."""
    con.execute("BEGIN TRANSACTION")
    try:
        snapshot_id = create_snapshot(con, bundle.collected_at, source, source_path)
        for account in bundle.accounts():
            load_account(con, snapshot_id, bundle, account)
        finish_snapshot(con, snapshot_id, bundle)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return snapshot_id


def snapshot_contents(con: duckdb.DuckDBPyConnection, snapshot_id: int) -> dict[str, Any]:
    """Everything a snapshot holds, without its ID and provenance: two snapshots of the same policies
    compare equal (``collected_at``, accounts and every policy-table row, sorted)."""
    row = con.execute("SELECT collected_at, accounts FROM snapshots WHERE snapshot_id = ?", [snapshot_id]).fetchone()
    if row is None:
        raise KeyError(snapshot_id)
    out: dict[str, Any] = {"collected_at": row[0], "accounts": sorted(row[1] or [])}
    for table in (*SNAPSHOT_TABLES, "snapshot_accounts"):
        cur = con.execute(f"SELECT * EXCLUDE (snapshot_id) FROM {table} WHERE snapshot_id = ?", [snapshot_id])
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        out[table] = sorted(rows, key=repr)
    return out


def latest_snapshot_id(con: duckdb.DuckDBPyConnection) -> int | None:
    row = con.execute("SELECT max(snapshot_id) FROM snapshots").fetchone()
    return int(row[0]) if row and row[0] is not None else None
