"""``edit_distance`` (banded, common prefix and suffix dropped first) agrees with plain Levenshtein."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from diag.policy.near import edit_distance


def _levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@settings(max_examples=400, deadline=None)
@given(st.text("ab/:", max_size=12), st.text("ab/:", max_size=12), st.integers(0, 4))
def test_matches_levenshtein(a: str, b: str, limit: int) -> None:
    d = _levenshtein(a, b)
    assert edit_distance(a, b, limit) == (d if d <= limit else None)


def test_arns() -> None:
    role = "arn:aws:iam::222222222222:role/DataProcessingRole"
    assert edit_distance("arn:aws:iam::222222222222:role/DataProcesingRole", role) == 1
    assert edit_distance("arn:aws:iam::222222222222:role/App00Role", "arn:aws:iam::222222222222:role/App31Role") == 2
    assert edit_distance("arn:aws:iam::222222222222:role/Other", role) is None
