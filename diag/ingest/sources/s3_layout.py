"""The CloudTrail layout of a trail bucket and what to list and fetch in it (pure: no S3 calls).

The trail layout is ``<prefix>/AWSLogs/[o-orgid/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>.json.gz``.
A user's prefix is placed in it (:func:`transform_layout_position`); a short window is one listing per
``account/region/day`` folder, a longer one a range listing per region (:func:`transform_listings`); the
listed objects inside the window that were not ingested with the same ETag are chosen
(:func:`transform_select`). :mod:`diag.ingest.sources.s3` makes the calls.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from diag.errors import UsageError
from diag.ingest.remote.timeparse import day_range, utcnow

ACCOUNT_RE = re.compile(r"^\d{12}$")
ORG_RE = re.compile(r"^o-[a-z0-9]{10,32}$")
REGION_RE = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")
# 111111111111_CloudTrail_us-east-1_20261128T1205Z_AbCdEf0123456789.json.gz
_FILE_TIME_RE = re.compile(r"_CloudTrail_[a-z0-9-]+_(\d{8}T\d{4})Z_[^/]*$")
# CloudTrail delivers a file within minutes of its events; a file delivered up to this long after
# --until can still hold events from before it.
DELIVERY_SLACK = dt.timedelta(hours=1)


@dataclass(frozen=True)
class S3Target:
    """``s3://bucket/prefix`` split; ``prefix`` is empty or ends with ``/``."""

    bucket: str
    prefix: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    etag: str


