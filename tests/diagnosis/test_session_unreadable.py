"""An inline session policy that the STS record holds but not as a policy document: the gap says what it is,
that nothing can collect it (the layer stays Unknown), and where the policy can still be found; it never
sends the user to `kmsdiag explain` of the STS event, which collects nothing."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest

from diag.diagnosis.collect_plan import collect_plan, plan_lines
from diag.diagnosis.session import session_from_record
from diag.rules.unknown import gap_entry

T0 = dt.datetime(2026, 11, 28, 12, 0, 0)
ROLE = "arn:aws:iam::222222222222:role/App"
ISSUER = "arn:aws:iam::222222222222:user/etl-scheduler"


def _sts(policy: object) -> str:
    return json.dumps(
        {"eventName": "AssumeRole", "requestParameters": {"roleArn": ROLE, "roleSessionName": "s1", "policy": policy}}
    )


@pytest.mark.parametrize(
    ("policy", "described"),
    [
        ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decr', "73 characters"),
        (["not", "a", "policy"], "a JSON list"),
    ],
)
def test_unreadable_inline_policy_says_what_can_be_done(policy: object, described: str) -> None:
    found = session_from_record("sts-1", T0, "AssumeRole", ISSUER, _sts(policy))
    assert not found.known and found.gap is not None
    gap = found.gap
    assert gap.what == "session_policy" and gap.resource == "sts-1"
    # the reason: which record, when, who issued it, what is wrong, and that the layer stays Unknown
    for part in ("AssumeRole event sts-1", "2026-11-28 12:00:00 UTC", ISSUER, ROLE, described, "stays Unknown"):
        assert part in gap.reason, part
    # no command that collects nothing: a comment naming where the policy can be found and how to decide
    assert not gap.how_to_collect.startswith("kmsdiag explain")
    assert gap.how_to_collect.startswith("# no command can collect it")
    assert ISSUER in gap.how_to_collect and "kmsdiag simulate" in gap.how_to_collect
    assert "\n" not in gap.how_to_collect


def test_the_plan_of_an_unreadable_session_policy_runs_nothing() -> None:
    found = session_from_record("sts-1", T0, "AssumeRole", ISSUER, _sts("{oops\nrm -rf /"))
    assert found.gap is not None
    g = found.gap
    entry = gap_entry(g.what, g.account, g.resource, g.reason, region="eu-west-1", how=g.how_to_collect)
    lines = plan_lines(collect_plan([entry]))
    assert lines == [g.how_to_collect]  # the gap's own word, once, and no load command: nothing was collected
    done = subprocess.run(["bash", "-n", "-c", "\n".join(lines)], capture_output=True, text=True, check=False)
    assert done.returncode == 0
