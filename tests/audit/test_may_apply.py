"""Which identity statements the matrix keeps in a cell's key: those that can apply to a matrix action on
the key. Leaving out one that could apply would share answers between principals that differ."""

from __future__ import annotations

from typing import Any

import pytest

from diag.audit.access import MATRIX_ACTIONS
from diag.audit.evaluator import may_apply
from diag.policy.parse import parse_policy

KEY = "arn:aws:kms:us-east-1:111111111111:key/aaaaaaaa-1111-2222-3333-444444444444"
OTHER = "arn:aws:kms:us-east-1:111111111111:key/bbbbbbbb-1111-2222-3333-444444444444"


def _st(**fields: Any) -> Any:
    return parse_policy({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **fields}]}).statements[0]


@pytest.mark.parametrize(
    ("fields", "applies"),
    [
        ({"Action": "kms:*", "Resource": "*"}, True),
        ({"Action": "kms:Decrypt", "Resource": KEY}, True),
        ({"Action": "kms:Decrypt", "Resource": OTHER}, False),
        ({"Action": "kms:Decrypt", "Resource": "arn:aws:kms:*:111111111111:key/*"}, True),
        ({"Action": "kms:Decrypt", "Resource": "arn:aws:kms:*:${aws:PrincipalAccount}:key/*"}, True),
        ({"Action": "s3:GetObject", "Resource": "*"}, False),
        ({"Action": "kms:List*", "Resource": "*"}, False),
        ({"Action": "kms:Re*", "Resource": "*"}, True),
        ({"NotAction": "kms:*", "Resource": "*"}, False),
        ({"NotAction": "kms:Decrypt", "Resource": "*"}, True),
        ({"NotAction": "s3:*", "Resource": KEY}, True),
        ({"Action": "kms:*", "NotResource": KEY}, False),
        ({"Action": "kms:*", "NotResource": OTHER}, True),
        ({"Action": "kms:*", "NotResource": "arn:aws:kms:*:${aws:PrincipalAccount}:key/*"}, True),
        ({"Action": "kms:*"}, True),
    ],
)
def test_may_apply(fields: dict[str, Any], applies: bool) -> None:
    assert may_apply(_st(**fields), KEY, MATRIX_ACTIONS) is applies
