"""One entry for every remote source: options → clients → pulls, for `kmsdiag ingest`, `watch` and `nightly`.

``RemoteOptions`` (:mod:`diag.ingest.remote.options`) is what the command line gives (S3 URIs,
``--lookup``, ``--athena TABLE``, window, accounts, regions, credentials). ``Clients`` builds the boto3
clients from one session (a profile or an assumed role, e.g. in the log-archive account); ``plan_pulls``
reads each source's state from the database and returns the pulls of one run (:mod:`diag.ingest.sources`);
``ingest_remote`` streams them through the ingester; ``WatchPlanner`` plans each watch cycle. Above both
the sources and their shared helpers (:mod:`diag.ingest.remote`), so neither imports the other's parent.
"""

from __future__ import annotations

import datetime as dt
import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

from diag.collect.session import AccountSession
from diag.config import AccountConfig
from diag.errors import RefusedError, UsageError
from diag.ingest.remote.aws import describe_error, make_client
from diag.ingest.remote.blob import BlobIngester
from diag.ingest.remote.options import RemoteOptions
from diag.ingest.remote.pull import Pull
from diag.ingest.remote.timeparse import utcnow
from diag.ingest.remote.watermarks import get_watermark, get_watermarks
from diag.ingest.sources import athena as athena_mod
from diag.ingest.sources import lookup as lookup_mod
from diag.ingest.sources import s3 as s3_mod
from diag.ingest.sources.s3_layout import TrailScope, parse_s3_uri

if TYPE_CHECKING:
    import boto3
    import duckdb


class Clients:
    """boto3 clients, created on first use and shared by the threads.

    Trail bucket and Athena: one session, from ``--profile`` / ``--role-arn`` (e.g. a reader role in the
    log-archive account) or the default chain. LookupEvents: every account of ``kmsdiag.toml`` (each with
    its profile or role, as `kmsdiag collect` uses them), or the one account of the flags. Sessions come
    from ``diag.collect.session.open_account``: an assumed role's credentials refresh themselves, which
    a long `kmsdiag watch` needs.
    """

    def __init__(self, opts: RemoteOptions, session: boto3.Session | None = None) -> None:
        self.opts = opts
        self._session = session
        self._targets: list[lookup_mod.LookupTarget] | None = None

    @cached_property
    def session(self) -> boto3.Session:
        if self._session is not None:
            return self._session
        return self._open(AccountConfig(profile=self.opts.profile, role_arn=self.opts.role_arn)).session

    def _open(self, account: AccountConfig) -> AccountSession:
        from diag.collect.session import open_account

        return open_account(account, max_workers=self.opts.workers)

    @cached_property
    def s3(self) -> Any:
        return make_client(self.session, "s3", pool=max(10, self.opts.workers + 2))

    @cached_property
    def athena(self) -> Any:
        """Athena runs where the table is: the session's region (profile, AWS_REGION or AWS_DEFAULT_REGION)."""
        return make_client(self.session, "athena")

    def lookup_accounts(self) -> list[tuple[AccountSession, tuple[str, ...]]]:
        """(session, configured regions) per account to read, honouring ``--account``."""
        from diag.config import load_config

        if self.opts.profile or self.opts.role_arn or self._session is not None:
            accounts = [AccountConfig(profile=self.opts.profile, role_arn=self.opts.role_arn)]
            cfg_regions: dict[int, tuple[str, ...]] = {}
        else:
            cfg = load_config(self.opts.config)
            accounts = list(cfg.accounts)
            cfg_regions = {i: cfg.regions_for(a) for i, a in enumerate(accounts)}
            wanted = set(self.opts.accounts)
            named = {a.account_id for a in accounts if a.account_id}
            missing = wanted - named
            if missing and not (len(accounts) == 1 and accounts[0].account_id is None):
                raise UsageError(
                    f"--account {', '.join(sorted(missing))} is not in {cfg.source or 'the configuration'}",
                    hint="add it to kmsdiag.toml ([[accounts]] with a profile or role_arn), or pass --profile/--role-arn",
                )
        out = []
        for i, account in enumerate(accounts):
            if self.opts.accounts and account.account_id and account.account_id not in self.opts.accounts:
                continue
            if self._session is not None:
                sess = AccountSession(self._session, self._own_account(self._session), self.opts.workers, None)
            else:
                sess = self._open(account)
            if self.opts.accounts and sess.account_id not in self.opts.accounts:
                raise UsageError(
                    f"--lookup reads the event history of the account whose credentials are used ({sess.account_id}); "
                    f"for {', '.join(a for a in self.opts.accounts if a != sess.account_id)} configure that account "
                    "in kmsdiag.toml or pass its --profile / --role-arn"
                )
            out.append((sess, cfg_regions.get(i, ())))
        return out

    @staticmethod
    def _own_account(session: Any) -> str:
        try:
            return str(make_client(session, "sts").get_caller_identity()["Account"])
        except Exception as exc:
            raise RefusedError(f"cannot tell which account these credentials belong to: {describe_error(exc)}") from exc

    def lookup_targets(self) -> list[lookup_mod.LookupTarget]:
        """Every account x region (``--region``, else the account's configured regions, else the session's
        region), with us-east-1 always added for the global services (IAM, Organizations). Built once
        (watch reuses them every cycle; assumed-role credentials refresh themselves)."""
        if self._targets is None:
            self._targets = self._build_targets()
        return self._targets

    def _build_targets(self) -> list[lookup_mod.LookupTarget]:
        targets = []
        for sess, configured in self.lookup_accounts():
            base = self.opts.regions or configured or (sess.session.region_name or "us-east-1",)
            for region in dict.fromkeys([*base, "us-east-1"]):
                # LookupEvents is paced by us (2 req/s), so botocore's own retries are off.
                client = make_client(sess.session, "cloudtrail", region=region, max_attempts=1)
                targets.append(lookup_mod.LookupTarget(sess.account_id, region, client))
        return targets


