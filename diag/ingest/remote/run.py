"""One entry for every remote source: options → clients → pulls, for `kmsdiag ingest` and `kmsdiag watch`.

``RemoteOptions`` is what the command line gives (S3 URIs, ``--lookup``, ``--athena TABLE``, window,
accounts, regions, credentials). ``Clients`` builds the boto3 clients from one session (a profile or an
assumed role, e.g. in the log-archive account); ``plan_pulls`` reads each source's state from the
database and returns the pulls of one run; ``ingest_remote`` streams them through the ingester.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from diag.errors import RefusedError, UsageError
from diag.ingest import athena as athena_mod
from diag.ingest import lookup as lookup_mod
from diag.ingest import s3 as s3_mod
from diag.ingest.remote.aws import describe_error, make_client, remote_session
from diag.ingest.remote.blob import BlobIngester
from diag.ingest.remote.pull import Pull
from diag.ingest.remote.timeparse import utcnow
from diag.ingest.remote.watermarks import get_watermark, get_watermarks

if TYPE_CHECKING:
    import boto3
    import duckdb


@dataclass
class RemoteOptions:
    s3_uris: list[str] = field(default_factory=list)
    lookup: bool = False
    athena_table: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    key_arns: tuple[str, ...] = ()
    athena_workgroup: str | None = None
    athena_output: str | None = None
    workers: int = 8
    profile: str | None = None
    role_arn: str | None = None
    progress: bool = True

    @property
    def any(self) -> bool:
        return bool(self.s3_uris or self.lookup or self.athena_table)


class Clients:
    """boto3 clients for one set of credentials; created on first use, shared by the threads."""

    def __init__(self, opts: RemoteOptions, session: boto3.Session | None = None) -> None:
        self.opts = opts
        self._session = session

    @cached_property
    def session(self) -> boto3.Session:
        return self._session or remote_session(profile=self.opts.profile, role_arn=self.opts.role_arn)

    @cached_property
    def s3(self) -> Any:
        return make_client(self.session, "s3", pool=max(10, self.opts.workers + 2))

    @cached_property
    def athena(self) -> Any:
        """Athena runs where the table is: the session's region (profile, AWS_REGION or AWS_DEFAULT_REGION)."""
        return make_client(self.session, "athena")

    def account_id(self) -> str:
        try:
            return str(make_client(self.session, "sts").get_caller_identity()["Account"])
        except Exception as exc:
            raise RefusedError(f"cannot tell which account these credentials belong to: {describe_error(exc)}") from exc

    def lookup_targets(self) -> list[lookup_mod.LookupTarget]:
        """The accounts (``--account``, else the credentials' own) x regions (with us-east-1 for IAM)."""
        own = self.account_id()
        accounts = self.opts.accounts or (own,)
        foreign = [a for a in accounts if a != own]
        if foreign:
            raise UsageError(
                f"--lookup reads the event history of the account whose credentials are used ({own}); "
                f"for {', '.join(foreign)} run it with that account's profile or --role-arn"
            )
        regions = list(dict.fromkeys([*(self.opts.regions or (self.session.region_name or "us-east-1",)), "us-east-1"]))
        # LookupEvents is paced by us (2 req/s), so botocore's own retries are off (max_attempts=1).
        return [
            lookup_mod.LookupTarget(own, r, make_client(self.session, "cloudtrail", region=r, max_attempts=1))
            for r in regions
        ]


def s3_window(opts: RemoteOptions) -> s3_mod.Window:
    return s3_mod.Window(since=opts.since, until=opts.until, accounts=opts.accounts, regions=opts.regions)


def plan_pulls(
    con: duckdb.DuckDBPyConnection,
    opts: RemoteOptions,
    clients: Clients,
    *,
    now: dt.datetime | None = None,
    stop: threading.Event | None = None,
    s3_since: dt.datetime | None = None,
) -> list[Pull]:
    """The pulls of one run; ``s3_since`` overrides ``opts.since`` for S3 (watch's moving window)."""
    now = now or utcnow()
    pulls: list[Pull] = []
    for uri in opts.s3_uris:
        window = s3_window(opts)
        if s3_since is not None:
            window = s3_mod.Window(since=s3_since, until=None, accounts=window.accounts, regions=window.regions)
        target = s3_mod.parse_s3_uri(uri)
        pulls.append(
            s3_mod.pull_s3(
                clients.s3,
                uri,
                window,
                s3_mod.known_objects(con, target),
                workers=opts.workers,
                progress=opts.progress,
                now=now,
                stop=stop,
            )
        )
    if opts.lookup:
        pulls.append(
            lookup_mod.pull_lookup(
                clients.lookup_targets(),
                get_watermarks(con, lookup_mod.SOURCE),
                since=opts.since,
                now=now,
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
        if pull.error is None:
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

    def __init__(self, opts: RemoteOptions, clients: Clients | None = None) -> None:
        if opts.until is not None:
            raise UsageError("watch runs until stopped: --until does not apply")
        self.opts = opts
        self.clients = clients or Clients(opts)
        self._last_start: dt.datetime | None = None

    def __call__(self, con: duckdb.DuckDBPyConnection, now: dt.datetime, stop: threading.Event) -> list[Pull]:
        if self._last_start is None:
            s3_since = self.opts.since or now - self.FIRST_WINDOW
        else:
            s3_since = self._last_start - self.SLACK
        opts = RemoteOptions(**{**self.opts.__dict__, "since": None if self._last_start else self.opts.since})
        pulls = plan_pulls(con, opts, self.clients, now=now, stop=stop, s3_since=s3_since)
        self._last_start = now
        return pulls
