"""Pull recent events from CloudTrail event history (LookupEvents), per account and region.

LookupEvents sees the last 90 days of management events, one lookup attribute per request, at most 50
events per page and 2 requests per second per account and region. We ask once per event source that
kmsdiag keeps, page through with ``NextToken``, pace every request (retries included) with a
:class:`~diag.ingest.remote.ratelimit.RateLimiter`, and back off on throttling. Each page is handed
unchanged (``{"Events": [{"CloudTrailEvent": "<json>"}]}``, a shape the ingester reads) to the one
ingest path. Incremental by time: a watermark per account/region/source in ``remote_watermarks``; the
next run starts a little before it (late events), and de-duplication by eventID absorbs the overlap.

Global services (IAM, Organizations) log their events in us-east-1 only, so they are asked there only.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from diag.errors import UsageError
from diag.ingest.remote.aws import describe_error, is_transient
from diag.ingest.remote.blob import BlobIngester, RemoteBlob, remote_blob
from diag.ingest.remote.concurrency import interleave
from diag.ingest.remote.pull import Pull
from diag.ingest.remote.ratelimit import RateLimiter, backoff_delays
from diag.ingest.remote.timeparse import utcnow
from diag.ingest.remote.watermarks import get_watermarks, set_watermark
from diag.times import cloudtrail_time

if TYPE_CHECKING:
    import duckdb

SOURCE = "lookup"
# The event sources whose events kmsdiag stores (KMS calls and key changes, S3 bucket-policy changes,
# IAM and Organizations policy changes, STS role sessions). Everything else is not asked for.
KEPT_SOURCES = (
    "kms.amazonaws.com",
    "s3.amazonaws.com",
    "iam.amazonaws.com",
    "organizations.amazonaws.com",
    "sts.amazonaws.com",
)
GLOBAL_SOURCES = {"iam.amazonaws.com": "us-east-1", "organizations.amazonaws.com": "us-east-1"}
MAX_HISTORY = dt.timedelta(days=90)
OVERLAP = dt.timedelta(minutes=20)  # events can appear in event history minutes after they happened
DEFAULT_FIRST_WINDOW = dt.timedelta(days=1)
PAGE_SIZE = 50
MAX_ATTEMPTS = 6


@dataclass(frozen=True)
class LookupTarget:
    """One account and region, with a CloudTrail client holding that account's credentials."""

    account: str
    region: str
    client: Any


@dataclass(frozen=True)
class LookupQuery:
    account: str
    region: str
    event_source: str
    start: dt.datetime
    end: dt.datetime

    @property
    def scope(self) -> str:
        return f"{self.account}/{self.region}/{self.event_source}"

    def page_name(self, page: int) -> str:
        return f"lookup:{self.scope}/{cloudtrail_time(self.start)}/{cloudtrail_time(self.end)}#{page}"


@dataclass
class LookupSummary:
    queries: int = 0
    requests: int = 0
    retries: int = 0
    pages: int = 0
    events_seen: int = 0
    windows: list[dict[str, str]] = field(default_factory=list)
    gaps: list[dict[str, str]] = field(default_factory=list)  # refused or failed account/region/source
    ingest: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": SOURCE,
            "queries": self.queries,
            "requests": self.requests,
            "retries": self.retries,
            "pages": self.pages,
            "events_seen": self.events_seen,
            "windows": self.windows,
            "gaps": self.gaps,
            "ingest": self.ingest,
        }


# ---------------------------------------------------------------------------------------------- pure


def transform_queries(
    targets: list[LookupTarget],
    *,
    since: dt.datetime | None,
    now: dt.datetime,
    watermarks: dict[str, dt.datetime],
    sources: tuple[str, ...] = KEPT_SOURCES,
) -> list[LookupQuery]:
    """One query per target and event source, starting at ``since`` or just before the watermark."""
    floor = now - MAX_HISTORY
    if since is not None and since >= now:
        raise UsageError(f"--since {cloudtrail_time(since)} is in the future")
    if since is not None and since < floor - dt.timedelta(minutes=5):
        raise UsageError(
            f"--since {since:%Y-%m-%d} is more than 90 days ago: LookupEvents keeps 90 days of event history. "
            "Read older events from the trail bucket (s3://...) or with --athena."
        )
    out = []
    for t in targets:
        for src in sources:
            home = GLOBAL_SOURCES.get(src)
            if home is not None and t.region != home:
                continue
            q = LookupQuery(t.account, t.region, src, now, now)
            mark = watermarks.get(q.scope)
            if since is not None:
                start = since
            elif mark is not None:
                start = mark - OVERLAP
            else:
                start = now - DEFAULT_FIRST_WINDOW
            out.append(LookupQuery(t.account, t.region, src, max(start, floor), now))
    return out


def transform_page_blob(query: LookupQuery, page_no: int, events: list[dict[str, Any]]) -> RemoteBlob:
    """A LookupEvents page as the ingester reads it: ``{"Events": [{"CloudTrailEvent": "..."}]}``."""
    data = orjson.dumps({"Events": [{"CloudTrailEvent": e.get("CloudTrailEvent")} for e in events]})
    return remote_blob(query.page_name(page_no), SOURCE, data)


