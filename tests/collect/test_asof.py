"""The as-of rules of diag.collect.asof (pure)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from diag.collect.asof import ABSENT, UNKNOWN, Step, value_at

T0 = dt.datetime(2026, 11, 1)


def t(hours: int) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def test_rules() -> None:
    steps = [Step(t(10), "B", UNKNOWN, "put-B"), Step(t(20), "C", UNKNOWN, "put-C")]
    assert value_at("A", t(5), steps, t(8)).value == "A"  # snapshot, nothing newer
    r = value_at("A", t(5), steps, t(15))
    assert (r.value, r.certain, r.applied) == ("B", True, ["put-B"])
    assert value_at("A", t(5), steps, None).value == "C"  # now
    r = value_at("C", t(30), steps, t(15))  # later snapshot, but an event before `at` says what it was
    assert (r.value, r.certain) == ("B", True)
    r = value_at("C", t(30), steps, t(5))  # later snapshot, changed in between, before-value unknown
    assert r.value is UNKNOWN and not r.certain
    grant = [Step(t(10), "G", ABSENT, "create")]
    r = value_at("G", t(30), grant, t(5))  # a CreateGrant after `at`: there was no grant then
    assert r.value is ABSENT and r.certain
    r = value_at("A", t(30), [], t(5))  # only a later snapshot, no event: uncertain
    assert r.value == "A" and not r.certain and r.source == "later-snapshot"
    assert value_at(ABSENT, None, [], t(5)).value is UNKNOWN  # nothing at all
    assert value_at(ABSENT, t(1), [], t(5), in_snapshot=False).value is UNKNOWN  # a gap stays a gap


@settings(max_examples=200, deadline=None)
@given(
    times=st.lists(st.integers(min_value=1, max_value=100), min_size=0, max_size=8, unique=True),
    s1=st.integers(min_value=0, max_value=100),
    gap=st.integers(min_value=0, max_value=50),
    later=st.integers(min_value=0, max_value=60),
)
def test_two_consistent_snapshots_agree(times: list[int], s1: int, gap: int, later: int) -> None:
    """A snapshot taken later (holding the replayed value) gives the same answer for any later time."""
    steps = [Step(t(h), f"v{h}", UNKNOWN, h) for h in sorted(times)]
    s2 = s1 + gap
    at = t(s2 + later)
    v2 = value_at("v0", t(s1), steps, t(s2)).value
    assert value_at("v0", t(s1), steps, at).value == value_at(v2, t(s2), steps, at).value
