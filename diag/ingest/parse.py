"""Unpack one input blob into CloudTrail records, or refuse it with a reason (pure: no I/O, no database).

Accepted shapes, gzip-compressed (detected by its magic bytes, not the file name) or plain:

- a CloudTrail log file ``{"Records": [record, ...]}``;
- a single record ``{"eventID": ..., "eventName": ...}`` or a JSON array of records;
- JSON Lines: one record (or one EventBridge envelope) per line;
- an EventBridge "AWS API Call via CloudTrail" envelope ``{"detail-type": ..., "detail": record}``;
- ``aws cloudtrail lookup-events`` output ``{"Events": [{"CloudTrailEvent": "<record as a JSON string>"}]}``.

CloudTrail-Digest files (by their path or their shape) are recognized and reported as digests.

A file is all or nothing: if any part of it is invalid (truncated gzip, invalid JSON, a shape that is not
CloudTrail, a record that is not an object or has no string ``eventID``), the whole file is refused and
none of its records is stored. A re-ingest after the file is fixed then starts from a clean slate.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson

GZIP_MAGIC = b"\x1f\x8b"
MAX_REASON = 300

KIND_RECORDS = "records"
KIND_DIGEST = "digest"
KIND_REFUSED = "refused"


@dataclass
class Parsed:
    """What one blob holds: records, a digest, or a refusal with its reason."""

    kind: str
    records: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None
    shape: str | None = None


class Refused(Exception):
    """The blob is not valid CloudTrail; the message is the reason shown to the user."""


def is_digest_name(name: str) -> bool:
    """CloudTrail delivers digests under ``.../CloudTrail-Digest/...`` named ``*_CloudTrail-Digest_*``."""
    return "CloudTrail-Digest" in name


def _is_digest_doc(doc: object) -> bool:
    return isinstance(doc, dict) and "digestPublicKeyFingerprint" in doc and "Records" not in doc


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


# The largest input (uncompressed) kmsdiag reads: parsing holds the whole document in memory, several
# times its size as Python objects, so this bounds an ingest's memory whatever a file's size. Real
# CloudTrail log files are far smaller (a few MB); KMSDIAG_MAX_INPUT_MB changes it.
DEFAULT_MAX_INPUT_MB = 128
MAX_INPUT_ENV = "KMSDIAG_MAX_INPUT_MB"


def max_input_bytes() -> int:
    """The per-input limit in bytes (uncompressed): ``$KMSDIAG_MAX_INPUT_MB`` MiB, default 128."""
    raw = os.environ.get(MAX_INPUT_ENV, "")
    try:
        mb = float(raw) if raw.strip() else DEFAULT_MAX_INPUT_MB
    except ValueError:
        mb = DEFAULT_MAX_INPUT_MB
    return int(mb * (1 << 20)) if mb > 0 else DEFAULT_MAX_INPUT_MB << 20


def too_large_reason(size: int, limit: int, *, compressed: bool) -> str:
    what = f"uncompresses to more than {limit / (1 << 20):g} MB" if compressed else f"is {size / (1 << 20):.1f} MB"
    return (
        f"{what}, more than the {limit / (1 << 20):g} MB kmsdiag reads of one input (not a CloudTrail log file;"
        f" set {MAX_INPUT_ENV} to raise the limit)"
    )


def decompress(data: bytes, limit: int | None = None) -> bytes:
    """gunzip when the bytes start with the gzip magic (several members allowed), else return as is.

    At most ``limit`` bytes (default :func:`max_input_bytes`) are unpacked: a larger result is refused
    after unpacking only one byte more, so a small "gzip bomb" cannot exhaust memory.
    """
    limit = max_input_bytes() if limit is None else limit
    if not data.startswith(GZIP_MAGIC):
        if len(data) > limit:
            raise Refused(too_large_reason(len(data), limit, compressed=False))
        return data
    # The common case, one complete gzip member within the limit, in one zlib call (twice as fast as
    # GzipFile); anything else (several members, trailing bytes, truncated, corrupt, too large) takes the
    # GzipFile path below, which gives the same result and the same reasons as always.
    unpacker = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        out = unpacker.decompress(data, limit + 1)
    except zlib.error:
        pass
    else:
        if unpacker.eof and not unpacker.unused_data and len(out) <= limit:
            return out
        del out
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            out = fh.read(limit + 1)
        if len(out) > limit:
            raise Refused(too_large_reason(len(out), limit, compressed=True))
        return out
    except EOFError as exc:
        raise Refused("truncated gzip: the compressed stream ends before its end marker") from exc
    except (OSError, zlib.error) as exc:
        raise Refused(_short(f"corrupt gzip: {exc}")) from exc


# orjson (3.8) parses nesting recursively without a limit and crashes the process (stack overflow) near
# 150,000 levels. A document with fewer opening brackets than this cannot nest that deep, so orjson is
# used; a larger one goes through the standard library's parser, which stops at Python's recursion limit.
SAFE_OPENERS = 60_000


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _stdlib_loads(text: bytes | str) -> Any:
    import json

    return json.loads(text, parse_constant=_reject_constant)


def _loads(text: bytes | str, where: str, *, safe: bool = False) -> Any:
    try:
        if safe:
            return _stdlib_loads(text)
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise Refused(_short(f"invalid JSON{where}: {exc}")) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refused(_short(f"invalid JSON{where}: {exc}")) from exc
    except RecursionError as exc:
        raise Refused(f"invalid JSON{where}: nested too deeply") from exc


def _needs_safe_parser(text: bytes | str) -> bool:
    if isinstance(text, str):
        return text.count("[") + text.count("{") >= SAFE_OPENERS
    return text.count(b"[") + text.count(b"{") >= SAFE_OPENERS


def _check_record(rec: object, where: str) -> dict[str, Any]:
    if not isinstance(rec, dict):
        raise Refused(f"{where}is a JSON {type(rec).__name__}, not a CloudTrail record object")
    eid = rec.get("eventID")
    if not isinstance(eid, str) or not eid.strip():
        synthetic = synthetic_event_id(rec) if eid is None else None
        if synthetic is None:
            raise Refused(f"{where}has no eventID (not a CloudTrail record, or a truncated one)")
        rec["eventID"] = synthetic
    return rec


def _check_records(recs: list[Any], where: str, label: str) -> list[dict[str, Any]]:
    """:func:`_check_record` of every item, in place; the position is named only for a bad one (most
    records pass the first test, without building a message)."""
    for i, rec in enumerate(recs):
        if isinstance(rec, dict):
            eid = rec.get("eventID")
            if isinstance(eid, str) and eid.strip():
                continue
        recs[i] = _check_record(rec, f"{where}{label} {i} ")
    return recs


SYNTHETIC_PREFIX = "kmsdiag-"


def _old_version(value: object) -> bool:
    """eventVersion before 1.01 (CloudTrail added eventID in 1.01), or absent."""
    if value is None:
        return True
    try:
        return float(str(value)) < 1.01
    except ValueError:
        return False


def synthetic_event_id(rec: dict[str, Any]) -> str | None:
    """A deterministic eventID for a real record written before CloudTrail had one (eventVersion < 1.01):
    ``kmsdiag-`` and the first 32 hex digits of the SHA-256 of the record's canonical JSON (sorted keys),
    8-4-4-4-12. The same record always gets the same ID, so a re-ingest and a duplicate delivery are
    recognized. None when the record is not such a record (then it is refused as before)."""
    if "eventID" in rec and rec["eventID"] is not None:
        return None
    if not _old_version(rec.get("eventVersion")):
        return None
    if not all(isinstance(rec.get(k), str) and rec.get(k) for k in ("eventTime", "eventSource", "eventName")):
        return None
    import hashlib

    body = {k: v for k, v in rec.items() if k != "eventID"}
    try:
        canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None
    h = hashlib.sha256(canonical).hexdigest()[:32]
    return f"{SYNTHETIC_PREFIX}{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _looks_like_record(doc: dict[str, Any]) -> bool:
    return "eventID" in doc or ("eventName" in doc and "eventSource" in doc)


def _records_of(doc: object, where: str = "") -> tuple[str, list[dict[str, Any]]]:
    """The records of one parsed JSON document, and the name of its shape."""
    if isinstance(doc, list):
        return "array", _check_records(doc, where, "item")
    if not isinstance(doc, dict):
        raise Refused(f"{where}is a JSON {type(doc).__name__}, not CloudTrail")
    if "Records" in doc:
        recs = doc["Records"]
        if not isinstance(recs, list):
            raise Refused(f"{where}'Records' is a {type(recs).__name__}, not a list")
        return "cloudtrail", _check_records(recs, where, "record")
    if "Events" in doc:
        events = doc["Events"]
        if not isinstance(events, list):
            raise Refused(f"{where}'Events' is a {type(events).__name__}, not a list")
        out = []
        for i, ev in enumerate(events):
            if not isinstance(ev, dict) or not isinstance(ev.get("CloudTrailEvent"), str):
                raise Refused(f"{where}Events[{i}] has no CloudTrailEvent string (not lookup-events output)")
            inner = ev["CloudTrailEvent"]
            doc_i = _loads(inner, f" in Events[{i}]", safe=_needs_safe_parser(inner))
            out.append(_check_record(doc_i, f"{where}Events[{i}] "))
        return "lookup-events", out
    if "detail" in doc and ("detail-type" in doc or "source" in doc):
        return "eventbridge", [_check_record(doc["detail"], f"{where}the EventBridge detail ")]
    if _looks_like_record(doc):
        return "record", [_check_record(doc, where)]
    keys = ", ".join(sorted(str(k) for k in doc)[:6])
    raise Refused(_short(f"{where}is JSON but not CloudTrail (top-level keys: {keys or 'none'})"))


def _json_lines(text: bytes, safe: bool) -> tuple[str, list[dict[str, Any]]]:
    out: list[dict[str, Any]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        doc = _loads(line, f" on line {n}", safe=safe)
        if isinstance(doc, dict) and ("Records" in doc or "Events" in doc):
            raise Refused(f"line {n} is a whole log file inside JSON Lines")
        out.extend(_records_of(doc, f"line {n} ")[1])
    return "jsonl", out


def parse_text(text: bytes, name: str = "") -> Parsed:
    """Parse decompressed bytes; never raises (a refusal is a Parsed of kind 'refused')."""
    try:
        if text.startswith(b"\xef\xbb\xbf"):
            text = text[3:]
        if not text.strip():
            raise Refused("empty file")
        safe = _needs_safe_parser(text)
        try:
            doc = _loads(text, "", safe=safe)
        except Refused as exc:
            stripped = text.strip()
            if b"\n" in stripped and stripped[:1] == b"{":
                try:
                    shape, recs = _json_lines(stripped, safe)
                except Refused as line_exc:
                    # Neither a document nor valid JSON Lines: report the JSON error unless the first
                    # line parsed (then it really is JSON Lines with a bad line).
                    try:
                        _loads(stripped.split(b"\n", 1)[0], "", safe=safe)
                    except Refused:
                        raise exc from None
                    raise line_exc from exc
                return Parsed(KIND_RECORDS, recs, shape=shape)
            raise
        if _is_digest_doc(doc) or (is_digest_name(name) and isinstance(doc, dict) and "Records" not in doc):
            return Parsed(KIND_DIGEST, shape="digest")
        shape, recs = _records_of(doc)
        return Parsed(KIND_RECORDS, recs, shape=shape)
    except Refused as exc:
        return Parsed(KIND_REFUSED, reason=str(exc))


def parse_blob(data: bytes, name: str = "") -> Parsed:
    """Decompress (if gzip) and parse one input; never raises for bad input."""
    try:
        text = decompress(data)
    except Refused as exc:
        return Parsed(KIND_REFUSED, reason=str(exc))
    return parse_text(text, name)
