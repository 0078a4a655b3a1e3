"""Pull CloudTrail log files from an S3 trail bucket, pruned by prefix, incrementally, concurrently.

The trail layout is ``<prefix>/AWSLogs/[o-orgid/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>.json.gz``.
We never list more than the window needs: accounts and regions are discovered with ``Delimiter='/'``
listings (one request per level) unless given, then each ``account/region/day`` prefix of a short window
is listed on its own; a longer window is one range listing per region (``StartAfter`` the window's first
day folder, stopping past its last day), so LIST requests grow with objects, not with days. Objects
already ingested with the same ETag (``ingested_files``) are not fetched again; digest files are never
fetched. Downloads run in a bounded thread pool and are handed, as they complete, to the
one ingest path (``diag.ingest``) as :class:`~diag.ingest.remote.blob.RemoteBlob` values.

cartography-style: ``get_*`` talk to S3, ``transform_*`` are pure (:mod:`.s3_layout`), :func:`sync_s3` joins
them. Download progress goes to a callback (:class:`~diag.ingest.summary.FetchProgress`); drawing it is
the caller's business.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from diag.errors import NotFoundError, RefusedError
from diag.ingest.remote.aws import describe_error, is_refused
from diag.ingest.remote.blob import BlobIngester, RemoteBlob, remote_blob
from diag.ingest.remote.pull import Pull
from diag.ingest.sources.s3_layout import (
    ACCOUNT_RE,
    ORG_RE,
    REGION_RE,
    Listing,
    S3Object,
    S3Plan,
    S3Target,
    TrailScope,
    clean_etag,
    object_uri,
    parse_s3_uri,
    transform_layout_position,
    transform_listings,
    transform_select,
)
from diag.ingest.summary import FetchProgress, FetchProgressFn

if TYPE_CHECKING:
    import duckdb

SOURCE = "s3"


@dataclass
class S3Summary:
    """What one S3 pull did (the ingester's own counts are under ``ingest``)."""

    uri: str
    prefixes_listed: int = 0
    objects_seen: int = 0
    objects_fetched: int = 0
    bytes_fetched: int = 0
    skipped_known: int = 0
    skipped_digest: int = 0
    skipped_outside_window: int = 0
    refused_unchanged: list[dict[str, str]] = field(default_factory=list)
    fetch_errors: list[dict[str, str]] = field(default_factory=list)
    ingest: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": SOURCE,
            "uri": self.uri,
            "prefixes_listed": self.prefixes_listed,
            "objects_seen": self.objects_seen,
            "objects_fetched": self.objects_fetched,
            "bytes_fetched": self.bytes_fetched,
            "skipped_known": self.skipped_known,
            "skipped_digest": self.skipped_digest,
            "skipped_outside_window": self.skipped_outside_window,
            "refused_unchanged": self.refused_unchanged,
            "fetch_errors": self.fetch_errors,
            "ingest": self.ingest,
        }


# ---------------------------------------------------------------------------------------------- S3 calls


def _refused(exc: Exception, what: str) -> Exception:
    if is_refused(exc):
        return RefusedError(f"S3 refused {what}: {describe_error(exc)}")
    code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None
    if code == "NoSuchBucket":
        return NotFoundError(f"no such bucket: {what}")
    return exc


def get_common_prefixes(client: Any, bucket: str, prefix: str) -> list[str]:
    """One level of ``Delimiter='/'`` listing: the child folder names under ``prefix`` (paginated)."""
    names: list[str] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            for cp in page.get("CommonPrefixes", []) or []:
                names.append(cp["Prefix"][len(prefix) :].rstrip("/"))
    except Exception as exc:
        raise _refused(exc, f"listing s3://{bucket}/{prefix}") from exc
    return names


def get_objects(
    client: Any, bucket: str, prefix: str, *, start_after: str | None = None, last: str | None = None
) -> Iterator[S3Object]:
    """Every object under ``prefix`` (paginated, no delimiter); with ``start_after``, only keys after it;
    with ``last``, stop at the first key past the folder ``last`` (no further page is requested)."""
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if start_after:
        params["StartAfter"] = start_after
    try:
        for page in client.get_paginator("list_objects_v2").paginate(**params):
            for item in page.get("Contents", []) or []:
                key = item["Key"]
                if last is not None and key > last and not key.startswith(last):
                    return
                yield S3Object(key, int(item.get("Size", 0)), clean_etag(item.get("ETag")))
    except Exception as exc:
        raise _refused(exc, f"listing s3://{bucket}/{prefix}") from exc


def get_object_bytes(client: Any, bucket: str, key: str) -> tuple[bytes, str]:
    """The object's bytes and its ETag as served (it may have changed since listing)."""
    resp = client.get_object(Bucket=bucket, Key=key)
    body = resp["Body"]
    try:
        return body.read(), clean_etag(resp.get("ETag"))
    finally:
        body.close()


