"""diag.report.fmt: counts read as English in every renderer ("1 failure", "2 failures")."""

from __future__ import annotations

from diag.report.fmt import count


def test_count_is_singular_for_one_only() -> None:
    assert count(1, "failure") == "1 failure"
    assert count(0, "failure") == "0 failures"
    assert count(1204, "cause") == "1,204 causes"
    assert count(2, "policy", "policies") == "2 policies"
    assert count(None, "key") == "— keys"