# ---------------------------------------------------------------------------------------------- AWS calls


def get_event_pages(
    client: Any,
    query: LookupQuery,
    limiter: RateLimiter,
    *,
    sleep: Callable[[float], None] = time.sleep,
    counters: dict[str, int] | None = None,
    stop: threading.Event | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> Iterator[list[dict[str, Any]]]:
    """Every page of events for one query, each request paced, throttling retried with backoff."""
    counters = counters if counters is not None else {}
    params: dict[str, Any] = {
        "LookupAttributes": [{"AttributeKey": "EventSource", "AttributeValue": query.event_source}],
        "StartTime": query.start.replace(tzinfo=dt.UTC),
        "EndTime": query.end.replace(tzinfo=dt.UTC),
        "MaxResults": PAGE_SIZE,
    }
    key = (query.account, query.region)
    while True:
        delays = backoff_delays(max_attempts - 1)
        for attempt in range(max_attempts):
            limiter.acquire(key)
            counters["requests"] = counters.get("requests", 0) + 1
            try:
                resp = client.lookup_events(**params)
                break
            except Exception as exc:
                if not is_transient(exc) or attempt == max_attempts - 1:
                    raise
                counters["retries"] = counters.get("retries", 0) + 1
                sleep(delays[attempt])
        yield list(resp.get("Events", []) or [])
        token = resp.get("NextToken")
        if not token or (stop is not None and stop.is_set()):
            return
        params["NextToken"] = token


def pull_lookup(
    targets: list[LookupTarget],
    watermarks: dict[str, dt.datetime],
    *,
    since: dt.datetime | None = None,
    now: dt.datetime | None = None,
    limiter: RateLimiter | None = None,
    sleep: Callable[[float], None] = time.sleep,
    workers: int = 4,
    sources: tuple[str, ...] = KEPT_SOURCES,
    stop: threading.Event | None = None,
) -> Pull:
    """Page every target's event history lazily; ``finish`` advances the watermarks of complete queries.

    Watermarks advance only for queries read to the end, and only in ``finish`` (after the ingester
    committed); a refused or failing query is recorded in ``gaps`` and tried again next run.
    """
    now = now or utcnow()
    limiter = limiter or RateLimiter(2.0, sleep=sleep)
    queries = transform_queries(targets, since=since, now=now, watermarks=watermarks, sources=sources)
    summary = LookupSummary(queries=len(queries))
    clients = {(t.account, t.region): t.client for t in targets}
    counters: dict[str, int] = {}
    lock = threading.Lock()
    completed: list[LookupQuery] = []

    def producer(q: LookupQuery) -> Callable[[], Iterator[tuple[RemoteBlob, int]]]:
        def run() -> Iterator[tuple[RemoteBlob, int]]:
            local: dict[str, int] = {}
            try:
                for page_no, events in enumerate(
                    get_event_pages(clients[(q.account, q.region)], q, limiter, sleep=sleep, counters=local, stop=stop)
                ):
                    if events:  # an empty page adds nothing, not even an ingested_files row
                        yield transform_page_blob(q, page_no, events), len(events)
            finally:
                with lock:
                    for k, v in local.items():
                        counters[k] = counters.get(k, 0) + v
                    summary.requests = counters.get("requests", 0)
                    summary.retries = counters.get("retries", 0)

        return run

    def blobs() -> Iterator[RemoteBlob]:
        for item in interleave([producer(q) for q in queries], workers=workers, stop=stop):
            q = queries[item.producer]
            if item.value is not None:
                blob, n_events = item.value
                summary.pages += 1
                summary.events_seen += n_events
                yield blob
            elif item.error is not None:
                summary.gaps.append(
                    {
                        "account": q.account,
                        "region": q.region,
                        "event_source": q.event_source,
                        "error": describe_error(item.error),
                    }
                )
            elif item.done and not (stop is not None and stop.is_set()):
                completed.append(q)

    def finish(con: duckdb.DuckDBPyConnection) -> None:
        for q in completed:
            set_watermark(con, SOURCE, q.scope, q.end)
            summary.windows.append({"scope": q.scope, "start": cloudtrail_time(q.start), "end": cloudtrail_time(q.end)})

    return Pull(blobs(), summary, finish)


def sync_lookup(
    con: duckdb.DuckDBPyConnection,
    targets: list[LookupTarget],
    *,
    ingester: BlobIngester,
    since: dt.datetime | None = None,
    now: dt.datetime | None = None,
    limiter: RateLimiter | None = None,
    sleep: Callable[[float], None] = time.sleep,
    workers: int = 4,
    sources: tuple[str, ...] = KEPT_SOURCES,
    stop: threading.Event | None = None,
) -> LookupSummary:
    """Read every target's event history since its watermark (or ``since``) and ingest it."""
    pull = pull_lookup(
        targets,
        get_watermarks(con, SOURCE),
        since=since,
        now=now,
        limiter=limiter,
        sleep=sleep,
        workers=workers,
        sources=sources,
        stop=stop,
    )
    summary: LookupSummary = pull.summary
    summary.ingest = dict(ingester(con, pull.blobs))
    pull.finish(con)
    return summary