def get_region_prefixes(client: Any, target: S3Target, window: TrailScope) -> list[str]:
    """``.../<account>/CloudTrail/<region>/`` prefixes in scope, discovering what was not given."""
    pos = transform_layout_position(target.prefix)
    if pos.org:
        orgs: list[str | None] = [pos.org]
        direct_accounts: list[str] = []
    else:
        top = get_common_prefixes(client, target.bucket, pos.root)
        orgs = [n for n in top if ORG_RE.match(n)]
        direct_accounts = [n for n in top if ACCOUNT_RE.match(n)]
        if not orgs and not direct_accounts and pos.account is None:
            raise NotFoundError(
                f"no CloudTrail logs under s3://{target.bucket}/{pos.root}: "
                "pass the trail's bucket and S3 key prefix (the folder that holds AWSLogs/)"
            )
    account_roots: list[str] = []  # ".../AWSLogs/[o-x/]<account>/"
    wanted = set(window.accounts)
    if pos.account is not None:
        if wanted and pos.account not in wanted:
            return []
        base = pos.root + (f"{pos.org}/" if pos.org else "")
        account_roots.append(f"{base}{pos.account}/")
    else:
        for acct in direct_accounts:
            if not wanted or acct in wanted:
                account_roots.append(f"{pos.root}{acct}/")
        for org in orgs:
            org_root = f"{pos.root}{org}/"
            if wanted:
                accounts = sorted(wanted)
            else:
                accounts = [n for n in get_common_prefixes(client, target.bucket, org_root) if ACCOUNT_RE.match(n)]
            account_roots.extend(f"{org_root}{a}/" for a in accounts)
    out: list[str] = []
    wanted_regions = set(window.regions)
    for acct_root in account_roots:
        ct = acct_root + "CloudTrail/"
        if pos.region is not None:
            regions = [pos.region] if not wanted_regions or pos.region in wanted_regions else []
        elif wanted_regions:
            regions = sorted(wanted_regions)
        else:
            regions = [n for n in get_common_prefixes(client, target.bucket, ct) if REGION_RE.match(n)]
        out.extend(f"{ct}{r}/" for r in regions)
    return out


def plan_s3(
    client: Any,
    target: S3Target,
    window: TrailScope,
    known: dict[str, str],
    *,
    now: dt.datetime | None = None,
    region_prefixes: list[str] | None = None,
    workers: int = 8,
    refused: Mapping[str, str] | None = None,
) -> S3Plan:
    """List exactly the prefixes the window needs (``workers`` listings at a time) and choose the objects.

    ``region_prefixes`` (from :func:`get_region_prefixes`) skips the discovery listings, e.g. when watch
    reuses what it discovered in an earlier cycle.
    """
    plan = S3Plan(target)
    pos = transform_layout_position(target.prefix)
    regions = region_prefixes if region_prefixes is not None else get_region_prefixes(client, target, window)
    listings = [
        one
        for region_prefix in regions
        for one in transform_listings(region_prefix, window, pos.tail if pos.region else "", now=now)
    ]

    def listing(one: Listing) -> list[S3Object]:
        return list(get_objects(client, target.bucket, one.prefix, start_after=one.start_after, last=one.last))

    with ThreadPoolExecutor(
        max_workers=max(1, min(workers, len(listings) or 1)), thread_name_prefix="kmsdiag-ls"
    ) as pool:
        for one, objects in zip(listings, pool.map(listing, listings), strict=True):
            plan.prefixes_listed.append(one.prefix)
            transform_select(objects, known, window, plan, refused)
    return plan


def fetch_blobs(
    client: Any,
    bucket: str,
    objects: list[S3Object],
    *,
    workers: int = 8,
    on_done: Callable[[S3Object, int], None] | None = None,
    on_error: Callable[[S3Object, Exception], None] | None = None,
    stop: threading.Event | None = None,
) -> Iterator[RemoteBlob]:
    """Download ``objects`` with at most ``workers`` requests (and results) in flight; yield as they land.

    Memory stays bounded by ``2 * workers`` objects. A refused or failed download is reported through
    ``on_error`` and not yielded (it is not recorded as ingested, so the next run tries again).
    """
    workers = max(1, workers)
    pending: dict[Future[tuple[bytes, str]], S3Object] = {}
    queue = iter(objects)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kmsdiag-s3") as pool:

        def refill() -> None:
            while len(pending) < 2 * workers and not (stop and stop.is_set()):
                obj = next(queue, None)
                if obj is None:
                    return
                pending[pool.submit(get_object_bytes, client, bucket, obj.key)] = obj

        refill()
        try:
            while pending:
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for fut in done:
                    obj = pending.pop(fut)
                    try:
                        data, etag = fut.result()
                    except Exception as exc:
                        if on_error:
                            on_error(obj, exc)
                        continue
                    if on_done:
                        on_done(obj, len(data))
                    yield remote_blob(object_uri(bucket, obj.key), SOURCE, data, etag or obj.etag)
                refill()
        finally:
            for fut in pending:
                fut.cancel()