@dataclass(frozen=True)
class TrailScope:
    """The part of a CloudTrail log bucket to read: a time window (either end open) and optional account and
    region filters (the ``<account>`` and ``<region>`` levels of the trail layout)."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()


@dataclass
class S3Plan:
    """The objects to fetch, and what listing found and skipped."""

    target: S3Target
    to_fetch: list[S3Object] = field(default_factory=list)
    prefixes_listed: list[str] = field(default_factory=list)
    objects_seen: int = 0
    skipped_known: int = 0
    skipped_digest: int = 0
    skipped_outside_window: int = 0
    skipped_other: int = 0
    # refused by an earlier run and unchanged since (same ETag): not fetched, still reported with the reason
    still_refused: list[tuple[str, str]] = field(default_factory=list)

    @property
    def bytes_to_fetch(self) -> int:
        return sum(o.size for o in self.to_fetch)


def parse_s3_uri(uri: str) -> S3Target:
    """``s3://bucket/some/prefix`` → S3Target(bucket, 'some/prefix/')."""
    if not uri.startswith("s3://"):
        raise UsageError(f"not an S3 URI: {uri!r} (expected s3://bucket/prefix)")
    rest = uri[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise UsageError(f"no bucket in {uri!r} (expected s3://bucket/prefix)")
    prefix = prefix.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return S3Target(bucket, prefix)


@dataclass(frozen=True)
class LayoutPosition:
    """How deep into the trail layout a user's prefix already goes."""

    root: str  # ".../AWSLogs/"
    org: str | None = None
    account: str | None = None
    region: str | None = None
    tail: str = ""  # below the region: e.g. "2026/11/"


def transform_layout_position(prefix: str) -> LayoutPosition:
    """Place a prefix in the layout; a prefix above ``AWSLogs/`` is the trail's own S3 key prefix."""
    marker = "AWSLogs/"
    idx = prefix.find(marker) if prefix.startswith(marker) else prefix.find("/" + marker)
    if idx < 0:
        return LayoutPosition(root=prefix + marker)
    if not prefix.startswith(marker):
        idx += 1
    root = prefix[: idx + len(marker)]
    parts = [p for p in prefix[idx + len(marker) :].split("/") if p]
    org = account = region = None
    if parts and ORG_RE.match(parts[0]):
        org = parts.pop(0)
    if parts:
        account = parts.pop(0)
        if not ACCOUNT_RE.match(account):
            raise UsageError(f"{account!r} in {prefix!r} is not a 12-digit account folder of the CloudTrail layout")
    if parts:
        service = parts.pop(0)
        if service != "CloudTrail":
            raise UsageError(f"{prefix!r} points at {service}/, not at CloudTrail/ log files")
    if parts:
        region = parts.pop(0)
    tail = "/".join(parts) + "/" if parts else ""
    return LayoutPosition(root=root, org=org, account=account, region=region, tail=tail)


def transform_day_prefixes(
    region_prefix: str, window: TrailScope, tail: str = "", now: dt.datetime | None = None
) -> list[str]:
    """The ``YYYY/MM/DD/`` prefixes under one region that can hold the window's events.

    The day after ``until`` is included (a file delivered just after midnight holds events from the
    day before). Without ``since`` the whole region prefix (or the user's ``tail``) is one prefix.
    """
    if window.since is None:
        return [region_prefix + tail]
    until = min(window.until or (now or utcnow()), (now or utcnow())) + DELIVERY_SLACK
    out = []
    for day in day_range(window.since, max(until, window.since)):
        part = f"{day:%Y/%m/%d}/"
        if tail and not (part.startswith(tail) or tail.startswith(part)):
            continue
        out.append(region_prefix + (tail if len(tail) > len(part) else part))
    return out


# Up to this many day folders per region are listed one by one (in parallel); a longer window is one
# listing per region that starts at its first day folder (StartAfter) and stops past its last day, so
# LIST requests grow with the objects in the window (1,000 per page), not with its days.
DAY_LISTINGS_MAX = 3


@dataclass(frozen=True)
class Listing:
    """One paginated LIST: a prefix, optionally from ``start_after`` up to the end of folder ``last``."""

    prefix: str
    start_after: str | None = None
    last: str | None = None  # the listing ends at the first key past this folder (keys come sorted)


def transform_listings(
    region_prefix: str, window: TrailScope, tail: str = "", now: dt.datetime | None = None
) -> list[Listing]:
    """The LIST requests for one region: its day folders (short windows, a user's deeper prefix), or one
    range listing over the region folder (long windows)."""
    days = transform_day_prefixes(region_prefix, window, tail, now=now)
    if window.since is None or tail or len(days) <= DAY_LISTINGS_MAX:
        return [Listing(p) for p in days]
    return [Listing(region_prefix, start_after=days[0], last=days[-1])]


def file_time(key: str) -> dt.datetime | None:
    """The delivery time in a CloudTrail log file name, or None for another name."""
    m = _FILE_TIME_RE.search(key)
    if not m:
        return None
    try:
        return dt.datetime.strptime(m.group(1), "%Y%m%dT%H%M")
    except ValueError:
        return None


def is_digest(key: str) -> bool:
    return "/CloudTrail-Digest/" in key or key.endswith("-Digest.json.gz") or "_CloudTrail-Digest_" in key


def is_log_file(key: str) -> bool:
    return key.endswith((".json.gz", ".json")) and not is_digest(key)


def transform_select(
    objects: Iterable[S3Object],
    known: dict[str, str],
    window: TrailScope,
    plan: S3Plan,
    refused: Mapping[str, str] | None = None,
) -> None:
    """Keep the log files inside the window that were not ingested with this ETag; count the rest.

    ``refused`` (``s3://bucket/key`` → reason) names known objects an earlier run refused: unchanged, they
    are not fetched again (same bytes, same refusal) but listed in ``still_refused`` with the reason.
    """
    lower = window.since
    upper = window.until + DELIVERY_SLACK if window.until else None
    for obj in objects:
        plan.objects_seen += 1
        if is_digest(obj.key):
            plan.skipped_digest += 1
            continue
        if not is_log_file(obj.key) or obj.key.endswith("/"):
            plan.skipped_other += 1
            continue
        t = file_time(obj.key)
        if t is not None and ((lower and t < lower) or (upper and t > upper)):
            plan.skipped_outside_window += 1
            continue
        uri = object_uri(plan.target.bucket, obj.key)
        if known.get(uri) == obj.etag:
            if refused and uri in refused:
                plan.still_refused.append((uri, refused[uri]))
            else:
                plan.skipped_known += 1
            continue
        plan.to_fetch.append(obj)


def object_uri(bucket: str, key: str) -> str:
    """The name of an S3 object in ``ingested_files.path``."""
    return f"s3://{bucket}/{key}"


def clean_etag(etag: str | None) -> str:
    return (etag or "").strip('"')
