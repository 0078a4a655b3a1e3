"""Live collection: every configured account, through boto3, into one new snapshot (and optionally a bundle).

For each account: credentials (profile / AssumeRole), then ``kms.fetch_region`` (keys fetched on a bounded
thread pool, each step reported to the caller's ``progress`` callback), ``iam.fetch`` and
``organizations.fetch``; then the buckets
of every account, each read once by its owner (``bucket_owner``: a cross-account call is in two trails). A
refused call is a gap for that one resource; an account whose credentials are refused is a gap for the
whole account and the others go on. Every call is made first; then the snapshot is written in one short
transaction (no transaction is open during the network calls), then the documents are
saved as an evidence bundle when ``out_dir`` is given (the same documents that were loaded, so
``--from-dir`` on it gives the same snapshot).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from diag import times
from diag.collect import bucket_owner, iam, kms, organizations, s3
from diag.collect.bundle import Bundle, write_bundle
from diag.collect.history import build_policy_changes
from diag.collect.session import AccountSession, open_account
from diag.collect.snapshot import create_snapshot, finish_snapshot, load_other_gaps
from diag.config import AccountConfig, Config
from diag.errors import KmsdiagError, RefusedError

if TYPE_CHECKING:
    import duckdb


@dataclass
class CollectResult:
    snapshot_id: int
    collected_at: dt.datetime
    accounts: list[str]
    refused_accounts: list[str] = field(default_factory=list)
    bundle_dir: Path | None = None
    bucket_notes: list[str] = field(default_factory=list)
    bundle: Bundle | None = None


@dataclass(frozen=True)
class Step:
    """What collection is doing, for a progress display (the command line draws it; nothing here prints):
    ``stage`` of ``account`` ("kms", "iam", "organizations", "done"); ``listed`` more items found to fetch,
    ``fetched`` items fetched."""

    account: str
    stage: str
    listed: int = 0
    fetched: int = 0


OnStep = Callable[[Step], None]


def _no_progress(step: Step) -> None:
    return None


def collect_live(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    *,
    out_dir: str | Path | None = None,
    default_region: str | None = None,
    progress: OnStep | None = None,
) -> CollectResult:
    """Collect every account of ``cfg`` into a new snapshot; return what was done. ``progress`` is called
    with each step (from the worker threads too).

    Every AWS call is made first, into the in-memory bundle, with no transaction open; then one short
    transaction writes the snapshot (readers never wait on the network; a kill while fetching leaves the
    database as it was)."""
    collected_at = times.utcnow(whole_seconds=True)
    bundle = Bundle(collected_at=collected_at)
    if out_dir is not None:
        target = Path(out_dir)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise KmsdiagError(
                f"--out-dir {target} exists and is not an empty folder; choose a new folder", exit_code=2
            )
    sessions, refused = _open_sessions(cfg, bundle)
    ids = [s.account_id for _, s in sessions]
    claims = bucket_owner.gather(
        ids,
        {s.account_id: a.buckets for a, s in sessions},
        cfg.buckets,
        bucket_owner.event_claims(con) if cfg.event_buckets else (),
    )
    with ThreadPoolExecutor(max_workers=cfg.max_workers) as pool:
        for account, sess in sessions:
            regions = list(cfg.regions_for(account)) or [default_region or sess.default_region]
            _fetch_account(sess, bundle, regions, ids, pool, progress or _no_progress)
    # buckets last: each has one owner, decided across every account (cross-account calls are in two trails)
    owned = bucket_owner.resolve_and_fetch(bundle, {s.account_id: s.client("s3") for _, s in sessions}, claims)
    snapshot_id = _write(con, cfg, bundle, ids, list(dict.fromkeys(owned.owners.values())), out_dir)
    bundle_dir = write_bundle(bundle, out_dir) if out_dir is not None else None
    return CollectResult(snapshot_id, collected_at, ids, refused, bundle_dir, owned.notes, bundle)


def _open_sessions(cfg: Config, bundle: Bundle) -> tuple[list[tuple[AccountConfig, AccountSession]], list[str]]:
    """A session per account whose credentials work; the others are refused (a gap in the bundle)."""
    sessions: list[tuple[AccountConfig, AccountSession]] = []
    refused: list[str] = []
    for account in cfg.accounts:
        try:
            sessions.append((account, open_account(account, cfg.max_workers)))
        except RefusedError as exc:
            refused.append(exc.message)
            if account.account_id:
                call = "sts assume-role" if account.role_arn else "sts get-caller-identity"
                bundle.error(
                    account.account_id,
                    call,
                    account.role_arn or account.profile or "",
                    "CredentialsRefused",
                    f"{call} of {account.role_arn or 'profile ' + (account.profile or 'default')}: {exc.message}",
                )
    if not sessions:
        raise RefusedError("; ".join(refused) or "no account to collect")
    return sessions, refused


def _fetch_account(
    sess: AccountSession, bundle: Bundle, regions: list[str], ids: list[str], pool: ThreadPoolExecutor, step: OnStep
) -> None:
    """Every KMS, IAM and Organizations call of one account, into ``bundle`` (nothing is written here)."""
    acct = sess.account_id
    step(Step(acct, "kms"))

    def listed(n: int) -> None:
        step(Step(acct, "kms", listed=n))

    def done() -> None:
        step(Step(acct, "kms", fetched=1))

    for region in regions:
        kms.fetch_region(sess.client, bundle, acct, region, pool, listed, done)
    step(Step(acct, "iam"))
    iam.fetch(sess.client("iam"), bundle, acct)
    step(Step(acct, "organizations"))
    organizations.fetch(sess.client("organizations"), bundle, acct, ids, skip_if_member_of=set(ids))
    step(Step(acct, "done"))


def _write(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    bundle: Bundle,
    ids: list[str],
    bucket_owners: list[str],
    out_dir: str | Path | None,
) -> int:
    """The snapshot from the fetched ``bundle``, in one transaction (rolled back on any error)."""
    con.execute("BEGIN TRANSACTION")
    try:
        snapshot_id = create_snapshot(con, bundle.collected_at, "live", str(out_dir) if out_dir else None)
        for acct in ids:
            kms.load_account(con, snapshot_id, bundle, acct)
            iam.load_account(con, snapshot_id, bundle, acct)
            organizations.load_account(con, snapshot_id, bundle, acct)
            load_other_gaps(con, snapshot_id, bundle, acct)
        for acct in bucket_owners:
            s3.load_account(con, snapshot_id, bundle, acct)
        for account in cfg.accounts:  # accounts whose credentials were refused: their gap rows
            if account.account_id and account.account_id not in ids:
                load_other_gaps(con, snapshot_id, bundle, account.account_id)
                iam.load_account(con, snapshot_id, bundle, account.account_id)
        finish_snapshot(con, snapshot_id, bundle)
        build_policy_changes(con)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return snapshot_id
