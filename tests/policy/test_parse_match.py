"""Parsing (normalization, errors, cache) and matching (actions, resources, principals, near misses)."""

from __future__ import annotations

import pytest

from diag.policy.match import (
    PrincipalMatch,
    action_matches,
    parse_caller,
    principal_match,
    resource_matches,
)
from diag.policy.near import edit_distance, resource_near_misses
from diag.policy.parse import PolicyError, parse_policy


def test_statement_object_and_single_values_normalize() -> None:
    p = parse_policy(
        {
            "Statement": {
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Principal": {"AWS": "123456789012"},
            }
        }
    )
    (s,) = p.statements
    assert s.actions == ("kms:Decrypt",) and s.resources == ("*",)
    assert s.principal is not None and s.principal.values == (("AWS", "123456789012"),) and not s.principal.wildcard


def test_principal_forms() -> None:
    p = parse_policy(
        {
            "Statement": [
                {"Effect": "Allow", "Action": "*", "Principal": "*"},
                {
                    "Effect": "Allow",
                    "Action": "*",
                    "Principal": {"AWS": ["*", "AROAEXAMPLEID12345678"], "Service": "s3.amazonaws.com"},
                },
                {"Effect": "Deny", "Action": "*", "NotPrincipal": {"Federated": "cognito-identity.amazonaws.com"}},
            ]
        }
    )
    assert p.statements[0].principal is not None and p.statements[0].principal.wildcard
    assert p.statements[1].principal is not None and p.statements[1].principal.wildcard
    assert ("Service", "s3.amazonaws.com") in p.statements[1].principal.values
    assert p.statements[2].not_principal is not None and p.statements[2].not_principal.values == (
        ("Federated", "cognito-identity.amazonaws.com"),
    )


def test_text_and_dict_parse_the_same_and_are_cached() -> None:
    text = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}'
    assert parse_policy(text) is parse_policy(text)
    assert (
        parse_policy(text).statements[0].actions
        == parse_policy(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        )
        .statements[0]
        .actions
    )


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("{", "not valid JSON"),
        ([], "JSON object"),
        ({}, "no Statement"),
        ({"Statement": "x"}, "Statement must be"),
        ({"Statement": [{"Effect": "allow", "Action": "*"}]}, "Effect"),
        ({"Statement": [{"Effect": "Allow"}]}, "Action or NotAction"),
        ({"Statement": [{"Effect": "Allow", "Action": "*", "NotAction": "*"}]}, "cannot both"),
        ({"Statement": [{"Effect": "Allow", "Action": "*", "Resources": "*"}]}, "unknown element"),
        ({"Statement": [{"Effect": "Allow", "Action": [], "Resource": "*"}]}, "empty list"),
        ({"Statement": [{"Effect": "Allow", "Action": {"a": 1}}]}, "expected a string"),
        ({"Statement": [{"Effect": "Allow", "Action": "*", "Principal": {"Group": "x"}}]}, "principal type"),
        ({"Statement": [{"Effect": "Allow", "Action": "*", "Condition": {"StringEquals": "x"}}]}, "condition keys"),
    ],
)
def test_invalid_documents(doc: object, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(doc)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("kms:Decrypt", "KMS:decrypt", True),
        ("kms:*", "kms:Decrypt", True),
        ("kms:Generate*", "kms:GenerateDataKeyWithoutPlaintext", True),
        ("kms:Re?ncrypt*", "kms:ReEncryptFrom", True),
        ("kms:Re?ncrypt*", "kms:ReencryptFrom", True),
        ("s3:*", "kms:Decrypt", False),
        ("*", "anything:At", True),
    ],
)
def test_actions(pattern: str, action: str, expected: bool) -> None:
    assert action_matches(pattern, action) is expected


@pytest.mark.parametrize(
    ("pattern", "resource", "expected"),
    [
        ("*", "arn:aws:kms:us-east-1:111111111111:key/k", True),
        ("arn:aws:kms:*:111111111111:key/*", "arn:aws:kms:us-east-1:111111111111:key/k", True),
        ("arn:aws:kms:us-west-2:111111111111:key/*", "arn:aws:kms:us-east-1:111111111111:key/k", False),
        ("arn:aws:kms:*:*:key/k", "arn:aws:kms:us-east-1:111111111111:key/k", True),
        ("arn:aws:kms:*1:*:key/k", "arn:aws:kms:us-east-1:111111111111:key/k", True),
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b/c", True),
        ("arn:aws:s3:::bucket*", "arn:aws:s3:::bucket/a", True),
        ("arn:aws:kms:us-east-1:111111111111:key/K", "arn:aws:kms:us-east-1:111111111111:key/k", False),
        ("arn:aws:kms:*", "arn:aws:kms:us-east-1:111111111111:key/k", True),
        ("arn:aws:s3:::home/${aws:username}/*", "arn:aws:s3:::home/alice/x", True),
    ],
)
def test_resources(pattern: str, resource: str, expected: bool) -> None:
    assert resource_matches(pattern, resource, {"aws:username": ("alice",)}) is expected


