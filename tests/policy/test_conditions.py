"""Condition operators: every family, IfExists, set operators on missing/empty/multi-valued keys, variables."""

from __future__ import annotations

import pytest

from diag.policy.conditions import evaluate_condition, is_known_operator, normalize_context
from diag.policy.parse import ConditionSpec, split_operator


def cond(operator: str, key: str, *values: str) -> ConditionSpec:
    set_op, base, if_exists = split_operator(operator)
    return ConditionSpec(operator, base, set_op, if_exists, key, key.lower(), tuple(values))


def check(operator: str, key: str, values: tuple[str, ...] | str, context: dict, effect: str = "Allow") -> bool:
    vals = (values,) if isinstance(values, str) else values
    return evaluate_condition(cond(operator, key, *vals), normalize_context(context), effect).matched


@pytest.mark.parametrize(
    ("operator", "policy", "request_value", "expected"),
    [
        ("StringEquals", "abc", "abc", True),
        ("StringEquals", "abc", "ABC", False),
        ("StringNotEquals", "abc", "abd", True),
        ("StringNotEquals", "abc", "abc", False),
        ("StringEqualsIgnoreCase", "abc", "ABC", True),
        ("StringNotEqualsIgnoreCase", "abc", "ABC", False),
        ("StringLike", "a*c?", "abbbcd", True),
        ("StringLike", "a*c", "abbbcd", False),
        ("StringNotLike", "a*", "bcd", True),
        ("NumericEquals", "10", "10.0", True),
        ("NumericNotEquals", "10", "11", True),
        ("NumericLessThan", "10", "9", True),
        ("NumericLessThanEquals", "10", "10", True),
        ("NumericGreaterThan", "10", "10", False),
        ("NumericGreaterThanEquals", "10", "10", True),
        ("NumericEquals", "10", "ten", False),
        ("DateEquals", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00+00:00", True),
        ("DateNotEquals", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", True),
        ("DateLessThan", "2026-01-01T00:00:00Z", "2025-12-31T23:59:59Z", True),
        ("DateLessThanEquals", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", True),
        ("DateGreaterThan", "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", True),
        ("DateGreaterThanEquals", "1767225600", "2026-01-01T00:00:00Z", True),  # epoch seconds
        ("DateGreaterThan", "2026-01-01", "garbage", False),
        ("Bool", "true", "TRUE", True),
        ("Bool", "true", "false", False),
        ("BinaryEquals", "QmluYXJ5", "QmluYXJ5", True),
        ("BinaryEquals", "QmluYXJ5", "QmluYXJ6", False),
        ("IpAddress", "203.0.113.0/24", "203.0.113.7", True),
        ("IpAddress", "203.0.113.0/24", "198.51.100.1", False),
        ("IpAddress", "2001:db8::/32", "2001:db8::1", True),
        ("IpAddress", "203.0.113.0/24", "2001:db8::1", False),
        ("NotIpAddress", "203.0.113.0/24", "198.51.100.1", True),
        ("ArnEquals", "arn:aws:iam::111111111111:role/R", "arn:aws:iam::111111111111:role/R", True),
        ("ArnLike", "arn:aws:iam::*:role/Data*", "arn:aws:iam::222222222222:role/DataProcessingRole", True),
        ("ArnLike", "arn:aws:iam::*:role/Data*", "arn:aws:iam::222222222222:user/DataProcessingRole", False),
        ("ArnNotLike", "arn:aws:iam::*:role/Data*", "arn:aws:iam::222222222222:user/x", True),
        ("ArnNotEquals", "arn:aws:iam::1:role/R", "arn:aws:iam::1:role/R", False),
    ],
)
def test_operator_families(operator: str, policy: str, request_value: str, expected: bool) -> None:
    assert check(operator, "k", policy, {"k": request_value}) is expected


def test_arn_wildcard_does_not_cross_segments() -> None:
    # '*' in the account segment cannot swallow the region separator
    assert not check("ArnLike", "k", "arn:aws:kms:*:key/abc", {"k": "arn:aws:kms:us-east-1:111111111111:key/abc"})


def test_values_are_or_within_a_key() -> None:
    assert check("StringEquals", "k", ("a", "b"), {"k": "b"})
    assert not check("StringNotEquals", "k", ("a", "b"), {"k": "b"})  # negated: none may match
    assert check("StringNotEquals", "k", ("a", "b"), {"k": "c"})


def test_keys_are_case_insensitive_values_per_operator() -> None:
    assert check(
        "StringEquals", "KMS:ViaService", "s3.us-east-1.amazonaws.com", {"kms:viaservice": "s3.us-east-1.amazonaws.com"}
    )
    assert not check(
        "StringEquals", "kms:ViaService", "S3.us-east-1.amazonaws.com", {"kms:ViaService": "s3.us-east-1.amazonaws.com"}
    )


class TestMissingKeys:
    def test_positive_operator_on_missing_key_is_false(self) -> None:
        assert not check("StringEquals", "k", "a", {})

    def test_negated_operator_on_missing_key_is_true(self) -> None:
        assert check("StringNotEquals", "k", "a", {})
        assert check("ArnNotLike", "k", "arn:*", {})
        assert check("NotIpAddress", "k", "10.0.0.0/8", {})

    def test_if_exists_on_missing_key_is_true(self) -> None:
        assert check("StringEqualsIfExists", "k", "a", {})
        assert check("NumericLessThanIfExists", "k", "5", {})

    def test_if_exists_on_present_key_evaluates(self) -> None:
        assert check("StringEqualsIfExists", "k", "a", {"k": "a"})
        assert not check("StringEqualsIfExists", "k", "a", {"k": "b"})

    def test_empty_list_counts_as_missing(self) -> None:
        assert not check("StringEquals", "k", "a", {"k": []})
        assert check("Null", "k", "true", {"k": []})


class TestNull:
    def test_null_true_means_absent(self) -> None:
        assert check("Null", "k", "true", {})
        assert not check("Null", "k", "true", {"k": "x"})

    def test_null_false_means_present(self) -> None:
        assert check("Null", "k", "false", {"k": "x"})
        assert not check("Null", "k", "false", {})


class TestSetOperators:
    def test_for_all_values_missing_and_empty_are_vacuously_true(self) -> None:
        assert check("ForAllValues:StringEquals", "k", "a", {})
        assert check("ForAllValues:StringEquals", "k", "a", {"k": []})

    def test_for_any_value_missing_and_empty_are_false(self) -> None:
        assert not check("ForAnyValue:StringEquals", "k", "a", {})
        assert not check("ForAnyValue:StringEquals", "k", "a", {"k": []})

    def test_for_any_value_if_exists_missing_is_true(self) -> None:
        assert check("ForAnyValue:StringEqualsIfExists", "k", "a", {})

    def test_for_all_values_multi_valued(self) -> None:
        assert check("ForAllValues:StringEquals", "k", ("a", "b", "c"), {"k": ["a", "b"]})
        assert not check("ForAllValues:StringEquals", "k", ("a", "b"), {"k": ["a", "z"]})

    def test_for_any_value_multi_valued(self) -> None:
        assert check("ForAnyValue:StringEquals", "k", ("a",), {"k": ["z", "a"]})
        assert not check("ForAnyValue:StringEquals", "k", ("a",), {"k": ["z", "y"]})

    def test_negated_set_operators(self) -> None:
        # ForAllValues:StringNotEquals: no request value is in the policy list
        assert check("ForAllValues:StringNotEquals", "k", ("a",), {"k": ["b", "c"]})
        assert not check("ForAllValues:StringNotEquals", "k", ("a",), {"k": ["b", "a"]})
        # ForAnyValue:StringNotEquals: at least one request value is outside the list
        assert check("ForAnyValue:StringNotEquals", "k", ("a",), {"k": ["a", "b"]})
        assert not check("ForAnyValue:StringNotEquals", "k", ("a",), {"k": ["a"]})

    def test_plain_operator_on_multi_valued_key(self) -> None:
        assert check("StringEquals", "k", "a", {"k": ["z", "a"]})
        assert not check("StringNotEquals", "k", "a", {"k": ["z", "a"]})

    def test_single_value_key_with_for_all_values(self) -> None:
        assert check("ForAllValues:StringLike", "k", "o-*", {"k": "o-abc"})
        assert not check("ForAllValues:StringLike", "k", "o-*", {"k": "x-abc"})


class TestVariables:
    def test_username_variable(self) -> None:
        assert check(
            "StringEquals", "s3:prefix", "home/${aws:username}/", {"s3:prefix": "home/alice/", "aws:username": "alice"}
        )
        assert not check(
            "StringEquals", "s3:prefix", "home/${aws:username}/", {"s3:prefix": "home/bob/", "aws:username": "alice"}
        )

    def test_principal_tag_variable(self) -> None:
        ctx = {"aws:PrincipalTag/team": "red", "aws:ResourceTag/team": "red"}
        assert check("StringEquals", "aws:ResourceTag/team", "${aws:PrincipalTag/team}", ctx)

    def test_missing_variable_matches_nothing(self) -> None:
        assert not check("StringLike", "k", "${aws:username}*", {"k": "anything"})
        assert check("StringNotLike", "k", "${aws:username}*", {"k": "anything"})

    def test_default_value(self) -> None:
        assert check("StringEquals", "k", "${aws:username, 'anon'}", {"k": "anon"})

    def test_special_characters_are_literal(self) -> None:
        assert check("StringLike", "k", "a${*}b", {"k": "a*b"})
        assert not check("StringLike", "k", "a${*}b", {"k": "axxb"})
        assert check("StringEquals", "k", "${$}x${?}", {"k": "$x?"})

    def test_substituted_value_is_literal_in_like(self) -> None:
        assert not check("StringLike", "k", "${aws:username}", {"k": "alice", "aws:username": "*"})

    def test_variables_not_substituted_in_numeric(self) -> None:
        assert not check("NumericEquals", "k", "${aws:x}", {"k": "1", "aws:x": "1"})


class TestUnknownOperator:
    def test_fails_closed_for_allow(self) -> None:
        t = evaluate_condition(cond("StringSortOf", "k", "a"), normalize_context({"k": "a"}), "Allow")
        assert t.matched is False and t.unknown_operator

    def test_applies_for_deny(self) -> None:
        t = evaluate_condition(cond("StringSortOf", "k", "a"), normalize_context({}), "Deny")
        assert t.matched is True and t.unknown_operator

    def test_unknown_set_prefix(self) -> None:
        t = evaluate_condition(cond("ForSomeValues:StringEquals", "k", "a"), normalize_context({"k": "a"}))
        assert t.unknown_operator and not t.matched

    def test_is_known_operator(self) -> None:
        assert is_known_operator("ForAllValues:StringLikeIfExists")
        assert is_known_operator("Null")
        assert not is_known_operator("StringSortOf")


def test_trace_records_values() -> None:
    t = evaluate_condition(cond("StringEquals", "kms:ViaService", "s3.us-east-1.amazonaws.com"), normalize_context({}))
    assert t.request_values is None and t.policy_values == ("s3.us-east-1.amazonaws.com",)
    assert "absent" in t.reason


def test_normalize_context_coerces_and_drops() -> None:
    ctx = normalize_context({"A": True, "b": 3, "c": ["x", 1], "d": {"nested": 1}, 5: "x"})  # type: ignore[dict-item]
    assert ctx == {"a": ("true",), "b": ("3",), "c": ("x", "1")}