def s3_window(opts: RemoteOptions) -> TrailScope:
    return TrailScope(since=opts.since, until=opts.until, accounts=opts.accounts, regions=opts.regions)


def plan_pulls(
    con: duckdb.DuckDBPyConnection,
    opts: RemoteOptions,
    clients: Clients,
    *,
    now: dt.datetime | None = None,
    stop: threading.Event | None = None,
    s3_since: dt.datetime | None = None,
    region_cache: dict[str, list[str]] | None = None,
) -> list[Pull]:
    """The pulls of one run; ``s3_since`` overrides ``opts.since`` for S3 (watch's moving window) and
    ``region_cache`` keeps each bucket's discovered account/region prefixes between watch cycles."""
    now = now or utcnow()
    pulls: list[Pull] = []
    for uri in opts.s3_uris:
        window = s3_window(opts)
        if s3_since is not None:
            window = TrailScope(since=s3_since, until=None, accounts=window.accounts, regions=window.regions)
        target = parse_s3_uri(uri)
        pulls.append(
            s3_mod.pull_s3(
                clients.s3,
                uri,
                window,
                s3_mod.known_objects(con, target, window.since),
                workers=opts.workers,
                progress=opts.progress,
                now=now,
                stop=stop,
                region_cache=region_cache,
                refused=s3_mod.known_refused(con, target, window.since),
            )
        )
    if opts.lookup:
        pulls.append(
            lookup_mod.pull_lookup(
                clients.lookup_targets(),
                get_watermarks(con, lookup_mod.SOURCE),
                since=opts.since,
                now=now,
                workers=opts.workers,  # account/region pairs read in parallel, each paced to 2 requests/s
                stop=stop,
            )
        )
    if opts.athena_table:
        table = athena_mod.AthenaTable.parse(opts.athena_table)
        pulls.append(
            athena_mod.pull_athena(
                table,
                get_watermark(con, athena_mod.SOURCE, table.scope),
                client=clients.athena,
                since=opts.since,
                until=opts.until,
                accounts=opts.accounts,
                regions=opts.regions,
                key_arns=opts.key_arns,
                workgroup=opts.athena_workgroup,
                output=opts.athena_output,
                now=now,
                stop=stop,
            )
        )
    return pulls


def ingest_remote(
    con: duckdb.DuckDBPyConnection,
    opts: RemoteOptions,
    *,
    ingester: BlobIngester,
    clients: Clients | None = None,
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """`kmsdiag ingest s3://… / --lookup / --athena`: every source streamed through the ingester.

    A failed Athena query is recorded and then raised; other sources' data is already committed.
    """
    if opts.since is not None and opts.until is not None and opts.until <= opts.since:
        raise UsageError("--until must be after --since")
    clients = clients or Clients(opts)
    out: list[dict[str, Any]] = []
    error: BaseException | None = None
    for pull in plan_pulls(con, opts, clients, now=now):
        pull.summary.ingest = dict(ingester(con, pull.blobs))
        pull.finish(con)
        out.append(pull.summary.to_dict())
        error = error or pull.error
    if error is not None:
        raise error
    return out


class WatchPlanner:
    """The pulls of each watch cycle: S3 reads a moving window (the previous cycle's start minus an
    hour), LookupEvents and Athena continue from their watermarks."""

    SLACK = dt.timedelta(hours=1)
    FIRST_WINDOW = dt.timedelta(days=1)
    REDISCOVER = dt.timedelta(hours=1)  # new accounts/regions in the bucket are noticed within this

    def __init__(self, opts: RemoteOptions, clients: Clients | None = None) -> None:
        if opts.until is not None:
            raise UsageError("watch runs until stopped: --until does not apply")
        self.opts = opts
        self.clients = clients or Clients(opts)
        self._last_start: dt.datetime | None = None
        self._regions: dict[str, list[str]] = {}
        self._discovered_at: dt.datetime | None = None

    def __call__(self, con: duckdb.DuckDBPyConnection, now: dt.datetime, stop: threading.Event) -> list[Pull]:
        if self._last_start is None:
            s3_since = self.opts.since or now - self.FIRST_WINDOW
        else:
            s3_since = self._last_start - self.SLACK
        if self._discovered_at is None or now - self._discovered_at >= self.REDISCOVER:
            self._regions = {}
            self._discovered_at = now
        opts = RemoteOptions(**{**self.opts.__dict__, "since": None if self._last_start else self.opts.since})
        pulls = plan_pulls(con, opts, self.clients, now=now, stop=stop, s3_since=s3_since, region_cache=self._regions)
        self._last_start = now
        return pulls