def test_wildcards_and_segment_boundaries() -> None:
    # a '*' inside a segment stops at ':'; one that ends its segment may cross colons (IAM User Guide)
    assert not resource_matches("arn:aws:kms:us-*-1x:111111111111:key/k", "arn:aws:kms:us-east:1x:111111111111:key/k")
    assert not resource_matches("arn:aws:kms:u*t-1:111111111111:key/k", "arn:aws:kms:us:east-1:111111111111:key/k")
    assert resource_matches("arn:aws:kms:us-east-1*:key/k", "arn:aws:kms:us-east-1:111111111111:key/k")
    assert not resource_matches("arn:aws:kms:us-?ast-1:111111111111:key/k", "arn:aws:kms:us-:ast-1:111111111111:key/k")


def test_unresolved_variable_matches_nothing() -> None:
    assert not resource_matches("arn:aws:s3:::home/${aws:username}/*", "arn:aws:s3:::home//x", {})


def test_parse_caller() -> None:
    c = parse_caller("arn:aws:sts::222222222222:assumed-role/DataProcessingRole/etl")
    assert (c.kind, c.account, c.name, c.session) == ("assumed-role", "222222222222", "DataProcessingRole", "etl")
    assert c.role_arn == "arn:aws:iam::222222222222:role/DataProcessingRole"
    assert parse_caller("s3.amazonaws.com").is_service
    assert parse_caller("arn:aws:iam::1:user/path/to/bob").name == "bob"


@pytest.mark.parametrize(
    ("value", "caller", "expected"),
    [
        ("arn:aws:iam::222222222222:role/R", "arn:aws:sts::222222222222:assumed-role/R/s", PrincipalMatch.ROLE),
        ("arn:aws:iam::222222222222:role/R", "arn:aws:iam::222222222222:role/R", PrincipalMatch.ROLE),
        (
            "arn:aws:sts::222222222222:assumed-role/R/s",
            "arn:aws:sts::222222222222:assumed-role/R/s",
            PrincipalMatch.EXACT,
        ),
        (
            "arn:aws:sts::222222222222:assumed-role/R/s",
            "arn:aws:sts::222222222222:assumed-role/R/t",
            PrincipalMatch.NONE,
        ),
        ("222222222222", "arn:aws:iam::222222222222:user/u", PrincipalMatch.ACCOUNT),
        ("arn:aws:iam::222222222222:root", "arn:aws:sts::222222222222:assumed-role/R/s", PrincipalMatch.ACCOUNT),
        ("arn:aws:iam::333333333333:root", "arn:aws:iam::222222222222:user/u", PrincipalMatch.NONE),
        ("arn:aws:iam::222222222222:user/u", "arn:aws:iam::222222222222:user/u", PrincipalMatch.EXACT),
        ("arn:aws:iam::222222222222:user/U", "arn:aws:iam::222222222222:user/u", PrincipalMatch.NONE),
        ("arn:aws:iam::222222222222:role/R", "arn:aws:sts::222222222222:assumed-role/R2/s", PrincipalMatch.NONE),
    ],
)
def test_principal_values(value: str, caller: str, expected: PrincipalMatch) -> None:
    assert principal_match((("AWS", value),), False, parse_caller(caller))[0] == expected


def test_edit_distance_is_bounded() -> None:
    assert edit_distance("DataProcessingRole", "DataProcesingRole") == 1
    assert edit_distance("abc", "abc") == 0
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("short", "a much longer string") is None


def test_resource_near_misses() -> None:
    key = "arn:aws:kms:us-east-1:111111111111:key/abcd"
    kinds = {nm.kind for nm in resource_near_misses(["arn:aws:kms:us-east-1:111111111112:key/abcd"], key)}
    assert kinds == {"account"}
    assert resource_near_misses(["alias/data"], key)[0].detail.startswith("alias")
    assert resource_near_misses(["abcd"], key)[0].detail.startswith("key ID")
    assert resource_near_misses(["arn:aws:kms:us-east-1:111111111111:key/abce"], key)[0].distance == 1


def test_principal_index_answers_like_principal_match() -> None:
    """The engine's indexed Principal lookup equals ``principal_match`` (a scan of the values in order)."""
    import random

    from diag.policy.match import PrincipalIndex

    rng = random.Random(7)
    accounts = ["111111111111", "222222222222", ""]

    def value() -> str:
        a, n = rng.choice(accounts), rng.choice(["App", "Admin"])
        return rng.choice(
            [
                f"arn:aws:iam::{a}:role/{n}",
                f"arn:aws:iam::{a}:role/path/{n}",
                f"arn:aws:iam::{a}:user/{n}",
                f"arn:aws:iam::{a}:root",
                f"arn:aws:sts::{a}:assumed-role/{n}/s1",
                "AROAABCDEFGHIJKLMNOP",
                a or "111111111111",
                "*",
                "s3.amazonaws.com",
                "S3.amazonaws.com",
            ]
        )

    for _ in range(3000):
        values = tuple((rng.choice(["AWS", "AWS", "Service", "Federated"]), value()) for _ in range(rng.randrange(6)))
        wildcard = rng.random() < 0.2
        caller = parse_caller(value())
        userid = rng.choice([None, "AROAABCDEFGHIJKLMNOP:s1", "AROAABCDEFGHIJKLMNOPQ:x"])
        assert PrincipalIndex(values, wildcard).match(caller, userid) == principal_match(
            values, wildcard, caller, userid
        ), (values, wildcard, caller, userid)
