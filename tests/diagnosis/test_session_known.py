"""The session policy is known (none possible, or the STS record found) or unknown (that record not ingested):
diag.diagnosis.session, DbPolicySource.session_lookup, and what the explain pipeline makes of each."""

from __future__ import annotations

import datetime as dt
import json
import shlex
from pathlib import Path

import pytest

from diag.diagnosis.session import (
    SessionLookup,
    may_have_session_policy,
    session_from_record,
    session_not_found,
)
from diag.policy.engine import evaluate
from diag.policy.model import Decision, Layer, LayerResult, NamedPolicy, PolicyInputs, Request
from tests.diagnosis.builders import facts

T0 = dt.datetime(2026, 11, 28, 12, 0, 0)
ROLE = "arn:aws:iam::222222222222:role/App"
SESSION = "arn:aws:sts::222222222222:assumed-role/App/s1"
KEY = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ALLOW_DECRYPT = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]}


def _sts(policy: object = None, policy_arns: list[str] | None = None) -> str:
    params: dict[str, object] = {"roleArn": ROLE, "roleSessionName": "s1"}
    if policy is not None:
        params["policy"] = policy
    if policy_arns:
        params["policyArns"] = [{"arn": a} for a in policy_arns]
    return json.dumps({"eventName": "AssumeRole", "requestParameters": params})


def test_who_can_have_a_session_policy() -> None:
    assert may_have_session_policy(facts(caller_arn=SESSION, caller_type="AssumedRole"))
    assert may_have_session_policy(facts(caller_arn="arn:aws:sts::222222222222:federated-user/bob", caller_type=None))
    assert not may_have_session_policy(facts(caller_arn="arn:aws:iam::222222222222:user/ci", caller_type="IAMUser"))
    assert not may_have_session_policy(facts(caller_arn=None, caller_type="AWSService"))


def test_found_with_an_inline_policy_none_or_managed_ones() -> None:
    found = session_from_record("e1", T0, "AssumeRole", ROLE, _sts(json.dumps(ALLOW_DECRYPT)))
    assert found.known and found.policy is not None and found.policy.document == ALLOW_DECRYPT
    assert found.event is not None and found.event["event_id"] == "e1" and found.gap is None
    none = session_from_record("e2", T0, "AssumeRole", ROLE, _sts())
    assert none.known and none.policy is None and none.event is not None  # found: no session policy passed
    managed = session_from_record("e3", T0, "AssumeRole", ROLE, _sts(policy_arns=["arn:aws:iam::aws:policy/X Y"]))
    assert not managed.known and managed.gap is not None and managed.gap.what == "session_policy"
    assert "arn:aws:iam::aws:policy/X Y" in managed.gap.reason  # named; kmsdiag does not evaluate it:
    assert managed.gap.how_to_collect.startswith("# no command can collect it")  # nothing to run, said so
    broken = session_from_record("e4", T0, "AssumeRole", ROLE, _sts("{not json"))
    assert not broken.known and broken.gap is not None


def test_not_found_is_unknown_and_says_what_to_ingest() -> None:
    f = facts(
        caller_arn=SESSION,
        caller_type="AssumedRole",
        caller_account="222222222222",
        access_key_id="ASIAEXAMPLE123",
        region="eu-west-1",
        event_time=T0,
        raw={"userIdentity": {"sessionContext": {"attributes": {"creationDate": "2026-11-28T11:00:00Z"}}}},
    )
    lookup = session_not_found(f)
    assert not lookup.known and lookup.policy is None and lookup.gap is not None
    assert "ASIAEXAMPLE123" in lookup.gap.reason and "not ingested" in lookup.gap.reason
    argv = shlex.split(lookup.gap.how_to_collect)
    assert argv[:3] == ["kmsdiag", "ingest", "--lookup"]
    assert argv[argv.index("--account") + 1] == "222222222222"
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--region"] == ["us-east-1", "eu-west-1"]
    # the minutes around the session's creation, from the record's sessionContext
    assert argv[argv.index("--since") + 1] == "2026-11-28T10:55:00Z"
    assert argv[argv.index("--until") + 1] == "2026-11-28T11:05:00Z"


def _request() -> Request:
    return Request(principal=SESSION, action="kms:Decrypt", resource=KEY, resource_account="111111111111", context={})


def _inputs(
    key_policy: dict[str, object], *, session_known: bool, session: dict[str, object] | None = None
) -> PolicyInputs:
    return PolicyInputs(
        identity_policies=(NamedPolicy(document=ALLOW_DECRYPT, name="inline", kind="inline"),),
        resource_policy=NamedPolicy(document=key_policy, name="default", kind="key"),
        scps=(),
        rcps=(),
        grants=(),
        session_policy=NamedPolicy(document=session, name="session policy", kind="session") if session else None,
        session_policy_known=session_known,
    )


KEY_ALLOWS = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "kms:*", "Resource": "*"}
    ],
}
KEY_NAMES_NOBODY = {"Version": "2012-10-17", "Statement": []}


