"""The explain pipeline and `diagnose` with a canned policy source and engine: what goes to the engine,
re-evaluation now (RESOLVED_SINCE) and before a PutKeyPolicy (OVERWRITTEN), decision-key dedup."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from diag.collect.model import PolicyChange
from diag.diagnosis.batch import diagnose_pending
from diag.diagnosis.find import find_event
from diag.explain import diagnose_facts
from diag.policy.model import Decision, Layer, LayerResult
from diag.store import open_db

from .builders import (
    IDENTITY_OK,
    KEY_ADMIN,
    KEY_ARN,
    KEY_ID,
    ROLE,
    SESSION,
    T0,
    facts,
    inforce,
    key_info,
    layer,
    result,
    stmt,
)
from .dbutil import decrypt_record, insert_record
from .fakes import FakeEngine, FakeSource

DENIED = result(
    layer(Layer.KEY_POLICY, LayerResult.IMPLICITLY_DENIED, KEY_ADMIN),
    layer(Layer.IDENTITY, LayerResult.ALLOWED, IDENTITY_OK),
)
ALLOWED = result(layer(Layer.KEY_POLICY, LayerResult.ALLOWED), layer(Layer.IDENTITY, LayerResult.ALLOWED, IDENTITY_OK))


def test_request_and_inputs_sent_to_the_engine() -> None:
    engine = FakeEngine(DENIED)
    inf = inforce()
    d = diagnose_facts(facts(), FakeSource(inf), evaluate=engine)
    assert d.verdict == "KEY_POLICY_NO_PRINCIPAL"
    req, inputs = engine.requests[0]
    assert req.resource == KEY_ARN and req.action == "kms:Decrypt" and req.resource_account == "111111111111"
    assert req.principal == SESSION
    assert inputs.resource_policy is inf.key_policy and inputs.resource_policy_layer == Layer.KEY_POLICY
    assert d.to_dict()["layers"][0]["layer"] == "key_policy"
    assert d.policies_as_of == T0


def test_missing_key_policy_is_a_gap_not_an_empty_policy() -> None:
    engine = FakeEngine(DENIED)
    diagnose_facts(facts(), FakeSource(inforce(key_policy=None)), evaluate=engine)
    assert engine.requests[0][1].resource_policy_known is False


def test_resolved_since_from_the_latest_policies() -> None:
    d = diagnose_facts(facts(), FakeSource(inforce(), now=inforce(at=None)), evaluate=FakeEngine(DENIED, ALLOWED))
    # the policies now allow: RESOLVED_SINCE is the verdict, the cause at the time stays in the findings
    assert d.verdict == "RESOLVED_SINCE" and d.codes == ["RESOLVED_SINCE", "KEY_POLICY_NO_PRINCIPAL"]


def test_overwritten_evaluates_the_policy_before_the_change() -> None:
    change = PolicyChange(
        event_id="p",
        event_time=T0 - dt.timedelta(hours=3),
        event_name="PutKeyPolicy",
        account="111111111111",
        resource_arn=KEY_ARN,
        actor_arn="arn:aws:sts::111111111111:assumed-role/cfn/x",
        invoked_by="cloudformation.amazonaws.com",
    )
    before = result(
        layer(Layer.KEY_POLICY, LayerResult.ALLOWED, stmt(Layer.KEY_POLICY, 2, sid="App", principal_values=(ROLE,)))
    )
    src = FakeSource(inforce(), put_key_policy=[change])
    d = diagnose_facts(facts(), src, evaluate=FakeEngine(DENIED, before))  # "now" is the same InForce: not re-evaluated
    assert d.verdict == "KEY_POLICY_OVERWRITTEN"
    assert ("in_force", change.event_time - dt.timedelta(milliseconds=1)) in src.calls


def test_key_id_resolved_then_wrong_region_when_only_elsewhere() -> None:
    west = key_info(region="us-west-2", key_arn=KEY_ARN.replace("us-east-1", "us-west-2"))
    f = facts(
        key_arn=None,
        key_id_given=KEY_ID,
        key_account="111111111111",
        region="us-east-1",
        error_code="NotFoundException",
    )
    d = diagnose_facts(f, FakeSource(inforce(key=None)), evaluate=FakeEngine(ALLOWED))
    assert d.verdict == "KEY_NOT_FOUND"
    d = diagnose_facts(f, FakeSource(inforce(key=None), elsewhere=[west]), evaluate=FakeEngine(ALLOWED))
    assert d.verdict == "WRONG_REGION" and d.findings[0].evidence["key_regions"] == ["us-west-2"]
    east = key_info(aliases=("alias/data",))
    f2 = dataclasses.replace(f, key_id_given="alias/data", error_code="AccessDenied")
    d = diagnose_facts(f2, FakeSource(inforce(), keys=[east]), evaluate=FakeEngine(DENIED))
    assert d.facts.key_arn == KEY_ARN and d.verdict == "KEY_POLICY_NO_PRINCIPAL"


def test_diagnose_evaluates_each_decision_key_once(db_path: Path) -> None:
    con = open_db(db_path)
    for i in range(5):  # five sessions of the same role, same key: one decision key
        insert_record(con, decrypt_record(f"a{i}", session=f"s{i}", when=f"2026-11-28T10:0{i}:00Z"))
    insert_record(con, decrypt_record("b0", role="OtherRole"))
    insert_record(con, decrypt_record("ok", error=False))
    engine = FakeEngine(DENIED)
    ticks: list[tuple[int, int]] = []
    unknown = FakeEngine(result(layer(Layer.KEY_POLICY, LayerResult.UNKNOWN), decision=Decision.ALLOWED))
    summary = diagnose_pending(
        con, source=FakeSource(inforce()), evaluate=unknown, progress=lambda d, t: ticks.append((d, t))
    )
    assert summary["failures"] == 6 and summary["decision_keys"] == 2 and ticks[-1] == (2, 2)
    assert summary["by_verdict"] == {"UNKNOWN": 6}
    again = diagnose_pending(con, source=FakeSource(inforce()), evaluate=engine)
    assert again["failures"] == 0 and not engine.requests
    redo = diagnose_pending(con, redo=True, source=FakeSource(inforce()), evaluate=engine)
    assert redo["by_verdict"] == {"KEY_POLICY_NO_PRINCIPAL": 6}
    base = engine.requests[0][1]
    # one per decision key ("now" is the same InForce here: not re-evaluated); the other evaluations are the
    # fix proofs (diag.proof), on a copy of the inputs with the fix applied: one per decision key too
    assert len([i for _, i in engine.requests if i == base]) == 2
    assert len(engine.requests) == 4
    rows = con.execute("SELECT event_id, verdict, codes FROM diagnoses_latest ORDER BY event_id").fetchall()
    assert [r[0] for r in rows] == ["a0", "a1", "a2", "a3", "a4", "b0"]
    assert {r[1] for r in rows} == {"KEY_POLICY_NO_PRINCIPAL"}
    assert rows[0][2] == ["KEY_POLICY_NO_PRINCIPAL"]
    assert con.execute("SELECT count(*) FROM diagnoses").fetchone()[0] == 12
    assert find_event(con, "a3").session_name == "s3"
    con.close()


def test_key_owner_copy_shares_the_callers_diagnosis(db_path: Path) -> None:
    con = open_db(db_path)
    caller = decrypt_record("c1", shared="sh-1")
    owner = decrypt_record("o1", shared="sh-1")
    owner["userIdentity"] = {"type": "AWSAccount", "principalId": "AROAEXAMPLE:etl", "accountId": "222222222222"}
    owner["recipientAccountId"] = "111111111111"
    insert_record(con, caller)
    insert_record(con, owner)
    summary = diagnose_pending(con, source=FakeSource(inforce()), evaluate=FakeEngine(DENIED))
    assert summary["failures"] == 1 and summary["decision_keys"] == 1 and summary["diagnosed"] == 2
    rows = dict(con.execute("SELECT event_id, verdict FROM diagnoses_latest").fetchall())
    assert rows == {"c1": "KEY_POLICY_NO_PRINCIPAL", "o1": "KEY_POLICY_NO_PRINCIPAL"}
    assert diagnose_pending(con, source=FakeSource(inforce()), evaluate=FakeEngine(DENIED))["diagnosed"] == 0
    con.close()
