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


def test_unknown_when_only_the_unreadable_policy_is_missing_says_no_command_collects_it() -> None:
    from diag.policy.model import Decision, Layer, LayerResult
    from diag.rules import run_rules
    from tests.diagnosis.builders import IDENTITY_OK, KEY_ROOT_OWN, case, inforce, layer, result

    found = session_from_record("sts-1", T0, "AssumeRole", ISSUER, _sts("{oops"))
    assert found.gap is not None
    res = result(
        layer(Layer.KEY_POLICY, LayerResult.ALLOWED, KEY_ROOT_OWN),
        layer(Layer.IDENTITY, LayerResult.ALLOWED, IDENTITY_OK),
        layer(Layer.SESSION_POLICY, LayerResult.UNKNOWN),
        decision=Decision.ALLOWED,
    )
    findings = run_rules(case(res, inforce=inforce(gaps=(found.gap,))))
    assert [f.code for f in findings] == ["UNKNOWN"]
    fix = findings[0].fix
    assert fix is not None and "no command can collect" in fix.summary
    assert list(fix.commands) == [found.gap.how_to_collect]  # no `kmsdiag explain`, no load of an empty bundle
    assert "session_policy of account 222222222222 not known, and no command can collect it" in findings[0].summary


def test_explain_of_story_20_with_its_session_policy_cut_in_half(tmp_path, run_cli) -> None:  # type: ignore[no-untyped-def]
    """The session-policy story, its AssumeRole record's policy cut short as a log pipeline might: the layer is
    Unknown, the gap says why and what can be done, and nothing tells the user to explain the STS event."""
    import gzip
    from pathlib import Path

    story = Path(__file__).resolve().parent.parent.parent / "sample_trails" / "20-session-policy"
    cut = 0
    for f in (story / "trails").rglob("*.json.gz"):
        if "CloudTrail-Digest" in f.parts:
            continue
        doc = json.loads(gzip.decompress(f.read_bytes()))
        for r in doc.get("Records", []):
            params = r.get("requestParameters") or {}
            if r.get("eventName") == "AssumeRole" and params.get("policy"):
                params["policy"] = params["policy"][: len(params["policy"]) // 2]
                cut += 1
        dst = tmp_path / "trails" / f.relative_to(story / "trails")
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(gzip.compress(json.dumps(doc).encode()))
    assert cut == 1
    db = tmp_path / "t.duckdb"
    for args in (("ingest", tmp_path / "trails"), ("collect", "--from-dir", story / "bundle")):
        code, _, err = run_cli("--db", db, "-q", *args)
        assert code == 0, err
    event_id = next(iter(json.loads((story / "expected.json").read_text())))
    code, out, err = run_cli("--db", db, "--json", "explain", event_id)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["verdict"] == "UNKNOWN" and doc["decision"] == "Unknown"
    gap = next(g for g in doc["gaps"] if g["what"] == "session_policy")
    assert "not a policy document" in gap["reason"] and "stays Unknown" in gap["reason"]
    assert gap["collect"] == [gap["collect"][0]] and gap["collect"][0].startswith("# no command can collect it")
    assert "kmsdiag explain" not in out  # the old gap sent the user to explain the STS event
    assert "run the commands shown" not in out and "no command can collect it: see the gaps" in out  # the proof
    code, text, err = run_cli("--db", db, "explain", event_id)
    assert code == 0, err
    assert "no command can collect what is missing" in text and "kmsdiag explain " not in text


def test_managed_session_policies_are_named_and_not_collectable() -> None:
    """kmsdiag does not evaluate managed session policies (``policyArns``): the gap names them and says that
    no command fills the layer for kmsdiag (it used to print `aws iam get-policy`, which writes no bundle file)."""
    arns = ["arn:aws:iam::222222222222:policy/SessionLimit", "arn:aws:iam::aws:policy/ReadOnlyAccess"]
    record = json.dumps(
        {
            "eventName": "AssumeRole",
            "requestParameters": {"roleArn": ROLE, "roleSessionName": "s1", "policyArns": [{"arn": a} for a in arns]},
        }
    )
    found = session_from_record("sts-2", T0, "AssumeRole", ISSUER, record)
    assert not found.known and found.gap is not None
    assert all(a in found.gap.reason for a in arns) and "stays Unknown" in found.gap.reason
    assert found.gap.how_to_collect.startswith("# no command can collect it")
    g = found.gap
    entry = gap_entry(g.what, g.account, g.resource, g.reason, region="eu-west-1", how=g.how_to_collect)
    assert plan_lines(collect_plan([entry])) == [g.how_to_collect]