def known_refused(con: duckdb.DuckDBPyConnection, target: S3Target, since: dt.datetime | None = None) -> dict[str, str]:
    """``s3://bucket/key`` → reason, for the objects under the URI an earlier run refused (same scope as
    :func:`known_objects`)."""
    base = object_uri(target.bucket, target.prefix)
    day = f"{since:%Y/%m/%d}" if since is not None else None
    rows = con.execute(
        "SELECT path, coalesce(reason, 'refused') FROM ingested_files WHERE source = ? AND starts_with(path, ?)"
        " AND status = 'refused'"
        " AND (CAST(? AS VARCHAR) IS NULL"
        "      OR regexp_extract(path, '/CloudTrail/[^/]+/([0-9]{4}/[0-9]{2}/[0-9]{2})/', 1) >= ?)",
        [SOURCE, base, day, day],
    ).fetchall()
    return {str(p): str(r) for p, r in rows}


def known_objects(con: duckdb.DuckDBPyConnection, target: S3Target, since: dt.datetime | None = None) -> dict[str, str]:
    """``s3://bucket/key`` → ETag of the objects under the URI already ingested (or refused).

    With ``since``, only the day folders from that day on: a bucket with years of logs does not load
    millions of rows to read one day.
    """
    base = object_uri(target.bucket, target.prefix)
    day = f"{since:%Y/%m/%d}" if since is not None else None
    rows = con.execute(
        "SELECT path, etag FROM ingested_files WHERE source = ? AND starts_with(path, ?) AND etag IS NOT NULL"
        " AND status <> 'partial'"  # cut by a killed run: fetched and completed again
        " AND (CAST(? AS VARCHAR) IS NULL"
        "      OR regexp_extract(path, '/CloudTrail/[^/]+/([0-9]{4}/[0-9]{2}/[0-9]{2})/', 1) >= ?)",
        [SOURCE, base, day, day],
    ).fetchall()
    return {str(p): str(e) for p, e in rows}


def pull_s3(
    client: Any,
    uri: str,
    window: TrailScope,
    known: dict[str, str],
    *,
    workers: int = 8,
    progress: FetchProgressFn | None = None,
    now: dt.datetime | None = None,
    stop: threading.Event | None = None,
    region_cache: dict[str, list[str]] | None = None,
    refused: Mapping[str, str] | None = None,
) -> Pull:
    """Everything lazy: listing and downloads happen as the consumer iterates the blobs, so a caller can
    read its state from the database, close it, and only then touch S3.

    ``region_cache`` keeps the discovered account/region prefixes per URI across calls (watch cycles);
    ``progress`` is called when the downloads start and after each object (in the consumer's thread).
    """
    target = parse_s3_uri(uri)
    summary = S3Summary(uri=target.uri)
    lock = threading.Lock()

    def errored(obj: S3Object, exc: Exception) -> None:
        with lock:
            summary.fetch_errors.append({"path": object_uri(target.bucket, obj.key), "error": describe_error(exc)})

    def blobs() -> Iterator[RemoteBlob]:
        regions = None
        if region_cache is not None:
            if uri not in region_cache:
                region_cache[uri] = get_region_prefixes(client, target, window)
            regions = region_cache[uri]
        plan = plan_s3(
            client, target, window, known, now=now, region_prefixes=regions, workers=workers, refused=refused
        )
        summary.prefixes_listed = len(plan.prefixes_listed)
        summary.objects_seen = plan.objects_seen
        summary.skipped_known = plan.skipped_known
        summary.skipped_digest = plan.skipped_digest
        summary.skipped_outside_window = plan.skipped_outside_window
        summary.refused_unchanged = [{"file": f, "reason": r} for f, r in plan.still_refused]
        if not plan.to_fetch:
            return
        total_objects, total_bytes = len(plan.to_fetch), plan.bytes_to_fetch

        def report() -> None:
            if progress:
                progress(
                    FetchProgress(
                        target.uri, summary.objects_fetched, total_objects, summary.bytes_fetched, total_bytes
                    )
                )

        def done(obj: S3Object, size: int) -> None:
            with lock:
                summary.objects_fetched += 1
                summary.bytes_fetched += size
            report()

        report()
        yield from fetch_blobs(
            client, target.bucket, plan.to_fetch, workers=workers, on_done=done, on_error=errored, stop=stop
        )

    return Pull(blobs(), summary)


def sync_s3(
    con: duckdb.DuckDBPyConnection,
    uri: str,
    window: TrailScope,
    *,
    client: Any,
    ingester: BlobIngester,
    workers: int = 8,
    progress: FetchProgressFn | None = None,
    now: dt.datetime | None = None,
    stop: threading.Event | None = None,
) -> S3Summary:
    """List, fetch and ingest what is new in one trail bucket; return what happened."""
    target = parse_s3_uri(uri)
    pull = pull_s3(
        client,
        uri,
        window,
        known_objects(con, target, window.since),
        workers=workers,
        progress=progress,
        now=now,
        stop=stop,
        refused=known_refused(con, target, window.since),
    )
    summary: S3Summary = pull.summary
    summary.ingest = dict(ingester(con, pull.blobs))
    pull.finish(con)
    return summary