def test_unknown_session_policy_turns_an_allow_into_unknown_never_a_deny() -> None:
    from diag.diagnosis.honesty import proven_decision

    allowed = evaluate(_request(), _inputs(KEY_ALLOWS, session_known=True))
    assert proven_decision(allowed) == "Allowed"
    assert next(t for t in allowed.layers if t.layer == Layer.SESSION_POLICY).result == LayerResult.NOT_APPLICABLE
    unknown = evaluate(_request(), _inputs(KEY_ALLOWS, session_known=False))
    assert next(t for t in unknown.layers if t.layer == Layer.SESSION_POLICY).result == LayerResult.UNKNOWN
    assert proven_decision(unknown) == "Unknown"  # a session policy not seen could restrict it
    denied = evaluate(_request(), _inputs(KEY_NAMES_NOBODY, session_known=False))
    assert denied.decision == Decision.IMPLICITLY_DENIED  # the key policy refused, whatever the session policy
    assert proven_decision(denied) == "ImplicitlyDenied"
    narrowed = evaluate(
        _request(),
        _inputs(KEY_ALLOWS, session_known=True, session={"Version": "2012-10-17", "Statement": []}),
    )
    assert narrowed.decision == Decision.IMPLICITLY_DENIED  # a session policy found decides like any layer


class _Source:
    """A policy source whose session lookup says "unknown" (the STS record was not ingested)."""

    def __init__(self, lookup: SessionLookup) -> None:
        self.lookup = lookup

    def session_lookup(self, facts: object, at: object) -> SessionLookup:
        return self.lookup


def test_pipeline_takes_the_lookup_over_the_old_interface() -> None:
    from diag.explain import _Pipeline

    lookup = SessionLookup(known=False)
    assert _Pipeline(_Source(lookup), None).session(facts(), T0) is lookup  # type: ignore[arg-type]


@pytest.fixture
def sts_db(tmp_path: Path) -> Path:
    """A database with one AssumeRole that passed a session policy, one that passed none."""
    import duckdb

    from diag.store import open_db

    db = tmp_path / "s.duckdb"
    open_db(db).close()
    con = duckdb.connect(str(db))
    for n, (key, policy) in enumerate((("ASIAWITHPOLICY", json.dumps(ALLOW_DECRYPT)), ("ASIANOPOLICY", None))):
        raw = {
            "eventName": "AssumeRole",
            "requestParameters": {"roleArn": ROLE, **({"policy": policy} if policy else {})},
            "responseElements": {"credentials": {"accessKeyId": key}},
        }
        con.execute(
            "INSERT INTO events (event_id, event_time, event_source, event_name, caller_arn, raw, ingested_at)"
            " VALUES (?, ?, 'sts.amazonaws.com', 'AssumeRole', ?, ?, ?)",
            [f"sts-{n}", T0 - dt.timedelta(hours=1), "arn:aws:iam::222222222222:user/ci", json.dumps(raw), T0],
        )
    con.close()
    return db


@pytest.mark.parametrize(
    ("key", "known", "has_policy"),
    [("ASIAWITHPOLICY", True, True), ("ASIANOPOLICY", True, False), ("ASIANOTINGESTED", False, False)],
)
def test_db_source_tells_found_none_and_not_ingested_apart(
    sts_db: Path, key: str, known: bool, has_policy: bool
) -> None:
    import duckdb

    from diag.diagnosis.sources import DbPolicySource

    con = duckdb.connect(str(sts_db), read_only=True)
    try:
        f = facts(caller_arn=SESSION, caller_type="AssumedRole", access_key_id=key, caller_account="222222222222")
        lookup = DbPolicySource(con).session_lookup(f, T0)
        assert lookup.known is known and (lookup.policy is not None) is has_policy
        assert (lookup.gap is None) is known
        # the old interface still answers "the policy, or None"
        old = DbPolicySource(con).session_policy(key, T0)
        assert (old is not None) is has_policy
        user = facts(caller_arn="arn:aws:iam::222222222222:user/ci", caller_type="IAMUser", access_key_id="AKIAX")
        assert DbPolicySource(con).session_lookup(user, T0).known  # a user's long-term key: no session policy
    finally:
        con.close()


def test_diagnose_keeps_apart_sessions_whose_sts_record_was_found_or_not(tmp_path: Path) -> None:
    """Same role, key, action and error: a session whose STS record was ingested and one whose was not have
    different session-policy layers (known none / Unknown), so `kmsdiag diagnose` must not share one answer."""
    import duckdb

    from diag.diagnosis.batch import select_failures
    from diag.store import open_db
    from tests.report.factory import insert_event

    db = tmp_path / "k.duckdb"
    open_db(db).close()
    con = duckdb.connect(str(db))
    try:
        for n, key in enumerate(("ASIAFOUND", "ASIAMISSING", "ASIAMISSING2")):
            raw = {"eventID": f"f-{n}", "userIdentity": {"type": "AssumedRole", "accessKeyId": key}}
            insert_event(
                con,
                event_id=f"f-{n}",
                event_time=T0 + dt.timedelta(minutes=n),
                role=ROLE,
                session=f"s{n}",
                key_arn=KEY,
                error_code="AccessDeniedException",
                raw=json.dumps(raw),
            )
        sts = {
            "responseElements": {"credentials": {"accessKeyId": "ASIAFOUND"}},
            "requestParameters": {"roleArn": ROLE},
        }
        insert_event(
            con,
            event_id="sts-1",
            event_time=T0 - dt.timedelta(hours=1),
            event_source="sts.amazonaws.com",
            event_name="AssumeRole",
            caller_arn="arn:aws:iam::222222222222:user/ci",
            raw=json.dumps(sts),
        )
        assert select_failures(con, redo=True) == 3
        keys = dict(con.execute("SELECT event_id, decision_key FROM _dx_fail").fetchall())
    finally:
        con.close()
    assert keys["f-0"] != keys["f-1"]  # found (no session policy) vs not ingested (unknown)
    assert keys["f-1"] == keys["f-2"]  # both unknown: one answer for both
