"""Condition keys kmsdiag could not determine: neither absent nor present, the decision says so."""

from __future__ import annotations

from typing import Any

from diag.policy.conditions import evaluate_condition, normalize_context
from diag.policy.context import UNDETERMINED, UNDETERMINED_ALLOW, is_undetermined
from diag.policy.engine import evaluate as engine_evaluate
from diag.policy.model import Decision, PolicyInputs, Request
from diag.policy.parse import parse_policy
from diag.policy.undetermined import evaluate

from .helpers import CALLER_ACCOUNT, KEY_ACCOUNT, KEY_ARN, SESSION_ARN, key_policy, named, policy, stmt

ROLE = f"arn:aws:iam::{CALLER_ACCOUNT}:role/DataProcessingRole"
TAG_COND = {"StringEquals": {"aws:PrincipalTag/team": "data"}}


def _cond(condition: dict[str, Any]) -> Any:
    st = parse_policy(policy(stmt(Condition=condition))).statements[0]
    return st.conditions[0]


def _request(**ctx: Any) -> Request:
    base: dict[str, Any] = {"aws:PrincipalArn": ROLE, "aws:PrincipalAccount": CALLER_ACCOUNT}
    base.update(ctx)
    return Request(SESSION_ARN, "kms:Decrypt", KEY_ARN, KEY_ACCOUNT, base)


def _inputs(*statements: dict[str, Any]) -> PolicyInputs:
    return PolicyInputs(
        identity_policies=(named(policy(stmt(resource=KEY_ARN))),),
        resource_policy=key_policy(*statements),
    )


def _allow_tagged(**extra: Any) -> dict[str, Any]:
    return stmt(Principal={"AWS": f"arn:aws:iam::{CALLER_ACCOUNT}:root"}, Condition=TAG_COND, **extra)


def test_marker_is_recognized_only_as_the_marker() -> None:
    assert is_undetermined(UNDETERMINED) and is_undetermined([UNDETERMINED_ALLOW])
    assert (
        not is_undetermined("undetermined") and not is_undetermined(["a", UNDETERMINED]) and not is_undetermined(None)
    )


def test_condition_on_undetermined_key_is_flagged_and_follows_the_mode() -> None:
    cond = _cond(TAG_COND)
    against = evaluate_condition(cond, normalize_context({"aws:PrincipalTag/team": UNDETERMINED}), "Allow")
    favour = evaluate_condition(cond, normalize_context({"aws:PrincipalTag/team": UNDETERMINED_ALLOW}), "Allow")
    deny_against = evaluate_condition(cond, normalize_context({"aws:PrincipalTag/team": UNDETERMINED}), "Deny")
    assert against.undetermined and not against.matched and against.request_values is None
    assert favour.undetermined and favour.matched
    assert deny_against.undetermined and deny_against.matched  # a Deny is assumed to apply against the request


def test_null_and_ifexists_and_negated_operators_are_undetermined_too() -> None:
    ctx = normalize_context({"aws:PrincipalOrgID": UNDETERMINED})
    for condition in (
        {"Null": {"aws:PrincipalOrgID": "true"}},
        {"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-1"}},
        {"StringNotEquals": {"aws:PrincipalOrgID": "o-1"}},
        {"ForAllValues:StringEquals": {"aws:PrincipalOrgID": ["o-1"]}},
    ):
        trace = evaluate_condition(_cond(condition), ctx, "Allow")
        assert trace.undetermined and not trace.matched, condition


def test_policy_variable_naming_an_undetermined_key_is_undetermined() -> None:
    cond = _cond({"StringEquals": {"kms:EncryptionContext:team": "${aws:PrincipalTag/team}"}})
    ctx = normalize_context({"kms:EncryptionContext:team": "data", "aws:PrincipalTag/team": UNDETERMINED})
    assert evaluate_condition(cond, ctx, "Allow").undetermined


def test_known_absent_key_is_not_undetermined() -> None:
    trace = evaluate_condition(_cond(TAG_COND), normalize_context({}), "Allow")
    assert not trace.undetermined and not trace.matched and trace.reason == "key absent from the request"


def test_decision_depending_on_an_undetermined_key_is_undetermined() -> None:
    result = evaluate(_request(**{"aws:PrincipalTag/team": UNDETERMINED}), _inputs(_allow_tagged()))
    assert result.decision == Decision.IMPLICITLY_DENIED
    assert result.undetermined == ("aws:PrincipalTag/team",)
    # the same request with the tag known absent is a plain denial, with the tag known present an allow
    assert evaluate(_request(), _inputs(_allow_tagged())).undetermined == ()
    allowed = evaluate(_request(**{"aws:PrincipalTag/team": "data"}), _inputs(_allow_tagged()))
    assert allowed.decision == Decision.ALLOWED and allowed.undetermined == ()


def test_undetermined_key_that_cannot_change_the_decision_is_not_reported() -> None:
    # another statement allows anyway: the tag condition does not matter
    plain = stmt(Principal={"AWS": f"arn:aws:iam::{CALLER_ACCOUNT}:root"})
    result = evaluate(_request(**{"aws:PrincipalTag/team": UNDETERMINED}), _inputs(_allow_tagged(), plain))
    assert result.decision == Decision.ALLOWED and result.undetermined == ()


def test_undetermined_deny_condition_makes_an_allow_undetermined() -> None:
    plain = stmt(Principal={"AWS": f"arn:aws:iam::{CALLER_ACCOUNT}:root"})
    deny = stmt(
        "Deny",
        Principal="*",
        Condition={"StringNotEquals": {"aws:PrincipalOrgID": "o-abc123"}},
    )
    result = evaluate(_request(**{"aws:PrincipalOrgID": UNDETERMINED}), _inputs(plain, deny))
    assert result.decision == Decision.EXPLICITLY_DENIED
    assert result.undetermined == ("aws:PrincipalOrgID",)
    known = evaluate(_request(**{"aws:PrincipalOrgID": "o-abc123"}), _inputs(plain, deny))
    assert known.decision == Decision.ALLOWED


def test_without_markers_the_wrapper_is_the_engine() -> None:
    req, inputs = _request(), _inputs(_allow_tagged())
    assert evaluate(req, inputs) == engine_evaluate(req, inputs)
