"""Hypothesis properties of the engine: monotone in Allows, Deny wins, deterministic, statement-order free."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diag.policy import engine
from diag.policy.model import Decision, Layer, NamedPolicy, OrgLevel, PolicyInputs, Request

A, B = "111111111111", "222222222222"
KEY = f"arn:aws:kms:us-east-1:{A}:key/k1"
OBJ = "arn:aws:s3:::bucket/obj"
CALLERS = [
    f"arn:aws:iam::{A}:user/alice",
    f"arn:aws:sts::{A}:assumed-role/App/s1",
    f"arn:aws:sts::{B}:assumed-role/DataProcessingRole/etl",
    f"arn:aws:iam::{B}:user/bob",
]
PRINCIPALS = [
    "*",
    {"AWS": "*"},
    {"AWS": f"arn:aws:iam::{A}:root"},
    {"AWS": B},
    {"AWS": f"arn:aws:iam::{A}:role/App"},
    {"AWS": f"arn:aws:iam::{B}:role/DataProcessingRole"},
    {"AWS": f"arn:aws:sts::{A}:assumed-role/App/s1"},
    {"AWS": [f"arn:aws:iam::{A}:user/alice", f"arn:aws:iam::{B}:user/bob"]},
]
CONDITIONS = [
    None,
    {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
    {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": "o-1"}},
    {"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["a", "b"]}},
    {"ForAnyValue:StringLike": {"kms:EncryptionContextKeys": ["a*"]}},
    {"Null": {"kms:ViaService": "true"}},
    {"Bool": {"aws:SecureTransport": "true"}},
]
ACTIONS = ["*", "kms:*", "kms:Decrypt", "kms:Enc*", "s3:GetObject", "s3:*"]
RESOURCES = ["*", KEY, OBJ, "arn:aws:s3:::bucket/*", f"arn:aws:kms:us-west-2:{A}:key/k1"]


@st.composite
def statements(draw: st.DrawFn, with_principal: bool) -> dict[str, Any]:
    s: dict[str, Any] = {"Effect": draw(st.sampled_from(["Allow", "Deny"]))}
    s["NotAction" if draw(st.integers(0, 5)) == 0 else "Action"] = draw(st.sampled_from(ACTIONS))
    s["NotResource" if draw(st.integers(0, 5)) == 0 else "Resource"] = draw(st.sampled_from(RESOURCES))
    if with_principal:
        s["Principal"] = draw(st.sampled_from(PRINCIPALS))
    cond = draw(st.sampled_from(CONDITIONS))
    if cond:
        s["Condition"] = cond
    return s


def pol(stmts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": stmts}


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    kms = draw(st.booleans())
    ctx: dict[str, Any] = {}
    if draw(st.booleans()):
        ctx["kms:ViaService"] = "s3.us-east-1.amazonaws.com"
    if draw(st.booleans()):
        ctx["kms:EncryptionContextKeys"] = draw(st.lists(st.sampled_from(["a", "b", "c"]), max_size=3))
    ctx["aws:SecureTransport"] = draw(st.sampled_from(["true", "false"]))
    return {
        "principal": draw(st.sampled_from(CALLERS)),
        "action": "kms:Decrypt" if kms else "s3:GetObject",
        "resource": KEY if kms else OBJ,
        "context": ctx,
        "identity": draw(st.lists(st.lists(statements(False), max_size=3), max_size=2)),
        "resource_policy": draw(st.none() | st.lists(statements(True), max_size=4)),
        "scps": draw(st.lists(st.lists(statements(False), min_size=1, max_size=2), max_size=2)),
        "rcps": draw(st.lists(st.lists(statements(True), min_size=1, max_size=2), max_size=1)),
        "boundary": draw(st.none() | st.lists(statements(False), max_size=2)),
        "session": draw(st.none() | st.lists(statements(False), max_size=2)),
    }


def build(sc: dict[str, Any]) -> tuple[Request, PolicyInputs]:
    kms = sc["action"].startswith("kms:")
    req = Request(sc["principal"], sc["action"], sc["resource"], A, sc["context"])
    inputs = PolicyInputs(
        identity_policies=tuple(NamedPolicy(pol(p), f"id{i}") for i, p in enumerate(sc["identity"])),
        resource_policy=None if sc["resource_policy"] is None else NamedPolicy(pol(sc["resource_policy"]), "rp"),
        resource_policy_layer=Layer.KEY_POLICY if kms else Layer.BUCKET_POLICY,
        scps=tuple(OrgLevel(f"ou-{i}", (NamedPolicy(pol(p), f"scp{i}"),)) for i, p in enumerate(sc["scps"])),
        rcps=tuple(OrgLevel(f"r-{i}", (NamedPolicy(pol(p), f"rcp{i}"),)) for i, p in enumerate(sc["rcps"])),
        permission_boundary=None if sc["boundary"] is None else NamedPolicy(pol(sc["boundary"]), "pb"),
        session_policy=None if sc["session"] is None else NamedPolicy(pol(sc["session"]), "sp"),
    )
    return req, inputs


def decide(sc: dict[str, Any]) -> Decision:
    return engine.evaluate(*build(sc)).decision


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TARGETS = ["identity", "resource_policy", "scps", "rcps", "boundary", "session"]


def add(sc: dict[str, Any], target: str, statement: dict[str, Any], index: int) -> dict[str, Any]:
    new = {**sc}
    if target == "identity":
        new["identity"] = [*sc["identity"], [statement]]
    elif target in ("scps", "rcps"):
        levels = [list(lv) for lv in sc[target]]
        if levels:
            levels[index % len(levels)].append(statement)
        new[target] = levels
    else:
        new[target] = [*(sc[target] or []), statement]
    return new


@SETTINGS
@given(scenarios(), st.sampled_from(TARGETS), statements(True), st.integers(0, 5))
def test_adding_an_allow_never_removes_access(
    sc: dict[str, Any], target: str, extra: dict[str, Any], index: int
) -> None:
    """Adding an Allow statement to a policy that is in force never removes access.

    Not "adding a policy": a permissions boundary or session policy that did not exist, created with one
    statement, restricts the caller to that statement (AWS intersects them), so it rightly can deny."""
    if decide(sc) != Decision.ALLOWED or (target in ("boundary", "session") and sc[target] is None):
        return
    allow = {**extra, "Effect": "Allow"}
    if target not in ("resource_policy", "rcps"):
        allow.pop("Principal", None)
    assert decide(add(sc, target, allow, index)) == Decision.ALLOWED


@SETTINGS
@given(scenarios(), st.sampled_from(TARGETS), st.integers(0, 5))
def test_a_matching_deny_always_denies(sc: dict[str, Any], target: str, index: int) -> None:
    deny: dict[str, Any] = {"Effect": "Deny", "Action": "*", "Resource": "*"}
    if target in ("resource_policy", "rcps"):
        deny["Principal"] = "*"
    sc = {**sc, target: [[deny]]} if target in ("scps", "rcps") and not sc[target] else add(sc, target, deny, index)
    assert decide(sc) == Decision.EXPLICITLY_DENIED


@SETTINGS
@given(scenarios(), st.randoms(use_true_random=False))
def test_deterministic_and_order_independent(sc: dict[str, Any], rnd: random.Random) -> None:
    first = engine.evaluate(*build(sc))
    engine.clear_cache()
    again = engine.evaluate(*build(sc))
    assert again.to_dict() == first.to_dict()

    shuffled = {**sc}
    for k in ("resource_policy", "boundary", "session"):
        if sc[k] is not None:
            shuffled[k] = rnd.sample(sc[k], len(sc[k]))
    shuffled["identity"] = rnd.sample([rnd.sample(p, len(p)) for p in sc["identity"]], len(sc["identity"]))
    shuffled["scps"] = [rnd.sample(lv, len(lv)) for lv in sc["scps"]]
    shuffled["rcps"] = [rnd.sample(lv, len(lv)) for lv in sc["rcps"]]
    out = engine.evaluate(*build(shuffled))
    assert out.decision == first.decision
    assert set(out.deciding_layers) == set(first.deciding_layers)


def _without_trace(result: Any) -> dict[str, Any]:
    """Everything of a result but the non-applying statements' traces."""
    d = result.to_dict()
    for layer in d["layers"]:
        layer["statements"] = [s for s in layer["statements"] if s["applies"]]
    return d


@SETTINGS
@given(scenarios())
def test_decide_without_trace_agrees_with_the_full_trace(sc: dict[str, Any]) -> None:
    """``decide`` (no statement trace, the fast path of `simulate --fields`) gives the same decision,
    reason, deciding layers and gaps as ``evaluate``, and the same traces of the applying statements."""
    request, inputs = build(sc)
    full = engine.evaluate(request, inputs)
    fast = engine.decide(request, inputs)
    assert (fast.decision, fast.reason, fast.deciding_layers, fast.unknown, fast.cross_account) == (
        full.decision,
        full.reason,
        full.deciding_layers,
        full.unknown,
        full.cross_account,
    )
    assert _without_trace(fast) == _without_trace(full)


@SETTINGS
@given(scenarios())
def test_an_engine_of_its_own_gives_the_same_answer(sc: dict[str, Any]) -> None:
    """Caches belong to an engine: a fresh ``Engine`` (empty caches) answers exactly like the shared one."""
    request, inputs = build(sc)
    own = engine.Engine()
    assert own.evaluate(request, inputs).to_dict() == engine.evaluate(request, inputs).to_dict()
    assert len(own.cache.decisions) == 1
