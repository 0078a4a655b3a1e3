"""KMS key tags: collected with ListResourceTags, and moved to an event time with the trail.

A KMS key's tags are its ``aws:ResourceTag/<k>`` condition keys (AWS KMS developer guide, "ABAC for AWS
KMS", https://docs.aws.amazon.com/kms/latest/developerguide/abac.html). ``get_key_tags`` fetches them
(``aws kms list-resource-tags``), ``transform_key_tags`` turns the CLI document into a ``key_tags`` row,
and ``key_tags_at(con, key_arn, at)`` says what they were at ``at``:

- from the newest state at or before ``at`` (a snapshot, or the key's ``CreateKey`` record, whose ``tags``
  request parameter is the whole initial set), moved forward with the ``TagResource`` / ``UntagResource``
  records up to ``at``: every tag is known;
- else from the first snapshot after ``at``, moved back: a tag that a record changed between ``at`` and the
  snapshot takes the value the last record at or before ``at`` gave it, or is unknown;
- else (no snapshot, no CreateKey record) only the tags that records before ``at`` set are known, and any
  other tag may exist: the answer is incomplete;
- None when nothing at all is known.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any

from diag import arn as arns
from diag.collect.awsjson import dumps, to_cli_json
from diag.jsonout import stored_json

if TYPE_CHECKING:
    import duckdb

_TAG_EVENTS = ("TagResource", "UntagResource", "CreateKey", "ReplicateKey")


def get_key_tags(client: Any, key_id: str) -> dict[str, Any]:
    """ListResourceTags, every page merged as the CLI prints it: ``{"Tags": [...], "Truncated": false}``."""
    tags: list[Any] = []
    kwargs: dict[str, Any] = {"KeyId": key_id}
    while True:
        page = client.list_resource_tags(**kwargs)
        tags.extend(page.get("Tags", []))
        marker = page.get("NextMarker")
        if not page.get("Truncated") or not marker:
            break
        kwargs["Marker"] = marker
    return to_cli_json({"Tags": tags, "Truncated": False})


def transform_key_tags(account: str, region: str, key_arn: str, doc: Any) -> dict[str, Any] | None:
    """A ``key_tags`` row from list-resource-tags.json (None when it is not a ListResourceTags answer)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("Tags"), list):
        return None
    tags: dict[str, str] = {}
    for t in doc["Tags"]:
        if isinstance(t, dict) and isinstance(t.get("TagKey"), str):
            tags[t["TagKey"]] = str(t.get("TagValue") or "")
    return {"account": account, "region": region, "key_arn": key_arn, "tags": dumps(tags)}


# ------------------------------------------------------------------------------------------ history


@dataclasses.dataclass(frozen=True)
class KeyTags:
    """The key's tags at the event time. ``known``: tag → value; ``unknown``: tags whose value then is not
    known; ``complete``: False when other tags may exist that kmsdiag cannot see; ``basis``: what the answer
    rests on, in words."""

    known: dict[str, str]
    unknown: frozenset[str] = frozenset()
    complete: bool = True
    basis: str = ""


@dataclasses.dataclass(frozen=True)
class _Change:
    when: dt.datetime
    create: bool  # CreateKey / ReplicateKey: the whole tag set
    tags: dict[str, str]  # set (TagResource) or the initial set (create)
    removed: tuple[str, ...]  # UntagResource

    def apply(self, tags: dict[str, str]) -> None:
        if self.create:
            tags.clear()
        tags.update(self.tags)
        for k in self.removed:
            tags.pop(k, None)

    def touched(self) -> set[str]:
        return set(self.tags) | set(self.removed)


def _cloudtrail_tags(value: Any) -> dict[str, str]:
    """``[{"tagKey": k, "tagValue": v}]`` as CloudTrail logs a KMS request's tags (the API's casing too)."""
    out: dict[str, str] = {}
    for t in value if isinstance(value, list) else []:
        if not isinstance(t, dict):
            continue
        k = t.get("tagKey", t.get("TagKey"))
        if isinstance(k, str):
            out[k] = str(t.get("tagValue", t.get("TagValue")) or "")
    return out


