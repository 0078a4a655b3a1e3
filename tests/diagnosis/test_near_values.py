"""Near misses inside condition values (diag.rules._near_values): a typo is corrected, not widened."""

from __future__ import annotations

from diag.policy.model import ConditionTrace
from diag.rules._near_values import corrected_statement, near_value

ACCT = "111122223333"
SSO_ROLE = f"arn:aws:iam::{ACCT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_DataEngineer_0a1b2c3d4e5f6071"


def _trace(operator: str, policy: tuple[str, ...], request: tuple[str, ...] | None, **kw: bool) -> ConditionTrace:
    return ConditionTrace(operator, "aws:PrincipalArn", False, policy, request, **kw)


def test_missing_identity_center_path_in_a_pattern_is_corrected_with_the_path() -> None:
    pattern = f"arn:aws:iam::{ACCT}:role/AWSReservedSSO_DataEngineer_*"
    near = near_value(_trace("ArnLike", (pattern,), (SSO_ROLE,)))
    assert near is not None
    assert near.corrected == f"arn:aws:iam::{ACCT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_DataEngineer_*"
    assert "/aws-reserved/sso.amazonaws.com/" in near.detail


def test_transposed_role_name_in_a_list_is_corrected_in_place() -> None:
    values = (f"arn:aws:iam::{ACCT}:role/etl-runner", f"arn:aws:iam::{ACCT}:role/reprot-builder")
    request = f"arn:aws:iam::{ACCT}:role/report-builder"
    near = near_value(_trace("ArnEquals", values, (request,)))
    assert near is not None and near.policy_value == values[1] and near.corrected == request
    statement = {"Effect": "Allow", "Condition": {"ArnEquals": {"aws:PrincipalArn": list(values)}}}
    fixed = corrected_statement(statement, near)
    assert fixed is not None and fixed["Condition"]["ArnEquals"]["aws:PrincipalArn"] == [values[0], request]
    assert statement["Condition"]["ArnEquals"]["aws:PrincipalArn"] == list(values)  # the input is not changed


def test_unrelated_values_absent_keys_and_undetermined_keys_are_not_near_misses() -> None:
    assert near_value(_trace("ArnEquals", (f"arn:aws:iam::{ACCT}:role/payments",), (SSO_ROLE,))) is None
    assert near_value(_trace("ArnEquals", (f"arn:aws:iam::{ACCT}:role/a",), None)) is None
    assert near_value(_trace("StringNotEquals", ("vpce-1a2b3c4d",), ("vpce-1a2b3c4e",))) is None
    assert near_value(_trace("ArnEquals", ("x",), ("y",), undetermined=True)) is None
