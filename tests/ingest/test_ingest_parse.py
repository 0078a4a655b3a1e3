"""diag.ingest.parse: every input shape, gzip or plain; digests; refusals with a clear reason."""

from __future__ import annotations

import gzip
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diag.ingest.parse import KIND_DIGEST, KIND_RECORDS, KIND_REFUSED, parse_blob
from tests.ingest.ctdata import eventbridge, kms_record, lookup_events


def _ids(parsed: object) -> list[str]:
    return [r["eventID"] for r in parsed.records]  # type: ignore[attr-defined]


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("shape", ["cloudtrail", "record", "array", "jsonl", "eventbridge", "lookup-events"])
def test_every_input_shape(shape: str, gz: bool) -> None:
    recs = [kms_record(), kms_record(name="GenerateDataKey")]
    if shape == "cloudtrail":
        data = json.dumps({"Records": recs}).encode()
    elif shape == "record":
        recs = recs[:1]
        data = json.dumps(recs[0], indent=2).encode()
    elif shape == "array":
        data = json.dumps(recs).encode()
    elif shape == "jsonl":
        # One record per line; EventBridge envelopes may be mixed in (as `aws events` archives do).
        data = (json.dumps(recs[0]) + "\n\n" + json.dumps(eventbridge(recs[1])) + "\n").encode()
    elif shape == "eventbridge":
        recs = recs[:1]
        data = json.dumps(eventbridge(recs[0])).encode()
    else:
        data = json.dumps(lookup_events(recs)).encode()
    if gz:
        data = gzip.compress(data)
    parsed = parse_blob(data, "input.json")
    assert parsed.kind == KIND_RECORDS, parsed.reason
    assert _ids(parsed) == [r["eventID"] for r in recs]
    assert parsed.shape == shape


def test_gzip_is_detected_by_content_not_name() -> None:
    data = gzip.compress(json.dumps({"Records": [kms_record()]}).encode())
    assert parse_blob(data, "looks-plain.json").kind == KIND_RECORDS
    assert parse_blob(json.dumps(kms_record()).encode(), "looks-compressed.json.gz").kind == KIND_RECORDS


def test_multi_member_gzip_and_bom() -> None:
    body = json.dumps({"Records": [kms_record()]}).encode()
    half = len(body) // 2
    data = gzip.compress(body[:half]) + gzip.compress(body[half:])
    assert parse_blob(data).kind == KIND_RECORDS
    assert parse_blob(b"\xef\xbb\xbf" + body).kind == KIND_RECORDS


def test_empty_records_file_is_valid() -> None:
    parsed = parse_blob(b'{"Records": []}')
    assert parsed.kind == KIND_RECORDS and parsed.records == []


def test_digest_by_name_and_by_shape() -> None:
    digest = json.dumps({"awsAccountId": "1", "digestPublicKeyFingerprint": "ab", "logFiles": []}).encode()
    assert parse_blob(gzip.compress(digest), "x.json.gz").kind == KIND_DIGEST
    name = "AWSLogs/1/CloudTrail-Digest/us-east-1/2026/11/28/1_CloudTrail-Digest_us-east-1_t_us-east-1_20261128T000000Z.json.gz"
    assert parse_blob(b'{"awsAccountId": "1"}', name).kind == KIND_DIGEST


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (gzip.compress(json.dumps({"Records": [kms_record()] * 3}).encode(), mtime=0)[:-20], "truncated gzip"),
        (b"\x1f\x8b\x08\x00garbage-not-deflate", "gzip"),
        (b'{"Records": [ {"eventID": "a", ', "invalid JSON"),
        (b"", "empty file"),
        (b"   \n", "empty file"),
        (b'{"hello": "world"}', "not CloudTrail"),
        (b"42", "not CloudTrail"),
        (b'{"Records": {"eventID": "a"}}', "not a list"),
        (b'{"Records": [{"eventName": "Decrypt"}]}', "no eventID"),
        (b'{"Records": [{"eventID": ""}]}', "no eventID"),
        (b'{"Records": [{"eventID": 7}]}', "no eventID"),
        (b'{"Records": ["just a string"]}', "not a CloudTrail record"),
        (b'{"Events": [{"CloudTrailEvent": "{not json"}]}', "invalid JSON in Events[0]"),
        (b'{"Events": [{"EventId": "x"}]}', "no CloudTrailEvent"),
        (b'{"detail-type": "x", "detail": "oops"}', "EventBridge detail"),
        (b'{"eventID": "a"}\n{"eventID": "b"\n', "invalid JSON on line 2"),
        (b'{"eventID": "a"}\n{"eventName": "b"}\n', "line 2"),
    ],
    ids=lambda value: value if isinstance(value, str) else "input",  # stable ids: xdist workers must agree
)
def test_invalid_inputs_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    parsed = parse_blob(data, "bad.json")
    assert parsed.kind == KIND_REFUSED
    assert parsed.records == []
    assert parsed.reason and reason in parsed.reason


def test_one_bad_record_refuses_the_whole_file() -> None:
    good = kms_record()
    bad = kms_record()
    del bad["eventID"]
    parsed = parse_blob(json.dumps({"Records": [good, bad]}).encode())
    assert parsed.kind == KIND_REFUSED
    assert parsed.reason == "record 1 has no eventID (not a CloudTrail record, or a truncated one)"


def test_reason_is_short_even_for_huge_garbage() -> None:
    parsed = parse_blob(b'{"' + b"k" * 100_000 + b'": 1, "other": 2}')
    assert parsed.kind == KIND_REFUSED
    assert parsed.reason is not None and len(parsed.reason) <= 300


@pytest.mark.parametrize(
    "data",
    [
        b"[" * 200_000 + b"]" * 200_000,  # would crash orjson (stack overflow): the safe parser refuses it
        b'{"Records": [' + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"]}",
        b'{"Events": [{"CloudTrailEvent": "' + b"[" * 200_000 + b"]" * 200_000 + b'"}]}',
    ],
    ids=["array", "records", "lookup-events"],
)
def test_absurd_nesting_is_refused_not_a_crash(data: bytes) -> None:
    parsed = parse_blob(data)
    assert parsed.kind == KIND_REFUSED and parsed.reason and "nested too deeply" in parsed.reason


def test_large_files_take_the_safe_parser_with_the_same_result() -> None:
    from diag.ingest import parse as parse_mod

    recs = [kms_record() for _ in range(parse_mod.SAFE_OPENERS // 8)]
    data = json.dumps({"Records": recs}).encode()
    assert data.count(b"{") + data.count(b"[") >= parse_mod.SAFE_OPENERS
    parsed = parse_blob(data)
    assert parsed.kind == KIND_RECORDS and parsed.records == recs
    assert parse_blob(data.replace(b'"readOnly": true', b'"readOnly": NaN', 1)).kind == KIND_REFUSED


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text(alphabet='{}[]":,0123456789eIDtvn \n\\', max_size=300).map(str.encode))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    parsed = parse_blob(data, "fuzz.json")
    assert parsed.kind in (KIND_RECORDS, KIND_REFUSED, KIND_DIGEST)
    if parsed.kind == KIND_REFUSED:
        assert parsed.reason