def _changes(con: duckdb.DuckDBPyConnection, key_arn: str) -> list[_Change]:
    """The successful tag-changing records of ``key_arn`` in the trail, oldest first."""
    key_id = arns.name_of(key_arn) or key_arn
    account = arns.account_of(key_arn)
    rows = con.execute(
        "SELECT event_time, event_name, raw FROM events WHERE event_source = 'kms.amazonaws.com'"
        " AND event_name IN (?, ?, ?, ?) AND error_code IS NULL AND (key_arn = ?"
        " OR json_extract_string(raw, '$.responseElements.keyMetadata.arn') = ?"
        " OR json_extract_string(raw, '$.responseElements.replicaKeyMetadata.arn') = ?"
        " OR (json_extract_string(raw, '$.requestParameters.keyId') = ? AND recipient_account = ?))"
        " ORDER BY event_time, event_id",
        [*_TAG_EVENTS, key_arn, key_arn, key_arn, key_id, account],
    ).fetchall()
    out: list[_Change] = []
    for when, name, raw in rows:
        record = stored_json(raw) or {}
        params = record.get("requestParameters") or {}
        response = record.get("responseElements") or {}
        if name == "ReplicateKey":  # its keyId is the primary key; only the replica it created is this key
            if (response.get("replicaKeyMetadata") or {}).get("arn") != key_arn:
                continue
        elif name == "CreateKey" and (response.get("keyMetadata") or {}).get("arn") not in (None, key_arn):
            continue
        create = name in ("CreateKey", "ReplicateKey")
        removed = tuple(k for k in params.get("tagKeys") or [] if isinstance(k, str)) if name == "UntagResource" else ()
        out.append(_Change(when, create, _cloudtrail_tags(params.get("tags")), removed))
    return out


def _snapshots(con: duckdb.DuckDBPyConnection, key_arn: str) -> list[tuple[dt.datetime, dict[str, str]]]:
    rows = con.execute(
        "SELECT s.collected_at, t.tags FROM key_tags t JOIN snapshots s USING (snapshot_id)"
        " WHERE t.key_arn = ? ORDER BY s.collected_at",
        [key_arn],
    ).fetchall()
    return [(when, {str(k): str(v) for k, v in (stored_json(raw) or {}).items()}) for when, raw in rows]


def _forward(base_at: dt.datetime, tags: dict[str, str], changes: list[_Change], at: dt.datetime | None) -> int:
    n = 0
    for c in changes:
        if c.when > base_at and (at is None or c.when <= at):
            c.apply(tags)
            n += 1
    return n


def key_tags_at(con: duckdb.DuckDBPyConnection, key_arn: str, at: dt.datetime | None) -> KeyTags | None:
    """The tags of ``key_arn`` at ``at`` (None: now); see the module docstring. None when nothing is known."""
    snaps = _snapshots(con, key_arn)
    changes = _changes(con, key_arn)
    bases = [(when, dict(tags), "the snapshot of") for when, tags in snaps]
    bases += [(c.when, dict(c.tags), "the CreateKey record of") for c in changes if c.create]
    before = [b for b in bases if at is None or b[0] <= at]
    if before:
        when, tags, what = max(before, key=lambda b: b[0])
        n = _forward(when, tags, changes, at)
        return KeyTags(tags, basis=f"{what} {when:%Y-%m-%d %H:%M:%S} UTC and {n} later tag record(s)")
    after = [(when, tags) for when, tags in snaps if at is None or when > at]
    if after and at is not None:
        when, tags = after[0]
        unknown: set[str] = set()
        for k in {k for c in changes if at < c.when <= when for k in c.touched()}:
            last = [c for c in changes if c.when <= at and k in c.touched()]
            tags.pop(k, None)
            if last:
                probe: dict[str, str] = {}
                last[-1].apply(probe)
                if k in probe:
                    tags[k] = probe[k]
            else:
                unknown.add(k)
        return KeyTags(tags, frozenset(unknown), basis=f"the snapshot of {when:%Y-%m-%d %H:%M:%S} UTC, moved back")
    earlier = [c for c in changes if at is None or c.when <= at]
    if not earlier:
        return None
    tags = {}
    for c in earlier:
        c.apply(tags)
    return KeyTags(tags, complete=False, basis=f"{len(earlier)} TagResource/UntagResource record(s) only")
