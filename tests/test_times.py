"""diag.times: the one time module (durations, ISO 8601, CloudTrail's formats) and the options built on it."""

from __future__ import annotations

import datetime as dt

import pytest

from diag import times
from diag.check.request import parse_as_of
from diag.errors import UsageError
from diag.ingest.remote.timeparse import parse_duration, parse_when
from diag.report.window import parse_instant

NOW = dt.datetime(2026, 11, 28, 12, 0, 0)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("5m", 300.0), ("24h", 86400.0), ("7d", 604800.0), ("2w", 1209600.0), (" 1.5H ", 5400.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert times.duration_seconds(text) == seconds
    expected = NOW - dt.timedelta(seconds=seconds)
    # every option that takes a duration reads it the same way
    assert times.parse_instant(text, NOW) == expected
    assert parse_when(text, now=NOW) == expected
    assert parse_instant(text, NOW, option="--since") == expected
    assert parse_as_of(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-28", dt.datetime(2026, 11, 28)),
        ("2026-11-28T10:00:00Z", dt.datetime(2026, 11, 28, 10)),
        ("2026-11-28T12:00:00+02:00", dt.datetime(2026, 11, 28, 10)),
        ("2026-11-28T10:00:00.123456z", dt.datetime(2026, 11, 28, 10, 0, 0, 123456)),
    ],
)
def test_iso_times_are_naive_utc(text: str, expected: dt.datetime) -> None:
    assert times.parse_iso(text) == expected
    assert parse_when(text, now=NOW) == parse_instant(text, NOW, option="--until") == parse_as_of(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "7 days", "d7", "2026-13-01", ""])
def test_neither_duration_nor_time(text: str) -> None:
    assert times.parse_instant(text, NOW) is None
    for parse in (lambda: parse_when(text, now=NOW), lambda: parse_instant(text, NOW, option="--since")):
        with pytest.raises(UsageError):
            parse()


def test_parse_duration_takes_bare_seconds() -> None:
    assert parse_duration("90") == 90.0 and parse_duration("2m") == 120.0
    with pytest.raises(UsageError):
        parse_duration("soon")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # CloudTrail's ScheduleKeyDeletion responseElements.deletionDate (AWS KMS Developer Guide)
        ("Nov 2, 2021, 11:25:25 PM", dt.datetime(2021, 11, 2, 23, 25, 25)),
        ("2014-11-10T21:45:29Z", dt.datetime(2014, 11, 10, 21, 45, 29)),
        (1637712000, dt.datetime(2021, 11, 24)),
        ("1637712000000", dt.datetime(2021, 11, 24)),
        ("Tue Nov 02 23:25:25 UTC 2021", dt.datetime(2021, 11, 2, 23, 25, 25)),
        (
            dt.datetime(2021, 11, 2, 23, 25, 25, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            dt.datetime(2021, 11, 2, 22, 25, 25),
        ),
        ("not a date", None),
        (True, None),
    ],
)
def test_parse_time(value: object, expected: dt.datetime | None) -> None:
    assert times.parse_time(value) == expected


def test_utcnow_is_naive() -> None:
    now = times.utcnow(whole_seconds=True)
    assert now.tzinfo is None and now.microsecond == 0


def _dates(node: object, out: list[str]) -> list[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, str) and k in ("eventTime", "creationDate", "deletionDate", "validTo"):
                out.append(v)
            _dates(v, out)
    elif isinstance(node, list):
        for v in node:
            _dates(v, out)
    return out


def test_every_date_in_the_real_records_is_read() -> None:
    """Every eventTime / creationDate / deletionDate of the records copied from AWS documentation and public
    repositories (tests/data/real_records, provenance in its README) parses, in every format AWS used."""
    import json
    from pathlib import Path

    found: list[str] = []
    for path in sorted((Path(__file__).parent / "data" / "real_records").rglob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue  # fragments kept as evidence of broken input
        _dates(doc, found)
    assert len(found) > 20 and "Nov 2, 2021, 11:25:25 PM" in found and "Apr 12, 2021 18:58:30 PM" in found
    assert [d for d in found if times.parse_time(d) is None] == []


def test_cloudtrail_time_is_the_eventtime_form_in_utc() -> None:
    """The form of CloudTrail's eventTime (AWS documentation records: ``2014-03-06T21:22:54Z``), from a
    naive UTC time or an aware one in any zone."""
    cloudtrail_time, parse_iso = times.cloudtrail_time, times.parse_iso
    naive = dt.datetime(2014, 3, 6, 21, 22, 54, 123456)
    assert cloudtrail_time(naive) == "2014-03-06T21:22:54Z"
    paris = dt.datetime(2014, 3, 6, 22, 22, 54, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert cloudtrail_time(paris) == "2014-03-06T21:22:54Z"
    assert parse_iso(cloudtrail_time(naive)) == naive.replace(microsecond=0)
